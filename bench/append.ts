// Append throughput with 16 concurrent writers, single-event appends: (a) each writer to its own
// streams, (b) all to one contended stream with retries; references: raw single-row INSERTs and,
// on PostgreSQL, Emmett's PostgreSQL event store doing the same work in the same run.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getPostgreSQLEventStore, type PostgresEventStore as EmmettStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { OrganizationAggregate } from '../src/commands/aggregates.js';
import { CommandHandler } from '../src/commands/handler.js';
import { OPERATOR } from '../src/domain/actor.js';
import { WrongExpectedRevisionError } from '../src/eventstore/errors.js';
import type { EventStore, NewEvent } from '../src/eventstore/port.js';
import { openPostgresEventStore, postgresEventsTable } from '../src/eventstore/postgres.js';
import { openSqliteEventStore, sqliteEventsTable } from '../src/eventstore/sqlite.js';
import { openSqliteFile } from '../src/sqlite/database.js';
import { type Benchmark, type Row, concurrentLoops, dropSchemas, fmtMs, fmtRate, freshSchemaName, log, perSecond, PG_URL, pgReachable, pgSkipped, tempDir } from './lib.js';

const WRITERS = 16;
const STREAMS_PER_WRITER = 50;
const CONTENDED_STREAM = 'org-contended';

interface Sizes {
  /** Rows of the raw reference and appends of case (a), each split over `rounds`. */
  readonly events: number;
  /** Raw and (a) alternate round by round, so that a drift in the machine's load hits all alike (on PostgreSQL, (b)'s loops too). */
  readonly rounds: number;
  /** Successful appends wanted in case (b), of each loop. */
  readonly contended: number;
  readonly warmUp: number;
  /** A case (or round) stops early past this, so that the whole run keeps its time budget. */
  readonly maxMs: number;
}

const SQLITE_SIZES: Sizes = { events: 20_000, rounds: 2, contended: 5_000, warmUp: 1_000, maxMs: 5_000 };
const POSTGRES_SIZES: Sizes = { events: 5_000, rounds: 2, contended: 5_000, warmUp: 200, maxMs: 4_000 };

/** One small event, the same for the store and the raw reference. */
function smallEvent(writer: number, i: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'ApiKeyCreated',
    data: { name: `key-${writer}-${i}`, scopes: ['a', 'b'] },
    metadata: { requestId: randomUUID(), actor: `user-${writer}` },
  };
}

function distinctStream(prefix: string, writer: number, i: number): string {
  return `${prefix}-${writer}-${i % STREAMS_PER_WRITER}`;
}

