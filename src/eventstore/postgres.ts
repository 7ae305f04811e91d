// The shared event store: PostgreSQL through a `pg` pool, for several gateway instances at once.
// Writers of one stream are serialised in the database; readers never skip a late commit.

import { Kysely, Migrator, sql as kysql, type Migration } from 'kysely';
import pg from 'pg';
import { DuplicateEventIdError, EventStoreError, InvalidAppendError, StoreUnavailableError, WrongExpectedRevisionError } from './errors.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  JsonObject,
  JsonValue,
  NewEvent,
  Position,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './port.js';
import { START } from './port.js';
import { hex16, validateAppend } from './validation.js';
import { isConnectionFailure, surviveConnectionErrors } from '../platform/pg-errors.js';
import { OneSchemaPostgresDialect } from '../platform/pg-migrations.js';

/*
 * Ordering and visibility.
 *
 * `global_position` comes from a sequence, and sequence values are taken before commit: a
 * transaction that took 41 can commit after one that took 42. A reader that had already
 * returned 42 and continued "after 42" would skip 41 for ever. So, as Emmett's PostgreSQL
 * event store does, the global order is `(transaction_id, global_position)` and a reader
 * returns only rows whose `transaction_id < pg_snapshot_xmin(pg_current_snapshot())`. Every
 * transaction with an id below the snapshot's xmin has finished (committed or rolled back),
 * so no event can later appear before a position already returned: the visible prefix only
 * grows at its end. Reads resume with the row comparison
 * `(transaction_id, global_position) > (xid, position)`, which the index on those two
 * columns answers directly.
 *
 * The price: any transaction that holds a transaction id (one that has written something),
 * anywhere in the cluster, holds readers back until it ends. That is never a skip, only a
 * delay; a live subscription notices rows held back this way and re-reads with a short
 * backoff instead of waiting for a notification that may not come.
 *
 * A Position is 16 lower-case hex digits of transaction_id followed by 16 of
 * global_position, fixed width, so string order is exactly this order.
 */

/** The events table's DDL (table and its read-order index); exported so the append benchmark's raw-insert reference has the same shape. */
export function postgresEventsTable(quotedSchema: string, name: string): string[] {
  return [
    `create table if not exists ${quotedSchema}.${name} (
      global_position bigserial primary key,
      transaction_id xid8 not null default pg_current_xact_id(),
      stream text not null,
      revision bigint not null,
      id uuid not null unique,
      type text not null,
      data jsonb not null,
      metadata jsonb not null,
      recorded_at timestamptz not null default now(),
      unique (stream, revision)
    )`,
    `create index if not exists ${name}_transaction_order on ${quotedSchema}.${name} (transaction_id, global_position)`,
  ];
}

/**
 * The append, server-side: one round trip per append, where the same steps sent one by one from
 * here took seven (begin, lock, the ids check, the streams row, the insert, the notification,
 * commit). Called as one autocommit statement, it runs in that statement's transaction.
 *
 * A function rather than one statement of CTEs: the advisory lock must be taken before anything
 * gives the transaction an id (see the comment on ordering above), and the CTEs of one statement
 * share one snapshot and run in no order we can rely on, so the insert could take its id before
 * the lock is granted, and the snapshot taken before waiting would not see what the previous
 * writer of the stream committed; nor can a statement branch on a replay or a wrong revision
 * (return the earlier result, or write nothing and say why). PL/pgSQL runs each step in order,
 * each with a fresh snapshot (read committed), after the lock.
 *
 * Answers one row: `status` is 'appended' or 'replayed' (with `tx`, `gp`, `rev` of the last
 * event), 'wrong_revision' (`rev`: the stream's revision, null when it has none) or
 * 'duplicate_id' (`clash`: the 1-based index in the batch of the first id already stored).
 * The lock key is the one the client-side append took, so both can run on one schema.
 */
