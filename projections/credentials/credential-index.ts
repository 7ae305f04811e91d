// CredentialIndex: what authentication needs, in memory, by secret digest. Loaded from the read
// store at start and kept live from the event store, so authenticating a request does no I/O,
// and a revocation this instance made is refused from the moment its mutation answers.

import { sql, type Kysely } from 'kysely';
import { credentialChange, principalChange, type NewCredential } from '../../src/domain/credential.js';
import {
  CREDENTIAL_KINDS,
  isCredentialEvent,
  isPrincipalLifecycleEvent,
  type CredentialEvent,
  type CredentialKind,
  type PrincipalKind,
  type PrincipalLifecycleEvent,
} from '../../src/domain/events.js';
import { isPermission, isRole, type Permission } from '../../src/domain/permissions.js';
import type { CredentialLookup, VerifiableCredential, VerifiablePrincipal } from '../../src/domain/verification.js';
import type { EventStore, Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';
import { decodeEvent } from '../../src/eventstore/recorded.js';
import { parseList } from '../core/lists.js';
import { readStoreDialect } from '../core/read-store.js';
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
/** A hash table adds deferred slots by groups of its slots, 2^this many groups: each group's slots fit in a few pages. */
const FLUSH_BUCKET_BITS = 11;

/** Values of lower-case hex digits by character code; -1 for any other (an upper-case digit too: such a string is kept as it is). */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 16; c++) HEX[c.toString(16).charCodeAt(0)] = c;

