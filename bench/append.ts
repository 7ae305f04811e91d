// Append throughput with 16 concurrent writers, single-event appends: (a) each writer to its own
// streams, (b) all to one contended stream with retries; reference: raw single-row INSERTs.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { WrongExpectedRevisionError } from '../src/eventstore/errors.js';
import type { EventStore, NewEvent } from '../src/eventstore/port.js';
import { openPostgresEventStore, postgresEventsTable } from '../src/eventstore/postgres.js';
import { openSqliteEventStore, sqliteEventsTable } from '../src/eventstore/sqlite.js';
import { openSqliteFile } from '../src/sqlite/database.js';
import {
  type Benchmark,
  type Figure,
  type Row,
  concurrentLoops,
  dropSchemas,
  fmtMs,
  fmtRate,
  freshSchemaName,
  log,
  perSecond,
  PG_URL,
  pgReachable,
  pgSkipped,
  tempDir,
} from './lib.js';

const WRITERS = 16;
const STREAMS_PER_WRITER = 50;
const CONTENDED_STREAM = 'org-contended';

interface Sizes {
  /** Rows of the raw reference and appends of case (a), each split over `rounds`. */
  readonly events: number;
  /** Raw and (a) alternate round by round, so that a drift in the machine's load hits both alike. */
  readonly rounds: number;
  /** Successful appends wanted in case (b). */
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

/** Case (a): each writer appends to its own 50 streams, `expectedRevision: 'any'`. */
function measureDistinct(store: EventStore, prefix: string, total: number, maxMs: number) {
  return concurrentLoops(WRITERS, { total, maxMs }, async (w, i) => {
    await store.append(distinctStream(prefix, w, i), [smallEvent(w, i)], { expectedRevision: 'any' });
  });
}

/**
 * Case (b): every writer appends to the same stream, expecting the revision it believes is
 * current, and on a conflict retries with the revision the error reports.
 */
async function measureContended(store: EventStore, total: number, maxMs: number) {
  let conflicts = 0;
  const beliefs = Array.from({ length: WRITERS }, () => ({ known: null as bigint | null, successes: 0 }));
  const run = await concurrentLoops(WRITERS, { total, maxMs }, async (w, i) => {
    const belief = beliefs[w]!;
    const event = smallEvent(w, i);
    for (;;) {
      try {
        const result = await store.append(CONTENDED_STREAM, [event], { expectedRevision: belief.known ?? 'no_stream' });
        belief.known = result.nextRevision;
        belief.successes++;
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        conflicts++;
        belief.known = error.actual !== undefined ? error.actual : await lastRevision(store, CONTENDED_STREAM);
      }
    }
  });
  const stored = (await store.readStream(CONTENDED_STREAM)).length;
  if (stored !== run.done) console.log(`  ! contended stream holds ${stored} events, ${run.done} appends succeeded`);
  const successes = beliefs.map((b) => b.successes);
  return { ...run, conflicts, spread: `${Math.min(...successes)}–${Math.max(...successes)}` };
}

async function lastRevision(store: EventStore, stream: string): Promise<bigint | null> {
  const events = await store.readStream(stream);
  return events.length === 0 ? null : events[events.length - 1]!.revision;
}

/** Raw reference and case (a) in alternating rounds; returns each one's totals. */
async function measureRawAndDistinct(
  sizes: Sizes,
  rawInsert: (row: RawRow) => Promise<void>,
  store: EventStore,
): Promise<{ raw: { done: number; ms: number }; distinct: { done: number; ms: number } }> {
  await measureRaw(rawInsert, 'warm', sizes.warmUp, sizes.maxMs);
  await measureDistinct(store, 'warm', sizes.warmUp, sizes.maxMs);
  const raw = { done: 0, ms: 0 };
  const distinct = { done: 0, ms: 0 };
  const perRound = Math.ceil(sizes.events / sizes.rounds);
  for (let round = 0; round < sizes.rounds; round++) {
    // Fresh stream names each round, so that every round starts its streams at revision 0.
    const r = await measureRaw(rawInsert, `org${round}`, perRound, sizes.maxMs);
    raw.done += r.done;
    raw.ms += r.ms;
    const d = await measureDistinct(store, `org${round}`, perRound, sizes.maxMs);
    distinct.done += d.done;
    distinct.ms += d.ms;
  }
  return { raw, distinct };
}

function appendFigures(
  bench: string,
  raw: { done: number; ms: number },
  distinct: { done: number; ms: number },
  contended: { done: number; ms: number; conflicts: number; spread: string },
  target: string | undefined,
): Figure[] {
  const rawRate = perSecond(raw.done, raw.ms);
  const reference = { refLabel: 'raw INSERT, 16 writers', refValue: rawRate, refUnit: 'inserts/s' };
  const distinctRate = perSecond(distinct.done, distinct.ms);
  const contendedRate = perSecond(contended.done, contended.ms);
  const attemptRate = perSecond(contended.done + contended.conflicts, contended.ms);
  const conflictsPerAppend = (contended.conflicts / Math.max(1, contended.done)).toFixed(1);
  const targetNote = target ? `; target ratio ${target}` : '';
  log(`raw INSERT: ${raw.done} rows in ${fmtMs(raw.ms)} = ${fmtRate(rawRate)} inserts/s`);
  log(`(a) own streams: ${distinct.done} appends in ${fmtMs(distinct.ms)} = ${fmtRate(distinctRate)} appends/s`);
  log(
    `(b) one contended stream: ${contended.done} appends in ${fmtMs(contended.ms)} = ${fmtRate(contendedRate)} appends/s; ` +
      `${contended.conflicts} conflicts (${conflictsPerAppend} per append), ${fmtRate(attemptRate)} attempts/s, ` +
      `successful appends per writer ${contended.spread}`,
  );
  return [
    {
      bench,
      case: '(a) 16 writers, own streams',
      value: distinctRate,
      unit: 'appends/s',
      ...reference,
      note: `${distinct.done} appends${targetNote}`,
    },
    {
      bench,
      case: '(b) 16 writers, one stream',
      value: contendedRate,
      unit: 'appends/s',
      ...reference,
      note: `${contended.done} appends, ${conflictsPerAppend} conflicts/append, ${fmtRate(attemptRate)} attempts/s, per writer ${contended.spread}`,
    },
  ];
}

// ---------------------------------------------------------------- SQLite

/** The store's `events` table (sqlite.ts), under another name: same columns, same unique indexes. */
const SQLITE_RAW_SCHEMA = sqliteEventsTable('raw_events');

async function appendSqlite(): Promise<Row[]> {
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
    const { raw, distinct } = await measureRawAndDistinct(sizes, rawInsert, store);
    rawDb.close();
    await store.close();

    const contendedStore = openSqliteEventStore(tmp.file('contended.db'));
    await measureDistinct(contendedStore, 'warm', sizes.warmUp, sizes.maxMs);
    const contended = await measureContended(contendedStore, sizes.contended, sizes.maxMs);
    await contendedStore.close();
    return appendFigures('append-sqlite', raw, distinct, contended, '>= 0.5');
  } finally {
    tmp.remove();
  }
}