function appendEventsFunction(schema: string): string {
  const s = quoteIdent(schema);
  const lockKey = `'${schema.replace(/'/g, "''")}'`;
  const body = `
#variable_conflict use_column
declare
  v_n integer := cardinality(p_ids);
  v_replay boolean := true;
  v_clash integer;
  v_stream text;
  v_stored bigint;
  v_first bigint;
  v_revision bigint;
  v_tx text;
  v_gp text;
  v_rev text;
begin
  -- First, before anything gives this transaction an id: the next writer of the stream gets its
  -- id only after this one committed, so a stream's revision order is also its global order
  -- (locking the streams row alone would let a waiter hold an older id than the winner).
  perform pg_advisory_xact_lock(hashtext(${lockKey}), hashtext(p_stream));

  -- Under the lock, so a concurrent replay of the same batch to the same stream is seen here. A
  -- replay: every id stored, in this stream, at consecutive revisions in the batch's order. One
  -- lookup by id at a time: a plan that always takes the unique index, whatever the statistics.
  for i in 1 .. v_n loop
    select e.stream, e.revision, e.transaction_id::text, e.global_position::text into v_stream, v_stored, v_tx, v_gp
      from ${s}.events e where e.id = p_ids[i];
    if not found then
      v_replay := false;
      continue;
    end if;
    v_clash := coalesce(v_clash, i);
    if i = 1 then
      v_first := v_stored;
    end if;
    if v_replay and (v_stream <> p_stream or v_stored <> v_first + i - 1) then
      v_replay := false;
    end if;
  end loop;
  if v_clash is not null then
    if v_replay then
      return query select 'replayed'::text, v_tx, v_gp, v_stored::text, null::integer;
    else
      return query select 'duplicate_id'::text, null::text, null::text, null::text, v_clash;
    end if;
    return;
  end if;

  -- The expected revision, moving the stream's row to its new revision.
  if p_expected = 'no_stream' then
    insert into ${s}.streams (stream, revision) values (p_stream, v_n - 1)
      on conflict do nothing returning revision into v_revision;
  elsif p_expected = 'exists' then
    update ${s}.streams set revision = revision + v_n where stream = p_stream returning revision into v_revision;
  elsif p_expected = 'any' then
    insert into ${s}.streams (stream, revision) values (p_stream, v_n - 1)
      on conflict (stream) do update set revision = streams.revision + v_n returning revision into v_revision;
  elsif p_expected = 'revision' then
    update ${s}.streams set revision = revision + v_n where stream = p_stream and revision = p_expected_revision
      returning revision into v_revision;
  else
    raise exception 'append_events: unknown expectation %', p_expected using errcode = '22023';
  end if;
  if v_revision is null then
    return query select 'wrong_revision'::text, null::text, null::text,
      (select revision::text from ${s}.streams where stream = p_stream), null::integer;
    return;
  end if;

  with inserted as (
    insert into ${s}.events (stream, revision, id, type, data, metadata)
    select p_stream, v_revision - v_n + e.ord, e.id, e.type, e.data::jsonb, e.metadata::jsonb
      from unnest(p_ids, p_types, p_data, p_metadata) with ordinality as e(id, type, data, metadata, ord)
     order by e.ord
    returning transaction_id, global_position, revision
  )
  select ins.transaction_id::text, ins.global_position::text, ins.revision::text into v_tx, v_gp, v_rev
    from inserted ins order by ins.revision desc limit 1;

  return query select 'appended'::text, v_tx, v_gp, v_rev, null::integer;
end`;
  // A dollar-quote tag that the body (which holds the schema's name) does not contain.
  let tag = '$append$';
  while (body.includes(tag)) tag = `${tag.slice(0, -1)}_$`;
  return `create or replace function ${s}.append_events(
    p_stream text, p_expected text, p_expected_revision bigint,
    p_ids uuid[], p_types text[], p_data text[], p_metadata text[]
  ) returns table (status text, tx text, gp text, rev text, clash integer)
  language plpgsql volatile
  as ${tag}${body}${tag}`;
}

export interface PostgresEventStoreOptions {
  /** Schema holding the store's tables (default `keyledger`). */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /**
   * The bound of connecting and of one statement (R30): past it the call fails with
   * StoreUnavailableError. Default: 5 s to connect, statements unbounded.
   */
  readonly timeoutMs?: number;
  readonly logger?: { warn(obj: object, msg?: string): void };
}

