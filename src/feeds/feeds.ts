// The change feeds of R26, `credentialEvents` and `auditEntries`: which events each shows, what
// it shows of them (the credential, the audit entry, as the queries read them), to whom, and how
// many may be open at once.
//
// Every batch waits until this instance's read models and CredentialIndex hold its events
// (read-your-writes, as commands do): what a payload shows is then at least as new as its event,
// on every instance, and the subscriber's credentials are checked against an index that already
// holds a revocation of the batch. A live batch is the instance's one live subscription's (hub.ts):
// that wait, the subscriber's check (per credentials presented) and the rows of an org's
// credentials are made once per batch for every feed, then filtered per subscriber. One timer
// checks every open feed's credentials (by digest: no hashing) besides each batch.

import type { ReadDb } from '../../projections/read-models.js';
import { auditEntriesOfEvents, type AuditEntryRow, type AuditLogFilter } from '../../projections/audit/queries.js';
import { credentialsByIds } from '../../projections/credentials/queries.js';
import type { CredentialsTable } from '../../projections/credentials/tables.js';
import type { PrincipalActor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { EVENT_SUBJECT, isCredentialEvent, subjectIdOf, type CredentialEventType, type CredentialKind, type KeyledgerEvent } from '../domain/events.js';
import { mayReadApplicationKey } from '../domain/principal.js';
import type { CredentialLookup } from '../domain/verification.js';
import { StoreUnavailableError } from '../eventstore/errors.js';
import type { EventStore, Position } from '../eventstore/port.js';
import type { Recorded } from '../eventstore/recorded.js';
import { decodeCursor } from './cursor.js';
import { Feed, type FeedItem, type FeedSpec } from './feed.js';
import { type Batch, FeedHub } from './hub.js';

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
/** Live batches a feed may hold before it has made them into payloads (a feed that falls this far behind ends with SLOW_CONSUMER). */
const INBOX_SIZE = 64;
const NO_EVENTS: readonly Recorded<KeyledgerEvent>[] = [];

type CredentialEventOf = Extract<Recorded<KeyledgerEvent>, { type: CredentialEventType }>;

/** A batch's credential events by organization (made once per batch). */
function credentialEventsByOrg(batch: Batch): ReadonlyMap<string, readonly CredentialEventOf[]> {
  return batch.once('credential-events', () => {
    const byOrg = new Map<string, CredentialEventOf[]>();
    for (const event of batch.events) {
      if (!isCredentialEvent(event)) continue;
      const list = byOrg.get(event.data.orgId);
      if (list === undefined) byOrg.set(event.data.orgId, [event]);
      else list.push(event);
    }
    return byOrg;
  });
}

/** What a feed needs to know of its subscriber besides `authorize`: its org, and which credentials it presented (feeds that presented the same are checked once). */
interface Subscriber {
  readonly orgId: string;
  readonly applicationKeyId: string;
  readonly key: string;
  readonly authorize: Authorize;
}

export class Feeds {
  readonly #options: FeedsOptions;
  readonly #hub: FeedHub;
  /** Open feeds, with the key of their credentials' check. */
  readonly #open = new Map<Feed<FeedItem>, string>();
  readonly #perCredential = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(options: FeedsOptions) {
    this.#options = options;
    this.#hub = new FeedHub(options.store, BATCH_SIZE);
  }

  /** Feeds open on this instance. */
  get open(): number {
    return this.#open.size;
  }

  /** Feeds open on this instance that take their events from its one live subscription (the others still replay). */
  get live(): number {
    return this.#hub.members;
  }

  /** Ends every feed (the gateway stops). */
  closeAll(): void {
    for (const feed of this.#open.keys()) feed.end();
  }

  /** Credential events of the actor's organization that it may read (R8, R20, R26). */
  async credentialEvents(options: { actor: PrincipalActor; after: string | null; authorize: Authorize }): Promise<Feed<CredentialFeedItem>> {
    const { db, index } = this.#options;
    const subscriber = subscriberOf('credentials', options.actor, options.authorize);
    const { orgId } = subscriber;
    return this.#start(
      subscriber,
      options.after,
      (batch, after) => {
        const events = credentialEventsByOrg(batch).get(orgId);
        if (events === undefined) return NO_EVENTS;
        return events[0]!.position > after ? events : events.filter((event) => event.position > after);
      },
      async (batch, selected) => {
        await this.#reach(batch);
        const actor = batch.once(`actor:${subscriber.key}`, subscriber.authorize);
        if (actor instanceof DomainError) throw actor;
        const rows = await batch.once(`credentials:${orgId}`, () => credentialRows(db, orgId, credentialEventsByOrg(batch).get(orgId) ?? []));
        return selected.flatMap((event) => {
          if (!isCredentialEvent(event)) return [];
          const row = rows.get(subjectIdOf(event));
          if (row === undefined || row.org_id !== actor.orgId || !mayRead(actor, row, index)) return [];
          return [{ position: event.position, type: event.type, occurredAt: event.recordedAt, credential: row }];
        });
      },
    );
  }

  /** The actor's organization's audit entries (audit_logs_read), filtered as `auditLog` filters them. */
  async auditEntries(options: { actor: PrincipalActor; after: string | null; filter: AuditLogFilter | null; authorize: Authorize }): Promise<Feed<AuditFeedItem>> {
    const { db } = this.#options;
    const authorize: Authorize = () => {
      const actor = options.authorize();
      if (actor instanceof DomainError || actor.permissions.has('audit_logs_read')) return actor;
      return new DomainError('FORBIDDEN', 'this credential lacks the audit_logs_read permission');
    };
    const subscriber = subscriberOf('audit', options.actor, authorize);
    const { orgId } = subscriber;
    const filterKey = JSON.stringify(options.filter);
    return this.#start(
      subscriber,
      options.after,
      (batch, after) => batch.after(after),
      async (batch, selected) => {
        await this.#reach(batch);
        const actor = batch.once(`actor:${subscriber.key}`, authorize);
        if (actor instanceof DomainError) throw actor;
        // The whole batch: read once for every feed of the org with this filter; else (the first batch after a cursor) this feed's events.
        const rows =
          selected === batch.events
            ? await batch.once(`audit:${orgId}:${filterKey}`, () => auditEntriesOfEvents(db, orgId, idsOf(batch.events), options.filter))
            : await auditEntriesOfEvents(db, orgId, idsOf(selected), options.filter);
        return rows.map((entry) => ({ position: entry.position as Position, type: entry.event_type, occurredAt: entry.at, entry }));
      },
    );
  }

  async #start<T extends FeedItem>(subscriber: Subscriber, after: string | null, select: FeedSpec<T>['select'], prepare: FeedSpec<T>['prepare']): Promise<Feed<T>> {
    const { authorize, key: checkKey } = subscriber;
    const refusal = authorize();
    if (refusal instanceof DomainError) throw refusal;
    const head = await this.#options.store.headPosition();
    const from = after === null ? head : decodeCursor(after, head);
    const key = subscriber.applicationKeyId;
    const perCredential = this.#perCredential.get(key) ?? 0;
    const maxPerCredential = this.#options.maxPerCredential ?? 8;
    if (perCredential >= maxPerCredential) throw new DomainError('RATE_LIMITED', `at most ${maxPerCredential} feeds may be open at once with one application key`);
    if (this.#open.size >= (this.#options.maxOpen ?? 1000)) throw new DomainError('RATE_LIMITED', 'this gateway instance has as many feeds open as it takes; retry later');
    this.#perCredential.set(key, perCredential + 1);
    const hub = this.#hub;
    hub.retain(head);
    const check = (batch: Batch | null): DomainError | null => {
      const now = batch === null ? authorize() : batch.once(`check:${checkKey}`, authorize);
      return now instanceof DomainError ? now : null;
    };
    const feed: Feed<T> = new Feed<T>({
      store: this.#options.store,
      hub,
      after: from,
      liveFrom: head,
      bufferSize: this.#options.bufferSize ?? DEFAULT_FEED_BUFFER,
      inboxSize: INBOX_SIZE,
      batchSize: BATCH_SIZE,
      select,
      prepare,
      check,
      onEnd: () => {
        this.#open.delete(feed);
        if (this.#open.size === 0) this.#stopTimer();
        hub.release();
        const left = (this.#perCredential.get(key) ?? 1) - 1;
        if (left > 0) this.#perCredential.set(key, left);
        else this.#perCredential.delete(key);
      },
    });
    if (!feed.ended) {
      this.#open.set(feed, checkKey);
      this.#startTimer();
    }
    return feed;
  }

  /** One timer for every feed: feeds that presented the same credentials are checked once a tick. */
  #startTimer(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      const verdicts = new Map<string, DomainError | null>();
      for (const [feed, key] of this.#open) {
        let verdict = verdicts.get(key);
        if (verdict === undefined) {
          verdict = feed.check();
          verdicts.set(key, verdict);
        }
        if (verdict) feed.end(verdict);
      }
    }, this.#options.checkEveryMs ?? 200);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Waits until this instance's read models and CredentialIndex hold every event of the batch (once per batch, for every feed). */
  #reach(batch: Batch): Promise<void> {
    return batch.once('reach', async () => {
      const { readModels, index, timeoutMs } = this.#options;
      try {
        await Promise.all([readModels.waitFor(batch.last, { timeoutMs }), index.waitFor(batch.last, timeoutMs)]);
      } catch (error) {
        throw new StoreUnavailableError(`the read models did not reach the feed's events within ${timeoutMs} ms`, { cause: error });
      }
    });
  }
}

