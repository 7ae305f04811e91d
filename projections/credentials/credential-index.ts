// CredentialIndex: what authentication needs, in memory, by secret digest. Loaded from the read
// store at start and kept live from the event store, so authenticating a request does no I/O,
// and a revocation this instance made is refused from the moment its mutation answers.

import type { Kysely } from 'kysely';
import { credentialChange, principalChange, type NewCredential } from '../../src/domain/credential.js';
import {
  CREDENTIAL_KINDS,
  isCredentialEvent,
  isPrincipalLifecycleEvent,
  type CredentialEvent,
  type CredentialKind,
  type PrincipalLifecycleEvent,
} from '../../src/domain/events.js';
import { isPermission, isRole, type Permission } from '../../src/domain/permissions.js';
import type { CredentialLookup, VerifiableCredential, VerifiablePrincipal } from '../../src/domain/verification.js';
import type { EventStore, Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';
import { decodeEvent } from '../../src/eventstore/recorded.js';
import { parseList } from '../core/lists.js';
import type { Logger } from '../../src/platform/logger.js';
import type { CheckpointTables } from '../core/projection.js';
import type { PrincipalsTables } from '../principals/tables.js';
import type { CredentialsTables } from './tables.js';

interface Waiter {
  readonly position: Position;
  readonly resolve: () => void;
}

const NONE = -1;
/** Words (32 bits) of a digest (SHA-256) and of an id (a UUID). */
const DIGEST_WORDS = 8;
const ID_WORDS = 4;
/** Flags of a record: its kind's index in CREDENTIAL_KINDS (2 bits), then whether it is active. */
const KIND_MASK = 0b011;
const ACTIVE = 0b100;
/** The numbers of a record, one column each: its org's id, its owner's, its scopes, its origins, its expiry, its revocation (NONE: null). */
const ORG = 0;
const OWNER = 1;
const SCOPES = 2;
const ORIGINS = 3;
const EXPIRES = 4;
const REVOKES = 5;
const FIELDS = 6;
/** A hash table grows past this load. */
const MAX_LOAD = 0.7;

/** Values of lower-case hex digits by character code; -1 for any other (an upper-case digit too: such a string is kept as it is). */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 16; c++) HEX[c.toString(16).charCodeAt(0)] = c;

/** The 64 lower-case hex digits of a digest as 8 words; false (words unspecified) for any other string. */
function parseDigest(text: string, words: Int32Array): boolean {
  if (text.length !== DIGEST_WORDS * 8) return false;
  for (let w = 0, at = 0; w < DIGEST_WORDS; w++) {
    let word = 0;
    for (let k = 0; k < 8; k++, at++) {
      const code = text.charCodeAt(at);
      const digit = code < 128 ? HEX[code]! : -1;
      if (digit < 0) return false;
      word = (word << 4) | digit;
    }
    words[w] = word;
  }
  return true;
}

/** A lower-case UUID (8-4-4-4-12 hex digits) as 4 words; false (words unspecified) for any other string. */
function parseUuid(text: string, words: Int32Array): boolean {
  if (text.length !== 36) return false;
  let word = 0;
  let digits = 0;
  for (let at = 0; at < 36; at++) {
    const code = text.charCodeAt(at);
    if (at === 8 || at === 13 || at === 18 || at === 23) {
      if (code !== 45) return false;
      continue;
    }
    const digit = code < 128 ? HEX[code]! : -1;
    if (digit < 0) return false;
    word = (word << 4) | digit;
    if (++digits % 8 === 0) {
      words[digits / 8 - 1] = word;
      word = 0;
    }
  }
  return true;
}

/** Two hex digits by byte. */
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** Four hex digits of the upper (`shift` 16) or lower (0) half of a word. */
function half(word: number, shift: number): string {
  return BYTE_HEX[(word >>> (shift + 8)) & 0xff]! + BYTE_HEX[(word >>> shift) & 0xff]!;
}

function formatUuid(words: Int32Array, at: number): string {
  const a = words[at]!;
  const b = words[at + 1]!;
  const c = words[at + 2]!;
  const d = words[at + 3]!;
  return `${half(a, 16)}${half(a, 0)}-${half(b, 16)}-${half(b, 0)}-${half(c, 16)}-${half(c, 0)}${half(d, 16)}${half(d, 0)}`;
}