export interface PostgresEventStore extends EventStore {
  readonly kind: 'postgres';
  readonly schema: string;
}

const PAGE_SIZE = 1000;
const CONNECT_TIMEOUT_MS = 5000;
/** Backoff while committed rows are held back by an older transaction still running. */
const HELD_BACK_MIN_MS = 5;
const HELD_BACK_MAX_MS = 200;
/** Held back this long, a subscription tells the logger: some transaction is not ending. */
const HELD_BACK_WARN_MS = 10_000;
/**
 * A re-read even without a notification: one may be lost while the listener reconnects, or when
 * a writer dies between its commit and its notification. Short enough that a revocation still
 * reaches every instance within a second (R17) then.
 */
const SAFETY_POLL_MS = 500;
const LISTENER_RETRY_MIN_MS = 100;
const LISTENER_RETRY_MAX_MS = 5000;
/** Attempts of one append that lost a race on an event id to a concurrent append. */
const MAX_APPEND_ATTEMPTS = 3;

function sqlState(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** The port promises typed failures: connection trouble is StoreUnavailableError, the rest an EventStoreError. */
function toStoreError(error: unknown, doing: string): EventStoreError {
  if (error instanceof EventStoreError) return error;
  const message = error instanceof Error ? error.message || error.name : String(error);
  if (isConnectionFailure(error)) return new StoreUnavailableError(`postgres event store: ${doing}: ${message}`, { cause: error });
  return new EventStoreError(`postgres event store: ${doing}: ${message}`, { cause: error });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface Cursor {
  /** Decimal text of the xid8, bound as `$n::xid8`. */
  readonly transactionId: string;
  readonly globalPosition: string;
}

const START_CURSOR: Cursor = { transactionId: '0', globalPosition: '0' };

function toPosition(transactionId: string, globalPosition: string): Position {
  return (hex16(BigInt(transactionId)) + hex16(BigInt(globalPosition))) as Position;
}

function cursorOf(position: Position): Cursor {
  if (position === START) return START_CURSOR;
  if (typeof position !== 'string' || !/^[0-9a-f]{32}$/.test(position)) {
    throw new InvalidAppendError(`not a position of the postgres event store: ${JSON.stringify(position)}`);
  }
  return {
    transactionId: BigInt(`0x${position.slice(0, 16)}`).toString(),
    globalPosition: BigInt(`0x${position.slice(16)}`).toString(),
  };
}

/**
 * int8 and xid8 columns are selected as text and parsed to bigint here, never through a JS
 * number. The aliases differ from the column names on purpose: ORDER BY resolves a bare name
 * to an output column first, and would then sort the text ('10' < '9').
 */
interface EventRow {
  tx: string;
  gp: string;
  stream: string;
  rev: string;
  id: string;
  type: string;
  data: JsonValue;
  metadata: JsonObject;
  recorded_at: Date;
}

const EVENT_COLUMNS = `transaction_id::text as tx, global_position::text as gp, stream,
  revision::text as rev, id::text as id, type, data, metadata, recorded_at`;

function toRecorded(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    stream: row.stream,
    revision: BigInt(row.rev),
    position: toPosition(row.tx, row.gp),
    recordedAt: row.recorded_at,
  };
}

/** The row `append_events` answers (see appendEventsFunction). */
interface AppendRow {
  status: 'appended' | 'replayed' | 'wrong_revision' | 'duplicate_id';
  tx: string | null;
  gp: string | null;
  rev: string | null;
  clash: number | null;
}

/** An append's events as JSON text, for jsonb. */
interface Payload {
  readonly data: string[];
  readonly metadata: string[];
}

export async function openPostgresEventStore(connectionString: string, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
  const schema = options.schema ?? 'keyledger';
  if (schema.length === 0 || schema.includes('\0')) throw new InvalidAppendError(`invalid schema name ${JSON.stringify(schema)}`);
  const logger = options.logger;
  const s = quoteIdent(schema);
  // pg_notify refuses channel names of 64 bytes or more; two schemas sharing a channel only cost spurious wake-ups.
  const channel = `keyledger_events_${schema.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);

  const connectTimeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: options.timeoutMs,
  });
  // A connection that ends, idle or checked out, is logged and replaced; it never ends the process.
  surviveConnectionErrors(pool, logger, `postgres event store (schema ${schema})`);

  try {
    await migrateSchema(pool, schema);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw toStoreError(error, `opening schema ${schema}`);
  }

  const sql = {
    // One autocommit statement: the function runs in the statement's own transaction (see appendEventsFunction).
    notify: "select pg_notify($1, '')",
    append: `select status, tx, gp, rev, clash from ${s}.append_events($1, $2, $3::bigint, $4::uuid[], $5::text[], $6::text[], $7::text[])`,
    readStream: `select ${EVENT_COLUMNS} from ${s}.events where stream = $1 and revision >= $2::bigint order by revision`,
    page: `select ${EVENT_COLUMNS} from ${s}.events
      where (transaction_id, global_position) > ($1::xid8, $2::bigint)
        and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      order by transaction_id, global_position
      limit $3`,
    heldBack: `select exists (select 1 from ${s}.events where (transaction_id, global_position) > ($1::xid8, $2::bigint)) as held`,
    head: `select transaction_id::text as tx, global_position::text as gp from ${s}.events
      where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      order by transaction_id desc, global_position desc
      limit 1`,
    countAfter: `select count(*)::text as n from (select 1 from ${s}.events
      where (transaction_id, global_position) > ($1::xid8, $2::bigint)
        and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      limit $3) as visible`,
  };

  let closed = false;
  const subscriptions = new Set<PgSubscription>();

  function assertOpen(): void {
    if (closed) throw new StoreUnavailableError(`postgres event store (schema ${schema}) is closed`);
  }

  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[], doing: string): Promise<R[]> {
    assertOpen();
    try {
      return (await pool.query<R>(text, values)).rows;
    } catch (error) {
      throw toStoreError(error, doing);
    }
  }

  /*
   * Listeners (this instance's and every other's subscriptions) hear of appends by NOTIFY, sent
   * after the append committed, not inside it: PostgreSQL serialises the commits of notifying
   * transactions across the whole cluster (one lock held through the commit's flush), which
   * took group commit away from every append. One notification is in flight per store at a
   * time; appends meanwhile are announced by one more when it is back. Should this process die
   * between a commit and its notification, subscribers find the event at their next safety read
   * (SAFETY_POLL_MS).
   */
  let announcing = false;
  let announceAgain = false;
  function announce(): void {
    if (announcing) {
      announceAgain = true;
      return;
    }
    announcing = true;
    announceAgain = false;
    pool
      .query(sql.notify, [channel])
      .catch(() => undefined)
      .finally(() => {
        announcing = false;
        if (announceAgain && !closed) announce();
      });
  }

  async function appendOnce(stream: string, ids: readonly string[], types: readonly string[], payload: Payload, expected: ExpectedRevision): Promise<AppendResult> {
    const [mode, revision] = typeof expected === 'bigint' ? ['revision', expected.toString()] : [expected, null];
    // Named: each connection parses and plans the call once, then only binds and executes it.
    const values = [stream, mode, revision, ids, types, payload.data, payload.metadata];
    const row = (await pool.query<AppendRow>({ name: 'keyledger_append_events', text: sql.append, values })).rows[0];
    if (row === undefined) throw new EventStoreError(`postgres event store: append to ${stream}: append_events answered no row`);
    switch (row.status) {
      case 'appended':
        announce();
        return { nextRevision: BigInt(row.rev!), position: toPosition(row.tx!, row.gp!) };
      case 'replayed':
        return { nextRevision: BigInt(row.rev!), position: toPosition(row.tx!, row.gp!) };
      case 'wrong_revision':
        throw new WrongExpectedRevisionError(stream, expected, row.rev === null ? null : BigInt(row.rev));
      case 'duplicate_id':
        throw new DuplicateEventIdError(stream, ids[row.clash! - 1]!);
    }
  }

  async function append(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    // An empty batch is refused (InvalidAppendError) rather than answered with the stream's state.
    validateAppend(stream, events, expected);
    if (stream.includes('\0')) throw new InvalidAppendError(`invalid stream name ${JSON.stringify(stream)}`);
    assertOpen();
    const ids = events.map((e) => e.id.toLowerCase());
    const types = events.map((e) => e.type);
    let payload: Payload;
    try {
      payload = { data: events.map((e) => JSON.stringify(e.data)), metadata: events.map((e) => JSON.stringify(e.metadata ?? {})) };
    } catch (error) {
      throw new InvalidAppendError(`append to ${stream}: event data is not JSON: ${(error as Error).message}`, { cause: error });
    }
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await appendOnce(stream, ids, types, payload, expected);
        } catch (error) {
          // A concurrent append of the same ids to another stream committed first: the
          // check again now sees it, and says replay or DuplicateEventIdError.
          const idClash = sqlState(error) === '23505' && (error as { constraint?: string }).constraint === 'events_id_key';
          if (idClash && attempt < MAX_APPEND_ATTEMPTS) continue;
          throw error;
        }
      }
    } catch (error) {
      if (error instanceof EventStoreError) throw error;
      // Bad JSON for jsonb (a \u0000 in a string) and the like: the caller's data, not the store.
      if (sqlState(error)?.startsWith('22')) {
        throw new InvalidAppendError(`append to ${stream}: ${(error as Error).message}`, { cause: error });
      }
      // A connection lost around commit leaves the outcome unknown; a retry with the same ids is
      // safe. pool.query has already discarded a connection that failed.
      throw toStoreError(error, `appending to ${stream}`);
    }
  }

  async function readPage(cursor: Cursor, limit: number): Promise<RecordedEvent[]> {
    const rows = await query<EventRow>(sql.page, [cursor.transactionId, cursor.globalPosition, limit], 'reading all events');
    return rows.map(toRecorded);
  }

  /** Whether committed rows after the cursor exist that the visibility rule still holds back. */
  async function hasHeldBack(cursor: Cursor): Promise<boolean> {
    const rows = await query<{ held: boolean }>(sql.heldBack, [cursor.transactionId, cursor.globalPosition], 'reading all events');
    return rows[0]?.held === true;
  }

  /*
   * Subscriptions woken by one notification at one cursor (the credential index and the
   * projections, caught up) share one read: a read joins one in flight at the same cursor if no
   * notification came since that one started, so it is as fresh as its own would have been.
   */
  let wakes = 0;
  const sharedPages = new Map<string, { wakes: number; result: Promise<RecordedEvent[]> }>();
  const sharedHeldBack = new Map<string, { wakes: number; result: Promise<boolean> }>();
  function shared<T>(inflight: Map<string, { wakes: number; result: Promise<T> }>, key: string, read: () => Promise<T>): Promise<T> {
    const joined = inflight.get(key);
    if (joined !== undefined && joined.wakes === wakes) return joined.result;
    const entry = { wakes, result: read() };
    inflight.set(key, entry);
    const forget = () => {
      if (inflight.get(key) === entry) inflight.delete(key);
    };
    entry.result.then(forget, forget);
    return entry.result;
  }
  const subscriptionPage = (cursor: Cursor, limit: number) => shared(sharedPages, `${cursor.transactionId}:${cursor.globalPosition}:${limit}`, () => readPage(cursor, limit));
  const subscriptionHeldBack = (cursor: Cursor) => shared(sharedHeldBack, `${cursor.transactionId}:${cursor.globalPosition}`, () => hasHeldBack(cursor));

  // One LISTEN connection per store wakes every subscription; it reconnects on failure and
  // then wakes them all, since a notification may have been lost meanwhile.
  let listener: pg.Client | undefined;
  let listenerAttempts = 0;
  let listenerTimer: NodeJS.Timeout | undefined;

  function wakeAll(): void {
    wakes++;
    for (const subscription of subscriptions) subscription.wake();
  }

  function ensureListener(): void {
    if (closed || listener !== undefined || listenerTimer !== undefined) return;
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: connectTimeoutMs });
    listener = client;
    const fail = (error: unknown) => {
      if (listener !== client) return;
      listener = undefined;
      client.end().catch(() => undefined);
      if (closed) return;
      logger?.warn({ err: error, schema, channel }, 'postgres event store: LISTEN connection failed, reconnecting');
      const delay = Math.min(LISTENER_RETRY_MIN_MS * 2 ** listenerAttempts++, LISTENER_RETRY_MAX_MS);
      listenerTimer = setTimeout(() => {
        listenerTimer = undefined;
        ensureListener();
      }, delay);
      listenerTimer.unref();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('LISTEN connection ended')));
    client.on('notification', wakeAll);
    (async () => {
      await client.connect();
      await client.query(`listen ${quoteIdent(channel)}`);
      if (listener !== client) return;
      listenerAttempts = 0;
      wakeAll();
    })().catch(fail);
  }

  class PgSubscription implements Subscription {
    #closed = false;
    /** Set by a notification; a read that starts afterwards sees what it announced. */
    #notified = false;
    #wakeWaiter: (() => void) | undefined;
    readonly #iterator: AsyncGenerator<readonly RecordedEvent[]>;

    constructor(after: Position, batchSize: number) {
      const cursor = cursorOf(after);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidAppendError(`invalid batch size ${batchSize}`);
      this.#iterator = this.#run(cursor, batchSize);
    }

    wake(): void {
      this.#notified = true;
      this.#wakeWaiter?.();
    }

    [Symbol.asyncIterator](): AsyncIterator<readonly RecordedEvent[]> {
      return this.#iterator;
    }

    async close(): Promise<void> {
      if (this.#closed) return;
      this.#closed = true;
      subscriptions.delete(this);
      this.#wakeWaiter?.();
    }

    #wait(ms: number): Promise<void> {
      if (this.#notified || this.#closed) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          if (this.#wakeWaiter === done) this.#wakeWaiter = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        this.#wakeWaiter = done;
      });
    }

    async *#run(start: Cursor, batchSize: number): AsyncGenerator<readonly RecordedEvent[]> {
      let cursor = start;
      let backoff = 0;
      let heldSince: number | undefined;
      let warnedHeld = false;
      try {
        while (!this.#closed) {
          this.#notified = false;
          const page = await subscriptionPage(cursor, batchSize);
          if (this.#closed) return;
          if (page.length > 0) {
            backoff = 0;
            cursor = cursorOf(page[page.length - 1]!.position);
            yield page;
            if (page.length === batchSize) continue;
          }
          if (this.#notified) continue;
          // A commit after the cursor that the visibility rule hides waits only on an older
          // transaction, which may append nothing and so never notify: look again soon.
          if (await subscriptionHeldBack(cursor)) {
            heldSince ??= Date.now();
            if (!warnedHeld && Date.now() - heldSince > HELD_BACK_WARN_MS) {
              warnedHeld = true;
              logger?.warn({ schema, heldForMs: Date.now() - heldSince }, 'postgres event store: a long-running transaction is holding back a subscription');
            }
            backoff = backoff === 0 ? HELD_BACK_MIN_MS : Math.min(backoff * 2, HELD_BACK_MAX_MS);
            await this.#wait(backoff);
          } else {
            heldSince = undefined;
            warnedHeld = false;
            backoff = 0;
            await this.#wait(SAFETY_POLL_MS);
          }
        }
      } catch (error) {
        if (this.#closed || closed) return;
        throw error;
      } finally {
        this.#closed = true;
        subscriptions.delete(this);
      }
    }
  }

  return {
    kind: 'postgres',
    schema,
    append(stream, events, options = {}) {
      return append(stream, events, options.expectedRevision ?? 'any');
    },
    async readStream(stream, options = {}) {
      // One stream's revisions are written under its lock, so its committed rows have no gaps
      // and need no visibility rule.
      const rows = await query<EventRow>(sql.readStream, [stream, (options.fromRevision ?? 0n).toString()], `reading stream ${stream}`);
      return rows.map(toRecorded);
    },
    async *readAll(options: ReadAllOptions = {}) {
      let cursor = cursorOf(options.after ?? START);
      let remaining = options.limit ?? Number.POSITIVE_INFINITY;
      while (remaining > 0) {
        const page = await readPage(cursor, Math.min(PAGE_SIZE, remaining));
        if (page.length === 0) return;
        yield page;
        remaining -= page.length;
        cursor = cursorOf(page[page.length - 1]!.position);
      }
    },
    subscribe(options: SubscribeOptions = {}): Subscription {
      assertOpen();
      const subscription = new PgSubscription(options.after ?? START, options.batchSize ?? PAGE_SIZE);
      subscriptions.add(subscription);
      ensureListener();
      return subscription;
    },
    async headPosition() {
      const row = (await query<{ tx: string; gp: string }>(sql.head, [], 'reading the head position'))[0];
      return row === undefined ? START : toPosition(row.tx, row.gp);
    },
    async countAfter(after, cap) {
      const cursor = cursorOf(after);
      if (!(cap > 0)) return 0;
      // LIMIT NULL is no limit, for an infinite cap.
      const limit = Number.isFinite(cap) ? Math.floor(cap) : null;
      const rows = await query<{ n: string }>(sql.countAfter, [cursor.transactionId, cursor.globalPosition, limit], 'counting events');
      return Number(rows[0]?.n ?? '0');
    },
    wake() {
      wakeAll();
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...subscriptions].map((subscription) => subscription.close()));
      if (listenerTimer !== undefined) clearTimeout(listenerTimer);
      listenerTimer = undefined;
      const client = listener;
      listener = undefined;
      await Promise.all([client?.end().catch(() => undefined), pool.end().catch(() => undefined)]);
    },
  };
}

/** The event store's migrations and their lock, named apart from the read store's (`kysely_migration`), which may share the schema. */
export const EVENT_STORE_MIGRATION_TABLE = 'keyledger_eventstore_migration';
export const EVENT_STORE_MIGRATION_LOCK_TABLE = 'keyledger_eventstore_migration_lock';

/**
 * The event store's tables and its append function, one migration at a time, in `schema`. Never
 * edit a migration that has shipped: add the next one. A schema made before a migration gets it
 * when a store next opens it.
 */
function postgresEventStoreMigrations(schema: string): Record<string, Migration> {
  const s = quoteIdent(schema);
  const run = async (db: Kysely<unknown>, statements: readonly string[]) => {
    for (const statement of statements) await kysql.raw(statement).execute(db);
  };
  return {
    // `if not exists`: a schema made before the store had migrations already holds these tables, and adopts this history unchanged.
    '0001_streams_and_events': {
      up: (db) =>
        run(db, [
          `create table if not exists ${s}.streams (
      stream text primary key,
      revision bigint not null
    )`,
          ...postgresEventsTable(s, 'events'),
        ]),
    },
    // `create or replace`: the next version of the function comes in a migration of its own.
    '0002_append_function': { up: (db) => run(db, [appendEventsFunction(schema)]) },
  };
}

/**
 * Brings the schema's tables up to date with Kysely's migrator. Its tables are looked for in
 * this schema only (`migrationTableSchema`): without it, Kysely takes a migration table of any
 * schema of the database (another deployment's, another application's) as its own. Concurrent
 * opens are safe: the migrator tolerates racing creations of its tables, and runs migrations under
 * its advisory lock (one for the whole database, so deployments opening at once take turns).
 */
async function migrateSchema(pool: pg.Pool, schema: string): Promise<void> {
  // Over the store's pool, which the store ends itself: destroying this instance must not end it.
  // Its introspection (for the migrator) sees this schema only: see pg-migrations.ts.
  const db = new Kysely<unknown>({ dialect: new OneSchemaPostgresDialect({ pool: { connect: () => pool.connect(), end: async () => undefined } }, schema) });
  try {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => postgresEventStoreMigrations(schema) },
      migrationTableSchema: schema,
      migrationTableName: EVENT_STORE_MIGRATION_TABLE,
      migrationLockTableName: EVENT_STORE_MIGRATION_LOCK_TABLE,
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw error instanceof Error ? error : new Error(`migration ${failed ?? ''} failed: ${JSON.stringify(error)}`);
    }
  } finally {
    await db.destroy();
  }
}
