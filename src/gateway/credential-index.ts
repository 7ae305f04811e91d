// CredentialIndex: what authentication needs, in memory, by secret digest. Loaded from the read
// store at start and kept live from the event store, so authenticating a request does no I/O,
// and a revocation this instance made is refused from the moment its mutation answers.

import type { Kysely } from 'kysely';
import type { EventStore, Position, RecordedEvent, Subscription } from '../eventstore/port.js';
import { START } from '../eventstore/port.js';
import type { PrincipalKind } from '../domain/actor.js';
import type { OrganizationEvent } from '../domain/organization.js';
import type { Permission, Role } from '../domain/permissions.js';
import type { PrincipalEvent } from '../domain/principal.js';
import type { CredentialKind } from '../domain/secrets.js';
import type { Logger } from '../logger.js';
import type { ReadModels } from '../../projections/index.js';

export interface IndexedCredential {
  readonly id: string;
  readonly kind: CredentialKind;
  readonly orgId: string;
  readonly ownerId: string | null;
  readonly scopes: readonly Permission[] | null;
  readonly active: boolean;
  readonly expiresAt: string | null;
  /** Client tokens: the origins a browser may send them from (empty: any). */
  readonly allowedOrigins: readonly string[];
}

export interface IndexedPrincipal {
  readonly id: string;
  readonly orgId: string;
  readonly kind: PrincipalKind;
  readonly role: Role;
  readonly active: boolean;
}

type Event = OrganizationEvent | PrincipalEvent;

const CREDENTIAL_EVENTS = new Set<string>([
  'ApiKeyCreated',
  'ApiKeyRevoked',
  'ClientTokenCreated',
  'ClientTokenRevoked',
  'ApplicationKeyCreated',
  'ApplicationKeyScoped',
  'ApplicationKeyRevoked',
  'ApplicationKeyOwnerDisabled',
]);
const PRINCIPAL_EVENTS = new Set<string>(['UserInvited', 'ServiceAccountCreated', 'PrincipalRoleChanged', 'PrincipalDisabled']);

interface Waiter {
  readonly position: Position;
  readonly resolve: () => void;
}

export class CredentialIndex {
  readonly #byDigest = new Map<string, IndexedCredential>();
  /** Credential id → digest, to apply changes that name the credential by id. */
  readonly #digestOf = new Map<string, string>();
  readonly #principals = new Map<string, IndexedPrincipal>();
  /** The read models were loaded up to these positions; later events are applied from the store. */
  #credentialsFrom: Position = START;
  #principalsFrom: Position = START;
  #position: Position = START;
  #subscription: Subscription | undefined;
  #loop: Promise<void> | undefined;
  #waiters: Waiter[] = [];
  #stopping = false;
  #failing = false;

  get size(): number {
    return this.#byDigest.size;
  }

  get position(): Position {
    return this.#position;
  }

  credential(digest: string): IndexedCredential | undefined {
    return this.#byDigest.get(digest);
  }

  principal(id: string): IndexedPrincipal | undefined {
    return this.#principals.get(id);
  }

