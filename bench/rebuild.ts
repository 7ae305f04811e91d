// Projection rebuild: `runner.rebuild('stream_activity')` over a seeded store, batched and per-event
// handlers, on SQLite (one file) and PostgreSQL; reference: a plain `store.readAll()` scan.

import { randomUUID } from 'node:crypto';
import { ProjectionRunner } from '../projections/core/runner.js';
import { openReadStore, type ReadStore } from '../projections/core/read-store.js';
import type { EventStore, NewEvent, RecordedEvent } from '../src/eventstore/port.js';
import { openPostgresEventStore } from '../src/eventstore/postgres.js';
import { openSqliteEventStore } from '../src/eventstore/sqlite.js';
import { streamActivityProjection, type StreamActivityTables } from '../test/support/stream-activity.js';
import { type Benchmark, type Figure, type Row, dropSchemas, fmtMs, fmtRate, freshSchemaName, log, perSecond, PG_URL, pgReachable, pgSkipped, tempDir, timed } from './lib.js';

interface Shape {
  readonly streams: number;
  readonly eventsPerStream: number;
  /** Events per append call while seeding; streams are visited round-robin, so they interleave. */
  readonly perCall: number;
  /** Concurrent seeding loops (SQLite serialises appends anyway). */
  readonly seedWriters: number;
}

const total = (shape: Shape) => shape.streams * shape.eventsPerStream;

const SQLITE_BATCHED: Shape = { streams: 10_000, eventsPerStream: 20, perCall: 10, seedWriters: 1 };
const SQLITE_PER_EVENT: Shape = { streams: 2_500, eventsPerStream: 20, perCall: 10, seedWriters: 1 };
const POSTGRES_BATCHED: Shape = { streams: 5_000, eventsPerStream: 20, perCall: 10, seedWriters: 16 };
const POSTGRES_PER_EVENT: Shape = { streams: 500, eventsPerStream: 20, perCall: 10, seedWriters: 16 };

function seedEvent(stream: number, n: number): NewEvent {
  return {
    id: randomUUID(),
    // Both types are handled by the projection.
    type: n % 4 === 3 ? 'Other' : 'Happened',
    data: { name: `key-${stream}-${n}`, scopes: ['a', 'b'], n },
    metadata: { requestId: randomUUID(), actor: `user-${stream % 100}` },
  };
}

/** Appends `shape` to the store: round after round, `perCall` events to every stream in turn. */
async function seed(store: EventStore, shape: Shape): Promise<void> {
  const rounds = Math.ceil(shape.eventsPerStream / shape.perCall);
  const calls = rounds * shape.streams;
  let next = 0;
  const { ms } = await timed(() =>
    Promise.all(
      Array.from({ length: shape.seedWriters }, async () => {
        while (next < calls) {
          const call = next++;
          const round = Math.floor(call / shape.streams);
          const stream = call % shape.streams;
          const first = round * shape.perCall;
          const count = Math.min(shape.perCall, shape.eventsPerStream - first);
          const events = Array.from({ length: count }, (_, k) => seedEvent(stream, first + k));
          await store.append(`acct-${stream}`, events, { expectedRevision: 'any' });
        }
      }),
    ),
  );
  log(`seeded ${total(shape)} events (${shape.streams} streams × ${shape.eventsPerStream}, ${shape.perCall} per append) in ${fmtMs(ms)}`);
}

async function scan(store: EventStore): Promise<number> {
  let n = 0;
  for await (const page of store.readAll()) n += page.length;
  return n;
}