/** The 64 lower-case hex digits of a digest (`text` from `start` to `end`) as 8 words; false (words unspecified) for any other string. */
function parseDigest(text: string, words: Int32Array, start = 0, end = text.length): boolean {
  if (end - start !== DIGEST_WORDS * 8) return false;
  for (let w = 0, at = start; w < DIGEST_WORDS; w++) {
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

/** A lower-case UUID (8-4-4-4-12 hex digits; `text` from `start` to `end`) as 4 words; false (words unspecified) for any other string. */
function parseUuid(text: string, words: Int32Array, start = 0, end = text.length): boolean {
  if (end - start !== 36) return false;
  let word = 0;
  let digits = 0;
  for (let at = 0; at < 36; at++) {
    const code = text.charCodeAt(start + at);
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

  /** The number of `key`, if interned. */
  find(key: string): number | undefined {
    return this.#numbers.get(key);
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
  /** Records given a key whose slot `flush` adds. */
  #deferred = new Int32Array(0);
  #deferredCount = 0;

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
    // Word by word: a subarray would be an object made per call.
    const keys = this.#keys;
    for (let w = 0, at = record * this.#width; w < this.#width; w++, at++) keys[at] = key[w]!;
  }

  /** Adds a slot for `record`'s key. */
  insert(record: number): void {
    if ((this.#used + 1) / this.#slots.length > MAX_LOAD) this.#rehash(this.#used + 1);
    this.#place(this.#slots, record);
    this.#used++;
  }

  /** Adds a slot for `record`'s key at `flush`, with others: `find` does not see it until then. */
  defer(record: number): void {
    if (this.#deferredCount === this.#deferred.length) {
      const deferred = new Int32Array(Math.max(1024, this.#deferred.length * 2));
      deferred.set(this.#deferred);
      this.#deferred = deferred;
    }
    this.#deferred[this.#deferredCount++] = record;
  }

  /**
   * Adds the deferred slots in the order of the slots (a counting sort on their upper bits): a
   * sweep through the table, where adding them one by one would miss the cache almost every time.
   */
  flush(): void {
    const count = this.#deferredCount;
    const records = this.#deferred;
    this.reserve(this.#used + count);
    const keys = this.#keys;
    const width = this.#width;
    const slots = this.#slots;
    const mask = slots.length - 1;
    const shift = Math.max(0, Math.log2(slots.length) - FLUSH_BUCKET_BITS);
    const starts = new Int32Array((mask >>> shift) + 2);
    const homes = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const at = records[i]! * width;
      const home = mix(keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!) & mask;
      homes[i] = home;
      starts[(home >>> shift) + 1]!++;
    }
    for (let b = 1; b < starts.length; b++) starts[b]! += starts[b - 1]!;
    const order = new Int32Array(count);
    for (let i = 0; i < count; i++) order[starts[homes[i]! >>> shift]!++] = i;
    for (let j = 0; j < count; j++) {
      const i = order[j]!;
      let slot = homes[i]!;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = records[i]! + 1;
    }
    this.#used += count;
    this.#deferred = new Int32Array(0);
    this.#deferredCount = 0;
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

/** Rows read by one statement of `load` (tests read fewer). */
const LOAD_CHUNK = 32_768;
/**
 * What joins the values of a row, and the rows, of a chunk read by `load`: control characters,
 * which no id, digest, date or JSON list holds (a chunk where a value held one is read again, row
 * by row).
 */
const UNIT = '\x1f';
const RECORD = '\x1e';

/** A copy of a string that keeps nothing else alive (a slice of a chunk's text would keep the whole text). */
function owned(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

/**
 * A chunk of rows as `load` reads them: one text, its rows joined by RECORD and each row's values
 * by UNIT, and where each value ends; a row's values are read in place (`is`, `start`, `end`) or
 * sliced out.
 */
class Cells {
  #texts: readonly string[] = [];
  /** Where each row's value of each column starts and ends. */
  readonly #starts: Int32Array[];
  readonly #ends: Int32Array[];
  count = 0;
  /** The row being read. */
  row = 0;

  constructor(columns: number, rows: number) {
    this.#starts = Array.from({ length: columns }, () => new Int32Array(rows));
    this.#ends = Array.from({ length: columns }, () => new Int32Array(rows));
  }

  /** Takes `count` rows of `text`; false when it does not hold exactly `count` rows of as many values as there are columns (a value held a separator). */
  split(text: string, count: number): boolean {
    const columns = this.#ends.length;
    let at = 0;
    for (let row = 0; row < count; row++) {
      const last = row === count - 1;
      const end = text.indexOf(RECORD, at);
      if (last ? end >= 0 : end < 0) return false;
      const rowEnd = last ? text.length : end;
      for (let c = 0; c < columns - 1; c++) {
        const unit = text.indexOf(UNIT, at);
        if (unit < 0 || unit > rowEnd) return false;
        this.#starts[c]![row] = at;
        this.#ends[c]![row] = unit;
        at = unit + 1;
      }
      const extra = text.indexOf(UNIT, at);
      if (extra >= 0 && extra < rowEnd) return false;
      this.#starts[columns - 1]![row] = at;
      this.#ends[columns - 1]![row] = rowEnd;
      at = rowEnd + 1;
    }
    this.#texts = Array.from(this.#ends, () => text);
    this.count = count;
    this.row = 0;
    return true;
  }

  /** Takes one row, its values as they are. */
  single(values: readonly string[]): void {
    for (let c = 0; c < values.length; c++) {
      this.#starts[c]![0] = 0;
      this.#ends[c]![0] = values[c]!.length;
    }
    this.#texts = values;
    this.count = 1;
    this.row = 0;
  }

  text(column: number): string {
    return this.#texts[column]!;
  }

  start(column: number): number {
    return this.#starts[column]![this.row]!;
  }

  end(column: number): number {
    return this.#ends[column]![this.row]!;
  }

  /** The row's value (a slice of the chunk's text: see `owned`). */
  value(column: number): string {
    return this.#texts[column]!.slice(this.start(column), this.end(column));
  }

  /** Whether the row's value is `value`, compared in place. */
  is(column: number, value: string): boolean {
    const start = this.start(column);
    return this.end(column) - start === value.length && this.#texts[column]!.startsWith(value, start);
  }

  /** The row's value as a non-negative decimal integer. */
  integer(column: number): number {
    const text = this.#texts[column]!;
    let n = 0;
    for (let at = this.start(column), end = this.end(column); at < end; at++) n = n * 10 + text.charCodeAt(at) - 48;
    return n;
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
    const count = this.#count;
    const record = this.#recordOf(digest);
    this.#write(record, fields);
    this.#setId(record, id, this.#count === count);
  }

  /** The record of a digest, made (empty) when there is none. */
  #recordOf(digest: string): number {
    let record = this.#findDigest(digest);
    if (record === NONE) {
      this.#ensure(this.#count + 1, false);
      record = this.#count++;
      if (parseDigest(digest, this.#digest)) {
        this.#digests.write(record, this.#digest);
        this.#digests.insert(record);
      } else {
        this.#otherDigests.set(digest, record);
      }
    }
    return record;
  }

  /** The number of a string already held, if any (`string` interns one). */
  stringNumber(value: string): number | undefined {
    return this.#strings.find(value);
  }

  /** The number of a string, interned. */
  string(value: string): number {
    return this.#strings.number(value, value);
  }

  /**
   * Puts a credential read by `load` into this index, made for the load: as `put`, with its id and
   * digest as `cells`' characters between offsets (parsed in place: no string made for a UUID or a
   * hex digest), its flags and its numbers (FIELDS of them from `numbers`, interned already). The
   * read model's digests and ids are unique, and this index held none before: neither is looked
   * up, and their slots wait for `loaded`.
   */
  putLoaded(cells: Cells, id: number, digest: number, flags: number, numbers: Int32Array): void {
    let record: number;
    if (parseDigest(cells.text(digest), this.#digest, cells.start(digest), cells.end(digest))) {
      this.#ensure(this.#count + 1, false);
      record = this.#count++;
      this.#digests.write(record, this.#digest);
      this.#digests.defer(record);
    } else {
      record = this.#recordOf(owned(cells.value(digest)));
    }
    this.#flags[record] = flags;
    this.#fields.set(numbers, record * FIELDS);
    if (parseUuid(cells.text(id), this.#id, cells.start(id), cells.end(id))) {
      this.#ids.write(record, this.#id);
      this.#ids.defer(record);
    } else {
      this.#setId(record, owned(cells.value(id)), false);
    }
  }

  /** The slots of what `putLoaded` put. */
  loaded(): void {
    this.#digests.flush();
    this.#ids.flush();
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

/** What `load` reads of a credential, each column as text ('' for null: the flags say which values are null). */
const CREDENTIAL_COLUMNS = [
  // Its kind's index in CREDENTIAL_KINDS plus one (0: none), ACTIVE, then a bit for each nullable column that is null.
  `cast((case kind ${CREDENTIAL_KINDS.map((kind, i) => `when '${kind}' then ${i + 1}`).join(' ')} else 0 end)` +
    " + (case when status = 'ACTIVE' then 4 else 0 end) + (case when owner_id is null then 8 else 0 end) + (case when scopes is null then 16 else 0 end)" +
    ' + (case when allowed_origins is null then 32 else 0 end) + (case when expires_at is null then 64 else 0 end) + (case when revokes_at is null then 128 else 0 end) as text)',
  'id',
  'digest',
  'org_id',
  "coalesce(owner_id, '')",
  "coalesce(scopes, '')",
  "coalesce(allowed_origins, '')",
  "coalesce(expires_at, '')",
  "coalesce(revokes_at, '')",
] as const;
/** The columns, by their place in CREDENTIAL_COLUMNS. */
const C_FLAGS = 0;
const C_ID = 1;
const C_DIGEST = 2;
const C_ORG = 3;
const C_OWNER = 4;
const C_SCOPES = 5;
const C_ORIGINS = 6;
const C_EXPIRES = 7;
const C_REVOKES = 8;
const NULL_OWNER = 8;
const NULL_SCOPES = 16;
const NULL_ORIGINS = 32;
const NULL_EXPIRES = 64;
const NULL_REVOKES = 128;

/** What `load` reads of a principal. */
const PRINCIPAL_COLUMNS = ['id', 'org_id', 'kind', 'role', 'status'] as const;

type LoadedTables = CheckpointTables & CredentialsTables & PrincipalsTables;

/**
 * Every row of `table`, LOAD_CHUNK at a time in key order (SQLite: its rowid; PostgreSQL: its
 * primary key `id`), each chunk one statement answering one row: the chunk's rows as one text
 * (see Cells). So no object is made per row, nor a string per value. A chunk where a value held a
 * separator is read again, row by row.
 */
async function readTable(
  db: Kysely<LoadedTables>,
  table: 'credentials' | 'principals',
  columns: readonly string[],
  chunkRows: number,
  visit: (cells: Cells) => void,
): Promise<void> {
  const sqlite = readStoreDialect(db) === 'sqlite';
  const key = sql.raw(sqlite ? 'rowid' : 'id');
  const names = columns.map((_, c) => sql.raw(`c${c}`));
  const selected = sql.join(columns.map((column, c) => sql`${sql.raw(column)} as ${names[c]}`));
  // concat_ws and string_agg: SQLite (3.44 and later) and PostgreSQL alike.
  const row = sql`concat_ws(cast(${UNIT} as text), ${sql.join(columns.map((column) => sql.raw(column)))})`;
  const cells = new Cells(columns.length, chunkRows);
  let after: string | number | undefined;
  for (;;) {
    const from = after === undefined ? sql`` : sql`where ${key} > ${after}`;
    const { rows } = await sql<{
      n: number | string;
      k: number | string | null;
      text: string | null;
    }>`select count(*) as n, max(k) as k, string_agg(r, cast(${RECORD} as text)) as text from (select ${key} as k, ${row} as r from ${sql.table(table)} ${from} order by ${key} limit ${chunkRows}) as chunk`.execute(
      db,
    );
    const chunk = rows[0];
    const count = Number(chunk?.n ?? 0);
    if (chunk === undefined || count === 0) return;
    const last = chunk.k!;
    if (cells.split(chunk.text ?? '', count)) {
      visit(cells);
    } else {
      const range = after === undefined ? sql`where ${key} <= ${last}` : sql`where ${key} > ${after} and ${key} <= ${last}`;
      const each = await sql<Record<string, string>>`select ${selected} from ${sql.table(table)} ${range} order by ${key}`.execute(db);
      for (const values of each.rows) {
        cells.single(names.map((_, c) => String(values[`c${c}`])));
        visit(cells);
      }
    }
    if (count < chunkRows) return;
    after = last;
  }
}

/** A column's strings, interned in the index; the last one remembered, as the rows of one org, or of one owner, come together. */
class StringColumn {
  readonly #column: number;
  #last: string | undefined;
  #number = NONE;

  constructor(column: number) {
    this.#column = column;
  }

  number(cells: Cells, credentials: CompactCredentials): number {
    if (this.#last !== undefined && cells.is(this.#column, this.#last)) return this.#number;
    const value = cells.value(this.#column);
    this.#last = value;
    this.#number = credentials.stringNumber(value) ?? credentials.string(owned(value));
    return this.#number;
  }
}

/** A column's lists (JSON, as stored), each distinct one parsed once and interned in the index; the last few remembered. */
class ListColumn {
  readonly #column: number;
  readonly #parse: (raw: string) => readonly string[];
  readonly #numbers = new Map<string, number>();
  readonly #recent: string[] = [];
  readonly #recentNumbers: number[] = [];
  #next = 0;

  constructor(column: number, parse: (raw: string) => readonly string[]) {
    this.#column = column;
    this.#parse = parse;
  }

  number(cells: Cells, credentials: CompactCredentials): number {
    for (let i = 0; i < this.#recent.length; i++) if (cells.is(this.#column, this.#recent[i]!)) return this.#recentNumbers[i]!;
    const raw = cells.value(this.#column);
    let n = this.#numbers.get(raw);
    if (n === undefined) {
      n = credentials.list(this.#parse(owned(raw)));
      this.#numbers.set(raw, n);
    }
    this.#recent[this.#next] = raw;
    this.#recentNumbers[this.#next] = n;
    this.#next = (this.#next + 1) % 4;
    return n;
  }
}

/** Puts chunks of credentials' rows into the index. */
class CredentialLoader {
  readonly #credentials: CompactCredentials;
  readonly #numbers = new Int32Array(FIELDS);
  readonly #org = new StringColumn(C_ORG);
  readonly #owner = new StringColumn(C_OWNER);
  readonly #expires = new StringColumn(C_EXPIRES);
  readonly #revokes = new StringColumn(C_REVOKES);
  readonly #scopes = new ListColumn(C_SCOPES, (raw) => parseList(raw).filter(isPermission));
  readonly #origins = new ListColumn(C_ORIGINS, parseList);
  readonly #noOrigins: number;

  /** `credentials`: made for the load (see `putLoaded`). */
  constructor(credentials: CompactCredentials) {
    this.#credentials = credentials;
    this.#noOrigins = credentials.list([]);
  }

  put(cells: Cells): void {
    const credentials = this.#credentials;
    const numbers = this.#numbers;
    for (cells.row = 0; cells.row < cells.count; cells.row++) {
      const loaded = cells.integer(C_FLAGS);
      numbers[ORG] = this.#org.number(cells, credentials);
      numbers[OWNER] = loaded & NULL_OWNER ? NONE : this.#owner.number(cells, credentials);
      numbers[SCOPES] = loaded & NULL_SCOPES ? NONE : this.#scopes.number(cells, credentials);
      numbers[ORIGINS] = loaded & NULL_ORIGINS ? this.#noOrigins : this.#origins.number(cells, credentials);
      numbers[EXPIRES] = loaded & NULL_EXPIRES ? NONE : this.#expires.number(cells, credentials);
      numbers[REVOKES] = loaded & NULL_REVOKES ? NONE : this.#revokes.number(cells, credentials);
      // As `put` makes them: the kind's index (-1 for none), and ACTIVE.
      credentials.putLoaded(cells, C_ID, C_DIGEST, ((loaded & KIND_MASK) - 1) | (loaded & ACTIVE), numbers);
    }
  }
}

export class CredentialIndex implements CredentialLookup {
  /** By digest, and by id to apply changes that name the credential by id. */
  #credentials = new CompactCredentials();
  #principals = new Map<string, VerifiablePrincipal>();
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

  /**
   * Loads the read models as of their checkpoints, in place of what the index held (one read
   * transaction: on PostgreSQL, repeatable read, so that its statements share one snapshot). Rows
   * are read in chunks of `chunkRows` (see `readTable`; tests make them small), straight into
   * compact credentials made for the load.
   */
  async load(db: Kysely<LoadedTables>, options: { chunkRows?: number } = {}): Promise<void> {
    const chunkRows = options.chunkRows ?? LOAD_CHUNK;
    const transaction = readStoreDialect(db) === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction();
    const credentials = new CompactCredentials();
    const principals = new Map<string, VerifiablePrincipal>();
    const checkpoints = await transaction.execute(async (tx) => {
      const rows = await tx.selectFrom('projection_checkpoints').select(['name', 'position']).where('name', 'in', ['credentials', 'principals']).execute();
      const { count } = await tx
        .selectFrom('credentials')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .executeTakeFirstOrThrow();
      credentials.reserve(Number(count));
      const loader = new CredentialLoader(credentials);
      await readTable(tx, 'credentials', CREDENTIAL_COLUMNS, chunkRows, (cells) => loader.put(cells));
      // Org ids, kinds and roles, held once.
      const shared = new Map<string, string>();
      const share = (value: string): string => {
        let held = shared.get(value);
        if (held === undefined) {
          held = owned(value);
          shared.set(held, held);
        }
        return held;
      };
      await readTable(tx, 'principals', PRINCIPAL_COLUMNS, chunkRows, (cells) => {
        for (cells.row = 0; cells.row < cells.count; cells.row++) {
          const role = share(cells.value(3));
          if (!isRole(role)) continue;
          const id = owned(cells.value(0));
          principals.set(id, { id, orgId: share(cells.value(1)), kind: share(cells.value(2)) as PrincipalKind, role, active: cells.is(4, 'ACTIVE') });
        }
      });
      return rows;
    });
    credentials.loaded();
    const at = (name: string) => (checkpoints.find((c) => c.name === name)?.position ?? START) as Position;
    this.#credentials = credentials;
    this.#principals = principals;
    this.#credentialsFrom = at('credentials');
    this.#principalsFrom = at('principals');
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