/** A row as the raw reference inserts it: what the store would write for the same event. */
interface RawRow {
  readonly stream: string;
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

/** The reference: 16 loops inserting the rows of case (a), one autocommit INSERT each. */
async function measureRaw(insert: (row: RawRow) => Promise<void>, prefix: string, total: number, maxMs: number) {
  const revisions = new Map<string, number>();
  return concurrentLoops(WRITERS, { total, maxMs }, async (w, i) => {
    const stream = distinctStream(prefix, w, i);
    const revision = (revisions.get(stream) ?? -1) + 1;
    revisions.set(stream, revision);
    const event = smallEvent(w, i);
    await insert({
      stream,
      revision,
      id: event.id,
      type: event.type,
      data: JSON.stringify(event.data),
      metadata: JSON.stringify(event.metadata ?? {}),
    });
  });
}

interface ContendedRun {
  readonly done: number;
  readonly ms: number;
  readonly conflicts: number;
  /** Each writer's successful appends. */
  readonly successes: readonly number[];
}

/** A contended run's budget: the successful appends wanted, and a time limit. */
interface Budget {
  readonly total: number;
  readonly maxMs: number;
}

/** Several runs of one contended loop (rounds) as one. */
function sumRuns(runs: readonly ContendedRun[]): ContendedRun {
  return {
    done: runs.reduce((n, r) => n + r.done, 0),
    ms: runs.reduce((n, r) => n + r.ms, 0),
    conflicts: runs.reduce((n, r) => n + r.conflicts, 0),
    successes: Array.from({ length: WRITERS }, (_, w) => runs.reduce((n, r) => n + (r.successes[w] ?? 0), 0)),
  };
}

/**
 * Case (b): every writer appends to the same stream. `attempt` tries one append of the writer's
 * event and says whether it went in; on a conflict it brings the writer's belief up to date
 * (its own way) and answers false, and the writer tries again.
 */
async function measureContended(budget: Budget, attempt: (w: number, event: NewEvent) => Promise<boolean>): Promise<ContendedRun> {
  let conflicts = 0;
  const successes = Array.from({ length: WRITERS }, () => 0);
  const run = await concurrentLoops(WRITERS, budget, async (w, i) => {
    const event = smallEvent(w, i);
    while (!(await attempt(w, event))) conflicts++;
    successes[w]!++;
  });
  return { ...run, conflicts, successes };
}

/** Says when the stream does not hold exactly the appends that succeeded. */
function checkStored(label: string, stored: number, run: ContendedRun): void {
  if (stored !== run.done) console.log(`  ! ${label}: the contended stream holds ${stored} events, ${run.done} appends succeeded`);
}

/**
 * The store's own loop: expect the revision the writer believes is current, and on a conflict
 * retry with the revision the error reports (no read).
 */
async function contendedReported(store: EventStore, stream: string, budget: Budget): Promise<ContendedRun> {
  const known: (bigint | null)[] = Array.from({ length: WRITERS }, () => null);
  const run = await measureContended(budget, async (w, event) => {
    try {
      known[w] = (await store.append(stream, [event], { expectedRevision: known[w] ?? 'no_stream' })).nextRevision;
      return true;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      known[w] = error.actual !== undefined ? error.actual : await lastRevision(store, stream, null);
      return false;
    }
  });
  checkStored('keyledger', (await store.readStream(stream)).length, run);
  return run;
}

/**
 * Read, append, retry: expect the revision the writer last read, and on a conflict read what
 * was appended since (as the command handler's fold does) before trying again. The same loop as
 * Emmett's below.
 */
async function contendedReadAppendRetry(store: EventStore, stream: string, budget: Budget): Promise<ContendedRun> {
  const known: (bigint | null)[] = Array.from({ length: WRITERS }, () => null);
  const run = await measureContended(budget, async (w, event) => {
    try {
      known[w] = (await store.append(stream, [event], { expectedRevision: known[w] ?? 'no_stream' })).nextRevision;
      return true;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError)) throw error;
      known[w] = await lastRevision(store, stream, known[w] ?? null);
      return false;
    }
  });
  checkStored('keyledger', (await store.readStream(stream)).length, run);
  return run;
}

/**
 * keyledger's own command path (src/commands/handler.ts), on one org stream: 16 writers send
 * commands (a rename of the org's API key, one event each) through one CommandHandler. Commands
 * on one stream wait in its lane; those that wait together are decided in turn and appended at
 * once (group commit), expecting the revision the handler knows, so writers of one process never
 * conflict. Read-your-writes is left out (no projections run here): the store's work alone.
 */
async function contendedQueued(store: EventStore, stream: string, budget: Budget): Promise<ContendedRun> {
  const handler = new CommandHandler({ store, readYourWrites: async () => undefined });
  const orgId = stream.replace(/^org-/, '');
  const keyId = randomUUID();
  await handler.execute(
    OrganizationAggregate,
    orgId,
    { type: 'CreateOrganization', orgId, name: 'contended', firstApiKey: { keyId, name: 'key', digest: 'ab'.repeat(32), last4: 'abcd' }, createdBy: null },
    OPERATOR,
  );
  const run = await measureContended(budget, async (w, event) => {
    await handler.execute(OrganizationAggregate, orgId, { type: 'RenameApiKey', keyId, name: `key-${w}-${event.id}` }, OPERATOR);
    return true;
  });
  // The org's creation made two events.
  checkStored('keyledger', (await store.readStream(stream)).length - 2, run);
  return run;
}

