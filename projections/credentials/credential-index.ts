// CredentialIndex: what authentication needs, in memory, by secret digest. Loaded from the read
// store at start and kept live from the event store, so authenticating a request does no I/O,
// and a revocation this instance made is refused from the moment its mutation answers.

import type { Kysely } from 'kysely';
import { credentialChange, principalChange, type NewCredential } from '../../src/domain/credential.js';
import { isCredentialEvent, isPrincipalLifecycleEvent, type CredentialEvent, type PrincipalLifecycleEvent } from '../../src/domain/events.js';
import { isPermission, isRole } from '../../src/domain/permissions.js';
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

export class CredentialIndex implements CredentialLookup {
  readonly #byDigest = new Map<string, VerifiableCredential>();
  /** Credential id → digest, to apply changes that name the credential by id. */
  readonly #digestOf = new Map<string, string>();
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
    return this.#byDigest.size;
  }

  credential(digest: string): VerifiableCredential | undefined {
    return this.#byDigest.get(digest);
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
      for (const row of await tx
        .selectFrom('credentials')
        .select(['id', 'kind', 'org_id', 'digest', 'owner_id', 'scopes', 'status', 'expires_at', 'revokes_at', 'allowed_origins'])
        .execute()) {
        this.#digestOf.set(row.id, row.digest);
        this.#byDigest.set(row.digest, {
          id: row.id,
          kind: row.kind,
          orgId: row.org_id,
          ownerId: row.owner_id,
          scopes: row.scopes === null ? null : parseList(row.scopes).filter(isPermission),
          active: row.status === 'ACTIVE',
          expiresAt: row.expires_at,
          revokesAt: row.revokes_at,
          allowedOrigins: row.allowed_origins === null ? [] : parseList(row.allowed_origins),
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
    const digest = this.#digestOf.get(id);
    const current = digest === undefined ? undefined : this.#byDigest.get(digest);
    if (digest !== undefined && current) this.#byDigest.set(digest, change(current));
  }

  #add(credential: NewCredential): void {
    const { id, kind, orgId, ownerId, scopes, allowedOrigins, expiresAt, digest } = credential;
    this.#byDigest.set(digest, { id, kind, orgId, ownerId, scopes, allowedOrigins, expiresAt, revokesAt: null, active: true });
    this.#digestOf.set(id, digest);
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