function subscriberOf(feed: 'credentials' | 'audit', actor: PrincipalActor, authorize: Authorize): Subscriber {
  // The same API key and application key are the same secrets: the same verdict, at the same time.
  return { orgId: actor.orgId, applicationKeyId: actor.applicationKeyId, key: `${feed}:${actor.apiKeyId}:${actor.applicationKeyId}`, authorize };
}

function idsOf(events: readonly Recorded<KeyledgerEvent>[]): string[] {
  return events.map((event) => event.id);
}

/** The rows of an org's credentials that a batch's events are about, by id, as the queries read them now. */
async function credentialRows(db: ReadDb, orgId: string, events: readonly CredentialEventOf[]): Promise<ReadonlyMap<string, CredentialsTable>> {
  const ids = new Map<CredentialKind, Set<string>>();
  for (const event of events) {
    const kind = EVENT_SUBJECT[event.type];
    const set = ids.get(kind) ?? new Set<string>();
    set.add(subjectIdOf(event));
    ids.set(kind, set);
  }
  const rows = new Map<string, CredentialsTable>();
  for (const [kind, set] of ids) {
    for (const row of await credentialsByIds(db, [...set], kind)) if (!(row instanceof Error) && row.org_id === orgId) rows.set(row.id, row);
  }
  return rows;
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