/** The stream's last revision, reading only the events after `known` (null: the whole stream). */
async function lastRevision(store: EventStore, stream: string, known: bigint | null): Promise<bigint | null> {
  const events = await store.readStream(stream, { fromRevision: known === null ? 0n : known + 1n });
  return events.length === 0 ? known : events[events.length - 1]!.revision;
}

interface Totals {
  done: number;
  ms: number;
}

/** Case (a) through some store: each writer appends to its own 50 streams, no revision expected. */
type DistinctAppend = (stream: string, event: NewEvent) => Promise<void>;

function measureDistinct(append: DistinctAppend, prefix: string, total: number, maxMs: number) {
  return concurrentLoops(WRITERS, { total, maxMs }, (w, i) => append(distinctStream(prefix, w, i), smallEvent(w, i)));
}

const storeDistinct =
  (store: EventStore): DistinctAppend =>
  async (stream, event) => {
    await store.append(stream, [event], { expectedRevision: 'any' });
  };

/**
 * The raw reference and case (a) through each store, in alternating rounds, so that a drift in
 * the machine's load hits them all alike; returns each one's totals.
 */
async function measureRawAndDistinct(sizes: Sizes, rawInsert: (row: RawRow) => Promise<void>, stores: readonly DistinctAppend[]): Promise<{ raw: Totals; distinct: Totals[] }> {
  await measureRaw(rawInsert, 'warm', sizes.warmUp, sizes.maxMs);
  for (const append of stores) await measureDistinct(append, 'warm', sizes.warmUp, sizes.maxMs);
  const raw = { done: 0, ms: 0 };
  const distinct = stores.map(() => ({ done: 0, ms: 0 }));
  const perRound = Math.ceil(sizes.events / sizes.rounds);
  for (let round = 0; round < sizes.rounds; round++) {
    // Fresh stream names each round, so that every round starts its streams at revision 0.
    const r = await measureRaw(rawInsert, `org${round}`, perRound, sizes.maxMs);
    raw.done += r.done;
    raw.ms += r.ms;
    for (const [k, append] of stores.entries()) {
      const d = await measureDistinct(append, `org${round}`, perRound, sizes.maxMs);
      distinct[k]!.done += d.done;
      distinct[k]!.ms += d.ms;
    }
  }
  return { raw, distinct };
}

interface FigureRef {
  readonly refLabel: string;
  readonly refValue: number;
  readonly refUnit: string;
}

function rawReference(raw: Totals): FigureRef {
  return { refLabel: 'raw INSERT, 16 writers', refValue: perSecond(raw.done, raw.ms), refUnit: 'inserts/s' };
}

function logDistinct(who: string, totals: Totals): void {
  log(`(a) own streams, ${who}: ${totals.done} appends in ${fmtMs(totals.ms)} = ${fmtRate(perSecond(totals.done, totals.ms))} appends/s`);
}

/** The note of a contended figure: how it went, and the log line saying so. */
function contendedNote(who: string, run: ContendedRun): string {
  const conflictsPerAppend = (run.conflicts / Math.max(1, run.done)).toFixed(1);
  const spread = `${Math.min(...run.successes)}–${Math.max(...run.successes)}`;
  const attemptRate = fmtRate(perSecond(run.done + run.conflicts, run.ms));
  log(
    `(b) one contended stream, ${who}: ${run.done} appends in ${fmtMs(run.ms)} = ${fmtRate(perSecond(run.done, run.ms))} appends/s; ` +
      `${run.conflicts} conflicts (${conflictsPerAppend} per append), ${attemptRate} attempts/s, successful appends per writer ${spread}`,
  );
  return `${run.done} appends, ${conflictsPerAppend} conflicts/append, ${attemptRate} attempts/s, per writer ${spread}`;
}