/** Scans (reference), then rebuilds; the figure is events applied per second of rebuild. */
async function rebuildCase(
  bench: string,
  label: string,
  store: EventStore,
  readStore: ReadStore<StreamActivityTables>,
  shape: Shape,
  batched: boolean,
  target: string | undefined,
): Promise<Figure> {
  await seed(store, shape);
  const runner = new ProjectionRunner({ store, readStore, projections: [streamActivityProjection({ batched })], decode: (event: RecordedEvent) => event });
  await runner.migrate();

  await scan(store); // warm-up: page cache, prepared statements, connections
  const scanned = await timed(() => scan(store));
  const scanRate = perSecond(scanned.result, scanned.ms);
  log(`readAll scan: ${scanned.result} events in ${fmtMs(scanned.ms)} = ${fmtRate(scanRate)} events/s`);

  const statementsBefore = readStore.statementCount();
  const rebuilt = await timed(() => runner.rebuild('stream_activity'));
  const statements = readStore.statementCount() - statementsBefore;
  const rate = perSecond(rebuilt.result.events, rebuilt.ms);
  log(
    `rebuild (${batched ? 'batched' : 'per-event'}): ${rebuilt.result.events} events in ${fmtMs(rebuilt.ms)} = ${fmtRate(rate)} events/s, ` + `${statements} read-store statements`,
  );

  // Not a timing check: a rebuild that skipped or repeated events would make the figure meaningless.
  const check = await readStore.db
    .selectFrom('stream_activity')
    .select((eb) => [eb.fn.countAll<number>().as('rows'), eb.fn.sum<number>('events').as('applied')])
    .executeTakeFirstOrThrow();
  if (Number(check.rows) !== shape.streams || Number(check.applied) !== total(shape) || rebuilt.result.events !== total(shape)) {
    console.log(`  ! read model holds ${check.rows} rows and ${check.applied} applications; expected ${shape.streams} and ${total(shape)}`);
  }

  return {
    bench,
    case: label,
    value: rate,
    unit: 'events/s',
    refLabel: 'readAll() scan',
    refValue: scanRate,
    refUnit: 'events/s',
    note: `${total(shape)} events, ${shape.streams} streams, ${statements} read-store statements${target ? `; target ${target}` : ''}`,
  };
}

// ---------------------------------------------------------------- SQLite

async function rebuildSqliteCase(shape: Shape, batched: boolean, target: string | undefined): Promise<Figure> {
  const tmp = tempDir('rebuild');
  try {
    // Event store and read store in ONE file, as in production.
    const path = tmp.file('keyledger.db');
    const store = openSqliteEventStore(path);
    const readStore = await openReadStore<StreamActivityTables>({ kind: 'sqlite', path });
    try {
      const label = batched ? 'rebuild, batched handler' : 'rebuild, per-event handler';
      return await rebuildCase('rebuild-sqlite', label, store, readStore, shape, batched, target);
    } finally {
      await readStore.close();
      await store.close();
    }
  } finally {
    tmp.remove();
  }
}

async function rebuildSqlite(): Promise<Row[]> {
  return [await rebuildSqliteCase(SQLITE_BATCHED, true, '>= 100,000 events/s'), await rebuildSqliteCase(SQLITE_PER_EVENT, false, undefined)];
}

// ---------------------------------------------------------------- PostgreSQL

async function rebuildPostgresCase(shape: Shape, batched: boolean): Promise<Figure> {
  // Event store and read store both on PostgreSQL, each in a fresh schema.
  const eventSchema = freshSchemaName('kl_bench_rebuild_es');
  const readSchema = freshSchemaName('kl_bench_rebuild_rs');
  try {
    const store = await openPostgresEventStore(PG_URL, { schema: eventSchema, poolSize: 16 });
    try {
      const readStore = await openReadStore<StreamActivityTables>({ kind: 'postgres', url: PG_URL, schema: readSchema });
      try {
        const label = batched ? 'rebuild, batched handler' : 'rebuild, per-event handler';
        return await rebuildCase('rebuild-postgres', label, store, readStore, shape, batched, undefined);
      } finally {
        await readStore.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    await dropSchemas([eventSchema, readSchema]);
  }
}

async function rebuildPostgres(): Promise<Row[]> {
  const bench = 'rebuild-postgres';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  return [await rebuildPostgresCase(POSTGRES_BATCHED, true), await rebuildPostgresCase(POSTGRES_PER_EVENT, false)];
}

export const rebuildBenchmarks: Benchmark[] = [
  {
    name: 'rebuild-sqlite',
    title: `Projection rebuild, SQLite (event store and read store in one file; ${total(SQLITE_BATCHED)} events batched, ${total(SQLITE_PER_EVENT)} per-event)`,
    run: rebuildSqlite,
  },
  {
    name: 'rebuild-postgres',
    title: `Projection rebuild, PostgreSQL (separate schemas; ${total(POSTGRES_BATCHED)} events batched, ${total(POSTGRES_PER_EVENT)} per-event)`,
    run: rebuildPostgres,
  },
];