/** A 32-bit hash of four words (murmur3's finaliser): digests and UUIDs are random, but tests' ids need not be. */
function mix(a: number, b: number, c: number, d: number): number {
  let h = a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca77) ^ Math.imul(d, 0xc2b2ae3d);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Values many credentials share (an org's id, an owner's, a scope list), each held once and named by its number. */
class Interned<T> {
  readonly #values: T[] = [];
  readonly #numbers = new Map<string, number>();

  number(key: string, value: T): number {
    let n = this.#numbers.get(key);
    if (n === undefined) {
      n = this.#values.length;
      this.#values.push(value);
      this.#numbers.set(key, n);
    }
    return n;
  }

  value(n: number): T {
    return this.#values[n]!;
  }
}

/**
 * Each record's key of `width` words, and an open-addressing hash table (linear probing) from a
 * key to its record: 4 bytes a slot, where a Map entry and its key string would cost a hundred.
 * A slot names a record; it matches the key the record holds now.
 */
class KeyTable {
  readonly #width: number;
  #keys = new Int32Array(0);
  #slots = new Int32Array(1024);
  #used = 0;

  constructor(width: number) {
    this.#width = width;
  }

  /** Room for the keys of `records` records. */
  resize(records: number): void {
    const keys = new Int32Array(records * this.#width);
    keys.set(this.#keys);
    this.#keys = keys;
  }

  /** Room for `count` slots without growing. */
  reserve(count: number): void {
    if (count / this.#slots.length > MAX_LOAD) this.#rehash(count);
  }

  /** The record holding `key` (its first `width` words), or NONE. */
  find(key: Int32Array): number {
    const width = this.#width;
    const keys = this.#keys;
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let i = mix(key[0]!, key[1]!, key[2]!, key[3]!) & mask; ; i = (i + 1) & mask) {
      const slot = slots[i]!;
      if (slot === 0) return NONE;
      const at = (slot - 1) * width;
      let w = 0;
      while (w < width && keys[at + w] === key[w]) w++;
      if (w === width) return slot - 1;
    }
  }

  /** Gives `record` the key `key` (no slot: see `insert`). */
  write(record: number, key: Int32Array): void {
    this.#keys.set(key.subarray(0, this.#width), record * this.#width);
  }

  /** Adds a slot for `record`'s key. */
  insert(record: number): void {
    if ((this.#used + 1) / this.#slots.length > MAX_LOAD) this.#rehash(this.#used + 1);
    this.#place(this.#slots, record);
    this.#used++;
  }

  words(): Int32Array {
    return this.#keys;
  }

  #place(slots: Int32Array, record: number): void {
    const keys = this.#keys;
    const at = record * this.#width;
    const mask = slots.length - 1;
    let i = mix(keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!) & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = record + 1;
  }

  #rehash(count: number): void {
    let size = this.#slots.length;
    while (count / size > MAX_LOAD) size *= 2;
    const slots = new Int32Array(size);
    for (const slot of this.#slots) if (slot !== 0) this.#place(slots, slot - 1);
    this.#slots = slots;
  }
}

/** What a record holds besides its keys, as a credential is created or loaded. */
interface Fields {
  readonly kind: CredentialKind;
  readonly orgId: string;
  readonly ownerId: string | null;
  readonly scopes: readonly Permission[] | null;
  readonly allowedOrigins: readonly string[];
  readonly expiresAt: string | null;
  readonly revokesAt: string | null;
  readonly active: boolean;
}

/**
 * The credentials, compact: one record per digest, in typed arrays: digests (SHA-256) and ids
 * (UUIDs) as words, found through two hash tables of 4-byte slots; a byte of flags; the numbers
 * of the strings and lists many credentials share (an org's id, an owner's, a scope list), each
 * held once. Digests and ids of another shape (tests') are kept as strings beside, so that any
 * string works as it did when the index was two Maps.
 */
class CompactCredentials {
  #capacity = 0;
  #count = 0;
  readonly #digests = new KeyTable(DIGEST_WORDS);
  readonly #ids = new KeyTable(ID_WORDS);
  #flags = new Uint8Array(0);
  #fields = new Int32Array(0);
  readonly #strings = new Interned<string>();
  readonly #lists = new Interned<readonly string[]>();
  /** An interned list's number by the list itself: a list handed out (or loaded) again is found without serialising it. */
  readonly #listNumbers = new Map<readonly string[], number>();
  /** Digests that are not 64 lower-case hex digits: their records (which no slot names). */
  readonly #otherDigests = new Map<string, number>();
  /** Records whose id is not a lower-case UUID: their id (their id words are unused). */
  readonly #otherIdOf = new Map<number, string>();
  /**
   * Ids looked up here before the slots: ids that are not lower-case UUIDs, and ids that name
   * another record than the one holding their words (a digest created again under another id, an
   * id created again with another digest). Empty in practice.
   */
  readonly #idOverrides = new Map<string, number>();
  readonly #digest = new Int32Array(DIGEST_WORDS);
  readonly #id = new Int32Array(ID_WORDS);

  get size(): number {
    return this.#count;
  }

  /** Room for `count` more records without growing. */
  reserve(count: number): void {
    this.#ensure(this.#count + count, true);
    this.#digests.reserve(this.#count + count);
    this.#ids.reserve(this.#count + count);
  }

  #ensure(needed: number, exact: boolean): void {
    if (needed <= this.#capacity) return;
    const capacity = exact ? needed : Math.max(1024, Math.ceil(this.#capacity * 1.5), needed);
    this.#digests.resize(capacity);
    this.#ids.resize(capacity);
    const flags = new Uint8Array(capacity);
    flags.set(this.#flags);
    this.#flags = flags;
    const fields = new Int32Array(capacity * FIELDS);
    fields.set(this.#fields);
    this.#fields = fields;
    this.#capacity = capacity;
  }

  /** The number of a list, interned. */
  list(value: readonly string[]): number {
    let n = this.#listNumbers.get(value);
    if (n === undefined) {
      n = this.#lists.number(JSON.stringify(value), value);
      // Only the interned list itself is remembered (not every array a caller passes in).
      this.#listNumbers.set(this.#lists.value(n), n);
    }
    return n;
  }

  /** The interned list equal to `value`: loading the same list twice shares it. */
  interned<T extends string>(value: readonly T[]): readonly T[] {
    return this.#lists.value(this.list(value)) as readonly T[];
  }

  #string(value: string | null): number {
    return value === null ? NONE : this.#strings.number(value, value);
  }

  /** The record of a digest, or NONE. */
  #findDigest(digest: string): number {
    return parseDigest(digest, this.#digest) ? this.#digests.find(this.#digest) : (this.#otherDigests.get(digest) ?? NONE);
  }

  /** The record of a credential id, or NONE. */
  #findId(id: string): number {
    const override = this.#idOverrides.get(id);
    if (override !== undefined) return override;
    if (!parseUuid(id, this.#id)) return NONE;
    const record = this.#ids.find(this.#id);
    return record === NONE || this.#otherIdOf.has(record) ? NONE : record;
  }

  #idOf(record: number): string {
    return this.#otherIdOf.get(record) ?? formatUuid(this.#ids.words(), record * ID_WORDS);
  }

  /** Gives `record` the id `id`, and points `id` at it (an id names the record it was last created with). */
  #setId(record: number, id: string, existed: boolean): void {
    if (existed) {
      // The id this digest's credential had keeps naming it, as it did when the index was two Maps.
      const current = this.#idOf(record);
      if (current !== id && this.#findId(current) === record) this.#idOverrides.set(current, record);
    }
    const found = this.#findId(id);
    if (!parseUuid(id, this.#id)) {
      this.#otherIdOf.set(record, id);
      this.#idOverrides.set(id, record);
      return;
    }
    this.#otherIdOf.delete(record);
    this.#ids.write(record, this.#id);
    if (found === NONE) this.#ids.insert(record);
    else if (found !== record) this.#idOverrides.set(id, record);
  }

  /** Puts a credential under its digest (in place of what that digest held), and points its id at it. */
  put(id: string, digest: string, fields: Fields): void {
    let record = this.#findDigest(digest);
    const existed = record !== NONE;
    if (!existed) {
      this.#ensure(this.#count + 1, false);
      record = this.#count++;
      if (parseDigest(digest, this.#digest)) {
        this.#digests.write(record, this.#digest);
        this.#digests.insert(record);
      } else {
        this.#otherDigests.set(digest, record);
      }
    }
    this.#write(record, fields);
    this.#setId(record, id, existed);
  }

  #write(record: number, fields: Fields): void {
    this.#flags[record] = CREDENTIAL_KINDS.indexOf(fields.kind) | (fields.active ? ACTIVE : 0);
    const at = record * FIELDS;
    const numbers = this.#fields;
    numbers[at + ORG] = this.#strings.number(fields.orgId, fields.orgId);
    numbers[at + OWNER] = this.#string(fields.ownerId);
    numbers[at + SCOPES] = fields.scopes === null ? NONE : this.list(fields.scopes);
    numbers[at + ORIGINS] = this.list(fields.allowedOrigins);
    numbers[at + EXPIRES] = this.#string(fields.expiresAt);
    numbers[at + REVOKES] = this.#string(fields.revokesAt);
  }

  #stringAt(at: number): string | null {
    const n = this.#fields[at]!;
    return n === NONE ? null : this.#strings.value(n);
  }

  #credential(record: number): VerifiableCredential {
    const flags = this.#flags[record]!;
    const at = record * FIELDS;
    const numbers = this.#fields;
    const scopes = numbers[at + SCOPES]!;
    return {
      id: this.#idOf(record),
      kind: CREDENTIAL_KINDS[flags & KIND_MASK]!,
      orgId: this.#strings.value(numbers[at + ORG]!),
      ownerId: this.#stringAt(at + OWNER),
      scopes: scopes === NONE ? null : (this.#lists.value(scopes) as readonly Permission[]),
      allowedOrigins: this.#lists.value(numbers[at + ORIGINS]!),
      expiresAt: this.#stringAt(at + EXPIRES),
      revokesAt: this.#stringAt(at + REVOKES),
      active: (flags & ACTIVE) !== 0,
    };
  }

  byDigest(digest: string): VerifiableCredential | undefined {
    const record = this.#findDigest(digest);
    return record === NONE ? undefined : this.#credential(record);
  }

  /** Changes the record of a credential id, if any. */
  change(id: string, change: (credential: VerifiableCredential) => VerifiableCredential): void {
    const record = this.#findId(id);
    if (record !== NONE) this.#write(record, change(this.#credential(record)));
  }
}

export class CredentialIndex implements CredentialLookup {
  /** By digest, and by id to apply changes that name the credential by id. */
  readonly #credentials = new CompactCredentials();
  readonly #principals = new Map<string, VerifiablePrincipal>();
  /** The read models were loaded up to these positions; later events are applied from the store. */
  #credentialsFrom: Position = START;
  #principalsFrom: Position = START;
  #position: Position = START;
  #subscription: Subscription | undefined;
  #loop: Promise<void> | undefined;
  #waiters: Waiter[] = [];
  #stopping = false;
  #failing = false;

  get position(): Position {
    return this.#position;
  }

  /** Credentials held (every kind and status), for /metrics. */
  get size(): number {
    return this.#credentials.size;
  }

  credential(digest: string): VerifiableCredential | undefined {
    return this.#credentials.byDigest(digest);
  }

  principal(id: string): VerifiablePrincipal | undefined {
    return this.#principals.get(id);
  }

  /** Loads the read models as of their checkpoints (one read transaction). */
  async load(db: Kysely<CheckpointTables & CredentialsTables & PrincipalsTables>): Promise<void> {
    await db.transaction().execute(async (tx) => {
      const checkpoints = await tx.selectFrom('projection_checkpoints').select(['name', 'position']).where('name', 'in', ['credentials', 'principals']).execute();
      const at = (name: string) => (checkpoints.find((c) => c.name === name)?.position ?? START) as Position;
      this.#credentialsFrom = at('credentials');
      this.#principalsFrom = at('principals');
      const rows = await tx
        .selectFrom('credentials')
        .select(['id', 'kind', 'org_id', 'digest', 'owner_id', 'scopes', 'status', 'expires_at', 'revokes_at', 'allowed_origins'])
        .execute();
      this.#credentials.reserve(rows.length);
      // Lists as stored, parsed once each: most credentials share a few.
      const scopes = new Map<string, readonly Permission[]>();
      const origins = new Map<string, readonly string[]>();
      const parsed = <T extends string>(cache: Map<string, readonly T[]>, raw: string, parse: (raw: string) => T[]): readonly T[] => {
        let list = cache.get(raw);
        if (list === undefined) {
          list = this.#credentials.interned(parse(raw));
          cache.set(raw, list);
        }
        return list;
      };
      for (const row of rows) {
        this.#credentials.put(row.id, row.digest, {
          kind: row.kind,
          orgId: row.org_id,
          ownerId: row.owner_id,
          scopes: row.scopes === null ? null : parsed(scopes, row.scopes, (raw) => parseList(raw).filter(isPermission)),
          active: row.status === 'ACTIVE',
          expiresAt: row.expires_at,
          revokesAt: row.revokes_at,
          allowedOrigins: row.allowed_origins === null ? [] : parsed(origins, row.allowed_origins, parseList),
        });
      }
      for (const row of await tx.selectFrom('principals').select(['id', 'org_id', 'kind', 'role', 'status']).execute()) {
        if (isRole(row.role)) this.#principals.set(row.id, { id: row.id, orgId: row.org_id, kind: row.kind, role: row.role, active: row.status === 'ACTIVE' });
      }
    });
    this.#position = this.#credentialsFrom < this.#principalsFrom ? this.#credentialsFrom : this.#principalsFrom;
  }

  /**
   * Follows the event store from where the loaded read models stopped. A failure (the store
   * unreachable) is retried from the last applied position: a stale index would honour revoked keys.
   */
  start(store: EventStore, logger: Logger, retryDelayMs = 500): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#loop = (async () => {
      while (!this.#stopping) {
        const subscription = store.subscribe({ after: this.#position });
        this.#subscription = subscription;
        try {
          for await (const batch of subscription) {
            for (const event of batch) this.apply(event);
            this.#position = batch[batch.length - 1]!.position;
            this.#failing = false;
            this.#notify();
          }
        } catch (error) {
          if (this.#stopping) break;
          this.#failing = true;
          logger.error({ err: error }, 'credential index lost the event store; following it again');
          await subscription.close().catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
        }
      }
    })();
  }

  /** False while the index cannot follow the store (readiness reports it). */
  get following(): boolean {
    return this.#loop !== undefined && !this.#failing;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#subscription?.close();
    await this.#loop?.catch(() => undefined);
    this.#loop = undefined;
  }

  /** Resolves once the index includes every event up to `position`. */
  waitFor(position: Position, timeoutMs = 10_000): Promise<void> {
    if (this.#position >= position) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`credential index did not reach ${position} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        position,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Applies one event (public for tests). Events the loaded read models already hold are skipped. */
  apply(recorded: RecordedEvent): void {
    const event = decodeEvent(recorded);
    if (event === null) return;
    if (isCredentialEvent(event)) {
      if (event.position > this.#credentialsFrom) this.#applyCredential(event);
    } else if (isPrincipalLifecycleEvent(event)) {
      if (event.position > this.#principalsFrom) this.#applyPrincipal(event);
    }
  }

  #change(id: string, change: (credential: VerifiableCredential) => VerifiableCredential): void {
    this.#credentials.change(id, change);
  }

  #add(credential: NewCredential): void {
    const { id, kind, orgId, ownerId, scopes, allowedOrigins, expiresAt, digest } = credential;
    this.#credentials.put(id, digest, { kind, orgId, ownerId, scopes, allowedOrigins, expiresAt, revokesAt: null, active: true });
  }

  #applyCredential(event: CredentialEvent): void {
    const change = credentialChange(event);
    switch (change.change) {
      case 'created':
        this.#add(change.credential);
        return;
      case 'rotated':
        // R18: both authenticate until the predecessor's grace ends (the status rule reads revokesAt).
        this.#add(change.successor);
        this.#change(change.id, (c) => ({ ...c, revokesAt: change.revokeAt }));
        return;
      case 'expired':
        // R19: a key stops authenticating at its expiresAt, recorded or not.
        return;
      case 'scoped':
        this.#change(change.id, (c) => ({ ...c, scopes: change.scopes }));
        return;
      case 'revoked':
        this.#change(change.id, (c) => ({ ...c, active: false }));
        return;
      case 'renamed':
        return;
      default: {
        const unhandled: never = change;
        throw new Error(`unknown credential change ${JSON.stringify(unhandled)}`);
      }
    }
  }

  #applyPrincipal(event: PrincipalLifecycleEvent): void {
    const change = principalChange(event);
    switch (change.change) {
      case 'created': {
        const { id, orgId, kind, role } = change.principal;
        this.#principals.set(id, { id, orgId, kind, role, active: true });
        return;
      }
      case 'roleChanged': {
        const p = this.#principals.get(change.id);
        if (p) this.#principals.set(p.id, { ...p, role: change.role });
        return;
      }
      case 'disabled': {
        const p = this.#principals.get(change.id);
        if (p) this.#principals.set(p.id, { ...p, active: false });
        return;
      }
      default: {
        const unhandled: never = change;
        throw new Error(`unknown principal change ${JSON.stringify(unhandled)}`);
      }
    }
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    const pending: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (this.#position >= waiter.position) waiter.resolve();
      else pending.push(waiter);
    }
    this.#waiters = pending;
  }
}