// ---------------------------------------------------------------- SQLite

/** The store's `events` table (sqlite.ts), under another name: same columns, same unique indexes. */
const SQLITE_RAW_SCHEMA = sqliteEventsTable('raw_events');

async function appendSqlite(): Promise<Row[]> {
  const bench = 'append-sqlite';
  const sizes = SQLITE_SIZES;
  const tmp = tempDir('append');
  try {
    // Case (a) and the raw reference share one fresh file (tables side by side); case (b) gets its own.
    const distinctFile = tmp.file('distinct.db');
    const store = openSqliteEventStore(distinctFile);
    const rawDb = openSqliteFile(distinctFile);
    rawDb.exec(SQLITE_RAW_SCHEMA);
    const insertRow = rawDb.prepare('insert into raw_events (stream, revision, id, type, data, metadata, recorded_at) values (?, ?, ?, ?, ?, ?, ?)');
    const rawInsert = async (row: RawRow): Promise<void> => {
      insertRow.run(row.stream, row.revision, row.id.toLowerCase(), row.type, row.data, row.metadata, Date.now());
    };
    const {
      raw,
      distinct: [distinct],
    } = await measureRawAndDistinct(sizes, rawInsert, [storeDistinct(store)]);
    rawDb.close();
    await store.close();

    const contendedStore = openSqliteEventStore(tmp.file('contended.db'));
    await measureDistinct(storeDistinct(contendedStore), 'warm', sizes.warmUp, sizes.maxMs);
    const contended = await contendedReported(contendedStore, CONTENDED_STREAM, { total: sizes.contended, maxMs: sizes.maxMs });
    await contendedStore.close();

    const reference = rawReference(raw);
    log(`raw INSERT: ${raw.done} rows in ${fmtMs(raw.ms)} = ${fmtRate(reference.refValue)} inserts/s`);
    logDistinct('keyledger', distinct!);
    return [
      {
        bench,
        case: '(a) 16 writers, own streams',
        value: perSecond(distinct!.done, distinct!.ms),
        unit: 'appends/s',
        ...reference,
        note: `${distinct!.done} appends; target ratio >= 0.5`,
      },
      { bench, case: '(b) 16 writers, one stream', value: perSecond(contended.done, contended.ms), unit: 'appends/s', ...reference, note: contendedNote('keyledger', contended) },
    ];
  } finally {
    tmp.remove();
  }
}

// ---------------------------------------------------------------- Emmett (PostgreSQL)

/** The pg type parsers (int8, json, jsonb) that dumbo, Emmett's driver layer, replaces for the whole process when it makes a pool. */
const DUMBO_TYPE_OIDS = [20, 114, 3802];

/** Emmett's version, as package.json pins it. */
const EMMETT_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies[
  '@event-driven-io/emmett-postgresql'
];

async function createSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`create schema "${schema}"`);
  } finally {
    await client.end();
  }
}

interface Emmett {
  readonly store: EmmettStore;
  close(): Promise<void>;
}

/**
 * Emmett's PostgreSQL event store (getPostgreSQLEventStore) on a pool of 16, with every table,
 * sequence and function it makes in the fresh schema `schema`. It has no schema option, and its
 * SQL names nothing schema-qualified: connections whose `search_path` is that schema alone make
 * and find everything there, and dropping the schema drops it all (nothing lands in `public`).
 */