// ---------------------------------------------------------------- PostgreSQL

async function appendPostgres(): Promise<Row[]> {
  const bench = 'append-postgres';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  const sizes = POSTGRES_SIZES;
  const distinctSchema = freshSchemaName('kl_bench_append');
  const contendedSchema = freshSchemaName('kl_bench_contended');
  try {
    const store = await openPostgresEventStore(PG_URL, { schema: distinctSchema, poolSize: WRITERS });
    // The store's `events` table (postgres.ts) under another name, in the same schema.
    const pool = new pg.Pool({ connectionString: PG_URL, max: WRITERS });
    pool.on('error', () => undefined);
    const s = `"${distinctSchema}"`;
    for (const statement of postgresEventsTable(s, 'raw_events')) await pool.query(statement);
    const insertSql = `insert into ${s}.raw_events (stream, revision, id, type, data, metadata) values ($1, $2, $3, $4, $5, $6)`;
    const rawInsert = async (row: RawRow): Promise<void> => {
      await pool.query(insertSql, [row.stream, row.revision, row.id, row.type, row.data, row.metadata]);
    };
    const { raw, distinct } = await measureRawAndDistinct(sizes, rawInsert, store);
    await pool.end();
    await store.close();

    const contendedStore = await openPostgresEventStore(PG_URL, { schema: contendedSchema, poolSize: WRITERS });
    await measureDistinct(contendedStore, 'warm', sizes.warmUp, sizes.maxMs);
    const contended = await measureContended(contendedStore, sizes.contended, sizes.maxMs);
    await contendedStore.close();
    return appendFigures(bench, raw, distinct, contended, undefined);
  } finally {
    await dropSchemas([distinctSchema, contendedSchema]);
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
    title: `Append throughput, PostgreSQL (16 writers, pool of 16, one event per append; ${POSTGRES_SIZES.events} per case)`,
    run: appendPostgres,
  },
];
