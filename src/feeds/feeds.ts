// The change feeds of R26, `credentialEvents` and `auditEntries`: which events each shows, what
// it shows of them (the credential, the audit entry, as the queries read them), to whom, and how
// many may be open at once.
//
// Every batch waits until this instance's read models and CredentialIndex hold its events
// (read-your-writes, as commands do): what a payload shows is then at least as new as its event,
// on every instance, and the subscriber's credentials are checked against an index that already
// holds a revocation of the batch.

import type { ReadDb } from '../../projections/read-models.js';
import { auditEntriesOfEvents, type AuditEntryRow, type AuditLogFilter } from '../../projections/audit/queries.js';
import { credentialsByIds } from '../../projections/credentials/queries.js';
import type { CredentialsTable } from '../../projections/credentials/tables.js';
import type { PrincipalActor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { EVENT_SUBJECT, isCredentialEvent, subjectIdOf, type CredentialKind, type KeyledgerEvent } from '../domain/events.js';
import { mayReadApplicationKey } from '../domain/principal.js';
import type { CredentialLookup } from '../domain/verification.js';
import { StoreUnavailableError } from '../eventstore/errors.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { Recorded } from '../eventstore/recorded.js';
import { decodeCursor } from './cursor.js';
import { Feed, type FeedItem } from './feed.js';

export interface CredentialFeedItem extends FeedItem {
  readonly type: string;
  readonly occurredAt: Date;
  readonly credential: CredentialsTable;
}

export interface AuditFeedItem extends FeedItem {
  readonly type: string;
  readonly occurredAt: string;
  readonly entry: AuditEntryRow;
}

/** Who reads a feed: the actor as its credentials authenticate now, or why they no longer do. */
export type Authorize = () => PrincipalActor | DomainError;

export interface FeedsOptions {
  readonly store: EventStore;
  /** This instance's projections (ProjectionRunner.waitFor). */
  readonly readModels: { waitFor(position: Position, options?: { timeoutMs?: number }): Promise<void> };
  /** This instance's CredentialIndex. */
  readonly index: CredentialLookup & { waitFor(position: Position, timeoutMs?: number): Promise<void> };
  readonly db: ReadDb;
  /** How long a batch waits for the read models before the feed ends with STORE_UNAVAILABLE. */
  readonly timeoutMs: number;
  /** Payloads held per feed (default DEFAULT_FEED_BUFFER); live, a full buffer ends the feed with SLOW_CONSUMER. */
  readonly bufferSize?: number;
  /** Open feeds per application key (default 8) and per instance (default 1000). */
  readonly maxPerCredential?: number;
  readonly maxOpen?: number;
  /** How often a feed checks its credentials besides each batch (default 200 ms). */
  readonly checkEveryMs?: number;
}

const DEFAULT_FEED_BUFFER = 1000;
const BATCH_SIZE = 200;

export class Feeds {
  readonly #options: FeedsOptions;
  readonly #open = new Set<Feed<FeedItem>>();
  readonly #perCredential = new Map<string, number>();

  constructor(options: FeedsOptions) {
    this.#options = options;
  }

  /** Feeds open on this instance. */
  get open(): number {
    return this.#open.size;
  }

  /** Ends every feed (the gateway stops). */
  closeAll(): void {
    for (const feed of this.#open) feed.end();
  }

  /** Credential events of the actor's organization that it may read (R8, R20, R26). */
  async credentialEvents(options: { actor: PrincipalActor; after: string | null; authorize: Authorize }): Promise<Feed<CredentialFeedItem>> {
    const { db, index } = this.#options;
    return this.#start(options.actor, options.after, options.authorize, async (events, last) => {
      const credentialEvents = events.filter(isCredentialEvent);
      if (credentialEvents.length === 0) return [];
      await this.#reach(last);
      const actor = options.authorize();
      if (actor instanceof DomainError) throw actor;
      const ids = new Map<CredentialKind, Set<string>>();
      for (const event of credentialEvents) {
        const kind = EVENT_SUBJECT[event.type];
        const set = ids.get(kind) ?? new Set<string>();
        set.add(subjectIdOf(event));
        ids.set(kind, set);
      }
      const rows = new Map<string, CredentialsTable>();
      for (const [kind, set] of ids) {
        for (const row of await credentialsByIds(db, [...set], kind)) if (!(row instanceof Error) && row.org_id === actor.orgId) rows.set(row.id, row);
      }
      return credentialEvents.flatMap((event) => {
        const row = rows.get(subjectIdOf(event));
        if (row === undefined || !mayRead(actor, row, index)) return [];
        return [{ position: event.position, type: event.type, occurredAt: event.recordedAt, credential: row }];
      });
    });
  }

  /** The actor's organization's audit entries (audit_logs_read), filtered as `auditLog` filters them. */
  async auditEntries(options: { actor: PrincipalActor; after: string | null; filter: AuditLogFilter | null; authorize: Authorize }): Promise<Feed<AuditFeedItem>> {
    const { db } = this.#options;
    const authorize: Authorize = () => {
      const actor = options.authorize();
      if (actor instanceof DomainError || actor.permissions.has('audit_logs_read')) return actor;
      return new DomainError('FORBIDDEN', 'this credential lacks the audit_logs_read permission');
    };
    return this.#start(options.actor, options.after, authorize, async (events, last) => {
      if (events.length === 0) return [];
      await this.#reach(last);
      const actor = authorize();
      if (actor instanceof DomainError) throw actor;
      const rows = await auditEntriesOfEvents(
        db,
        actor.orgId,
        events.map((event) => event.id),
        options.filter,
      );
      return rows.map((entry) => ({ position: entry.position as Position, type: entry.event_type, occurredAt: entry.at, entry }));
    });
  }

  async #start<T extends FeedItem>(
    actor: PrincipalActor,
    after: string | null,
    authorize: Authorize,
    prepare: (events: readonly Recorded<KeyledgerEvent>[], last: Position) => Promise<readonly T[]>,
  ): Promise<Feed<T>> {
    const refusal = authorize();
    if (refusal instanceof DomainError) throw refusal;
    const head = await this.#options.store.headPosition();
    const from = after === null ? head : decodeCursor(after, head);
    const key = actor.applicationKeyId;
    const perCredential = this.#perCredential.get(key) ?? 0;
    const maxPerCredential = this.#options.maxPerCredential ?? 8;
    if (perCredential >= maxPerCredential) throw new DomainError('RATE_LIMITED', `at most ${maxPerCredential} feeds may be open at once with one application key`);
    if (this.#open.size >= (this.#options.maxOpen ?? 1000)) throw new DomainError('RATE_LIMITED', 'this gateway instance has as many feeds open as it takes; retry later');
    this.#perCredential.set(key, perCredential + 1);
    const feed: Feed<T> = new Feed<T>({
      store: this.#options.store,
      after: from,
      liveFrom: head,
      bufferSize: this.#options.bufferSize ?? DEFAULT_FEED_BUFFER,
      batchSize: BATCH_SIZE,
      checkEveryMs: this.#options.checkEveryMs ?? 200,
      prepare,
      check: () => {
        const now = authorize();
        return now instanceof DomainError ? now : null;
      },
      onEnd: () => {
        this.#open.delete(feed);
        const left = (this.#perCredential.get(key) ?? 1) - 1;
        if (left > 0) this.#perCredential.set(key, left);
        else this.#perCredential.delete(key);
      },
    });
    this.#open.add(feed);
    return feed;
  }

  /** Waits until this instance's read models and CredentialIndex hold every event up to `position`. */
  async #reach(position: Position): Promise<void> {
    const { readModels, index, timeoutMs } = this.#options;
    try {
      await Promise.all([readModels.waitFor(position, { timeoutMs }), index.waitFor(position, timeoutMs)]);
    } catch (error) {
      throw new StoreUnavailableError(`the read models did not reach the feed's events within ${timeoutMs} ms`, { cause: error });
    }
  }
}

/** R26: org credentials with their read permissions, application keys as R8 reads them. */
function mayRead(actor: PrincipalActor, row: CredentialsTable, principals: CredentialLookup): boolean {
  switch (row.kind) {
    case 'API_KEY':
      return actor.permissions.has('api_keys_read');
    case 'CLIENT_TOKEN':
      return actor.permissions.has('client_tokens_read');
    case 'APPLICATION_KEY': {
      const owner = row.owner_id === null ? undefined : principals.principal(row.owner_id);
      return owner !== undefined && mayReadApplicationKey(actor, { principalId: owner.id, kind: owner.kind });
    }
    default: {
      const unhandled: never = row.kind;
      throw new Error(`unknown credential kind ${String(unhandled)}`);
    }
  }
}