async function openEmmett(schema: string): Promise<Emmett> {
  const options = `-c search_path="${schema}"`;
  const url = new URL(PG_URL);
  url.searchParams.set('options', options);
  const pool = new pg.Pool({ connectionString: url.toString(), max: WRITERS, options });
  pool.on('error', () => undefined);
  const parsers = DUMBO_TYPE_OIDS.map((oid) => [oid, pg.types.getTypeParser(oid)] as const);
  const store = getPostgreSQLEventStore(url.toString(), { connectionOptions: { pool } });
  const close = async () => {
    await store.close();
    await pool.end();
    // The next benchmarks of this process read int8 and jsonb as pg does by default.
    for (const [oid, parser] of parsers) pg.types.setTypeParser(oid, parser);
  };
  try {
    await store.schema.migrate();
  } catch (error) {
    await close();
    throw error;
  }
  return { store, close };
}

function emmettEvent(event: NewEvent) {
  return { type: event.type, data: event.data as Record<string, unknown>, metadata: event.metadata ?? {} };
}

/** Case (a) through Emmett: no expected version, as keyledger's `expectedRevision: 'any'`. */
const emmettDistinct =
  (emmett: Emmett): DistinctAppend =>
  async (stream, event) => {
    await emmett.store.appendToStream(stream, [emmettEvent(event)]);
  };

/**
 * emmett-postgresql throws its own bundled copy of ExpectedVersionConflictError, which is not
 * @event-driven-io/emmett's class: it is known by its code (EmmettError.Codes.ConcurrencyError).
 */
function isEmmettConflict(error: unknown): boolean {
  return error instanceof Error && (error as { errorCode?: unknown }).errorCode === 412;
}

/**
 * Case (b) Emmett's way: append with the stream version last read (`expectedStreamVersion`),
 * and on ExpectedVersionConflictError, which does not say the current version, read what was
 * appended since and try again. Its versions count events: 0 is a stream not yet written.
 */
async function contendedEmmett(emmett: Emmett, stream: string, budget: Budget): Promise<ContendedRun> {
  const known: bigint[] = Array.from({ length: WRITERS }, () => 0n);
  const run = await measureContended(budget, async (w, event) => {
    try {
      known[w] = (await emmett.store.appendToStream(stream, [emmettEvent(event)], { expectedStreamVersion: known[w]! })).nextExpectedStreamVersion;
      return true;
    } catch (error) {
      if (!isEmmettConflict(error)) throw error;
      const since = await emmett.store.readStream(stream, { from: known[w]! + 1n });
      if (since.events.length > 0) known[w] = since.currentStreamVersion;
      return false;
    }
  });
  checkStored('Emmett', (await emmett.store.readStream(stream)).events.length, run);
  return run;
}

// ---------------------------------------------------------------- PostgreSQL