  /** Loads the read models as of their checkpoints (one read transaction). */
  async load(db: Kysely<ReadModels>): Promise<void> {
    await db.transaction().execute(async (tx) => {
      const checkpoints = await tx.selectFrom('projection_checkpoints').select(['name', 'position']).where('name', 'in', ['credentials', 'principals']).execute();
      const at = (name: string) => (checkpoints.find((c) => c.name === name)?.position ?? START) as Position;
      this.#credentialsFrom = at('credentials');
      this.#principalsFrom = at('principals');
      for (const row of await tx.selectFrom('credentials').select(['id', 'kind', 'org_id', 'digest', 'owner_id', 'scopes', 'status', 'expires_at', 'allowed_origins']).execute()) {
        this.#put(row.digest, {
          id: row.id,
          kind: row.kind,
          orgId: row.org_id,
          ownerId: row.owner_id,
          scopes: row.scopes === null ? null : (JSON.parse(row.scopes) as Permission[]),
          active: row.status === 'ACTIVE',
          expiresAt: row.expires_at,
          allowedOrigins: row.allowed_origins === null ? [] : (JSON.parse(row.allowed_origins) as string[]),
        });
      }
      for (const row of await tx.selectFrom('principals').select(['id', 'org_id', 'kind', 'role', 'status']).execute()) {
        this.#principals.set(row.id, { id: row.id, orgId: row.org_id, kind: row.kind, role: row.role as Role, active: row.status === 'ACTIVE' });
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
    if (CREDENTIAL_EVENTS.has(recorded.type)) {
      if (recorded.position > this.#credentialsFrom) this.#applyCredential(recorded as unknown as Event);
    } else if (PRINCIPAL_EVENTS.has(recorded.type)) {
      if (recorded.position > this.#principalsFrom) this.#applyPrincipal(recorded as unknown as Event);
    }
  }

  #put(digest: string, credential: IndexedCredential): void {
    this.#byDigest.set(digest, credential);
    this.#digestOf.set(credential.id, digest);
  }

  #change(id: string, change: (credential: IndexedCredential) => IndexedCredential): void {
    const digest = this.#digestOf.get(id);
    const current = digest === undefined ? undefined : this.#byDigest.get(digest);
    if (digest !== undefined && current) this.#byDigest.set(digest, change(current));
  }

  #applyCredential(event: Event): void {
    switch (event.type) {
      case 'ApiKeyCreated':
        this.#put(event.data.digest, {
          id: event.data.keyId,
          kind: 'API_KEY',
          orgId: event.data.orgId,
          ownerId: null,
          scopes: null,
          active: true,
          expiresAt: null,
          allowedOrigins: [],
        });
        return;
      case 'ClientTokenCreated':
        this.#put(event.data.digest, {
          id: event.data.tokenId,
          kind: 'CLIENT_TOKEN',
          orgId: event.data.orgId,
          ownerId: null,
          scopes: null,
          active: true,
          expiresAt: null,
          allowedOrigins: event.data.allowedOrigins,
        });
        return;
      case 'ApplicationKeyCreated':
        this.#put(event.data.digest, {
          id: event.data.keyId,
          kind: 'APPLICATION_KEY',
          orgId: event.data.orgId,
          ownerId: event.data.principalId,
          scopes: event.data.scopes,
          active: true,
          expiresAt: event.data.expiresAt,
          allowedOrigins: [],
        });
        return;
      case 'ApplicationKeyScoped':
        this.#change(event.data.keyId, (c) => ({ ...c, scopes: event.data.scopes }));
        return;
      case 'ApiKeyRevoked':
      case 'ApplicationKeyRevoked':
      case 'ApplicationKeyOwnerDisabled':
        this.#change(event.data.keyId, (c) => ({ ...c, active: false }));
        return;
      case 'ClientTokenRevoked':
        this.#change(event.data.tokenId, (c) => ({ ...c, active: false }));
        return;
      default:
        return;
    }
  }

  #applyPrincipal(event: Event): void {
    switch (event.type) {
      case 'UserInvited':
      case 'ServiceAccountCreated':
        this.#principals.set(event.data.principalId, {
          id: event.data.principalId,
          orgId: event.data.orgId,
          kind: event.type === 'UserInvited' ? 'USER' : 'SERVICE_ACCOUNT',
          role: event.data.role,
          active: true,
        });
        return;
      case 'PrincipalRoleChanged': {
        const p = this.#principals.get(event.data.principalId);
        if (p) this.#principals.set(p.id, { ...p, role: event.data.role });
        return;
      }
      case 'PrincipalDisabled': {
        const p = this.#principals.get(event.data.principalId);
        if (p) this.#principals.set(p.id, { ...p, active: false });
        return;
      }
      default:
        return;
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