async function appendPostgres(): Promise<Row[]> {
  const bench = 'append-postgres';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  const sizes = POSTGRES_SIZES;
  const keyledgerSchema = freshSchemaName('kl_bench_append');
  const emmettSchema = freshSchemaName('kl_bench_emmett');
  try {
    await createSchema(emmettSchema);
    const store = await openPostgresEventStore(PG_URL, { schema: keyledgerSchema, poolSize: WRITERS });
    const emmett = await openEmmett(emmettSchema);
    // The store's `events` table (postgres.ts) under another name, in the same schema.
    const pool = new pg.Pool({ connectionString: PG_URL, max: WRITERS });
    pool.on('error', () => undefined);
    try {
      const s = `"${keyledgerSchema}"`;
      for (const statement of postgresEventsTable(s, 'raw_events')) await pool.query(statement);
      const insertSql = `insert into ${s}.raw_events (stream, revision, id, type, data, metadata) values ($1, $2, $3, $4, $5, $6)`;
      const rawInsert = async (row: RawRow): Promise<void> => {
        await pool.query(insertSql, [row.stream, row.revision, row.id, row.type, row.data, row.metadata]);
      };
      const {
        raw,
        distinct: [keyledger, emmettDistinctRun],
      } = await measureRawAndDistinct(sizes, rawInsert, [storeDistinct(store), emmettDistinct(emmett)]);

      // Case (b) on the same tables as (a), each run on a stream of its own, the four loops in
      // turn round after round, as (a) does.
      const budget = { total: Math.ceil(sizes.contended / sizes.rounds), maxMs: sizes.maxMs / sizes.rounds };
      const loops = [
        (round: number) => contendedReported(store, `org-contended-reported-${round}`, budget),
        (round: number) => contendedReadAppendRetry(store, `org-contended-read-${round}`, budget),
        () => contendedQueued(store, `org-${randomUUID()}`, budget),
        (round: number) => contendedEmmett(emmett, `org-contended-emmett-${round}`, budget),
      ];
      const runs: ContendedRun[][] = loops.map(() => []);
      for (let round = 0; round < sizes.rounds; round++) {
        for (const [k, loop] of loops.entries()) runs[k]!.push(await loop(round));
      }
      const [reported, readRetry, queued, emmettRetry] = runs.map(sumRuns) as [ContendedRun, ContendedRun, ContendedRun, ContendedRun];

      const rawRef = rawReference(raw);
      log(`raw INSERT: ${raw.done} rows in ${fmtMs(raw.ms)} = ${fmtRate(rawRef.refValue)} inserts/s`);
      logDistinct('keyledger', keyledger!);
      logDistinct('Emmett', emmettDistinctRun!);
      const notes = {
        reported: contendedNote('keyledger, retry on the revision its error reports', reported),
        readRetry: contendedNote('keyledger, read-append-retry', readRetry),
        queued: contendedNote('keyledger, through its command handler (lane per stream, group commit)', queued),
        emmett: contendedNote('Emmett, read-append-retry', emmettRetry),
      };
      const emmettRef = (label: string, totals: Totals): FigureRef => ({ refLabel: label, refValue: perSecond(totals.done, totals.ms), refUnit: 'appends/s' });
      const distinctVsEmmett = emmettRef('Emmett, 16 writers', emmettDistinctRun!);
      const contendedVsEmmett = emmettRef('Emmett, read-append-retry', emmettRetry);
      const rate = (t: Totals) => perSecond(t.done, t.ms);
      return [
        { bench, case: '(a) own streams', value: rate(keyledger!), unit: 'appends/s', ...rawRef, note: `${keyledger!.done} appends` },
        {
          bench,
          case: '(a) own streams',
          value: rate(keyledger!),
          unit: 'appends/s',
          ...distinctVsEmmett,
          note: `Emmett: ${emmettDistinctRun!.done} appends; target ratio >= 1.5`,
        },
        { bench, case: '(b) one stream, retry on reported rev', value: rate(reported), unit: 'appends/s', ...rawRef, note: notes.reported },
        { bench, case: '(b) one stream, read-append-retry', value: rate(readRetry), unit: 'appends/s', ...contendedVsEmmett, note: `${notes.readRetry}; target ratio >= 10` },
        { bench, case: '(b) one stream, command handler', value: rate(queued), unit: 'appends/s', ...contendedVsEmmett, note: `${notes.queued}; target ratio >= 10` },
        { bench, case: '(b) one stream, retry on reported rev', value: rate(reported), unit: 'appends/s', ...contendedVsEmmett, note: `Emmett: ${notes.emmett}` },
      ];
    } finally {
      await pool.end();
      await store.close();
      await emmett.close();
    }
  } finally {
    await dropSchemas([keyledgerSchema, emmettSchema]);
  }
}

export const appendBenchmarks: Benchmark[] = [
  {
    name: 'append-sqlite',
    title: `Append throughput, SQLite (16 writers, one event per append; ${SQLITE_SIZES.events} per case)`,
    run: appendSqlite,
  },
  {
    name: 'append-postgres',
    title: `Append throughput, PostgreSQL, keyledger beside Emmett ${EMMETT_VERSION} (16 writers, pools of 16, one event per append; ${POSTGRES_SIZES.events} per case)`,
    run: appendPostgres,
  },
];
