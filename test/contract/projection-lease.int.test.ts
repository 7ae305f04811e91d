// The projection lease on PostgreSQL: of several instances on one read store, one applies the
// projections and the others follow its checkpoints; when it dies or loses its connection,
// another takes over within 5 s, and no event is applied twice or lost.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { EventStore, NewEvent, Position, RecordedEvent } from '../../src/eventstore/port.js';
import { openPostgresEventStore } from '../../src/eventstore/postgres.js';
import { leaseFor } from '../../projections/core/lease.js';
import { openReadStore, type ReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner, type LeaderDuty } from '../../projections/core/runner.js';
import { silentLogger } from '../../src/platform/logger.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';
import { streamActivityProjection, type StreamActivityTables } from '../support/stream-activity.js';

const available = await pgReachable();

interface Instance {
  readonly id: string;
  readonly store: EventStore;
  readonly readStore: ReadStore<StreamActivityTables>;
  readonly runner: ProjectionRunner<StreamActivityTables, RecordedEvent>;
  readonly duty: { starts: number; stops: number };
  stopped: boolean;
}

const event = (): NewEvent => ({ id: randomUUID(), type: 'Happened', data: { n: 1 } });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 8000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describePg(available, 'projection lease on PostgreSQL', () => {
  let events: Awaited<ReturnType<typeof createTestSchema>>;
  let reads: Awaited<ReturnType<typeof createTestSchema>>;
  let instances: Instance[] = [];

  async function startInstance(id: string): Promise<Instance> {
    const store = await openPostgresEventStore(PG_URL, { schema: events.schema, poolSize: 4 });
    const location = { kind: 'postgres', url: PG_URL, schema: reads.schema } as const;
    const readStore = await openReadStore<StreamActivityTables>(location);
    const duty = { starts: 0, stops: 0 };
    const leaderDuty: LeaderDuty = {
      name: 'count',
      start: () => void duty.starts++,
      stop: async () => void duty.stops++,
    };
    const lease = leaseFor(location, { instance: id, logger: silentLogger(), timeoutMs: 2000, db: readStore.db });
    const runner = new ProjectionRunner({
      store,
      readStore,
      projections: [streamActivityProjection({ batched: true })],
      decode: (e: RecordedEvent) => e,
      batchSize: 50,
      retryDelayMs: 50,
      lease,
      duties: [leaderDuty],
    });
    await runner.migrate();
    runner.start();
    const instance: Instance = { id, store, readStore, runner, duty, stopped: false };
    instances.push(instance);
    return instance;
  }

  async function stopInstance(instance: Instance): Promise<void> {
    if (instance.stopped) return;
    instance.stopped = true;
    await instance.runner.stop();
    await instance.readStore.close();
    await instance.store.close();
  }

  const leaders = () => instances.filter((i) => !i.stopped && i.runner.leading);

  /** Ends a backend as PostgreSQL ends one on a restart or an idle timeout (57P01). */
  async function terminate(pid: number): Promise<void> {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
  }

  async function appliedCounts(readStore: ReadStore<StreamActivityTables>): Promise<Map<string, number>> {
    const rows = await readStore.db.selectFrom('stream_activity').select(['stream', 'events']).execute();
    return new Map(rows.map((r) => [r.stream, r.events]));
  }

  beforeEach(async () => {
    events = await createTestSchema('kl_test_lease_events');
    reads = await createTestSchema('kl_test_lease_reads');
    instances = [];
  });

  afterEach(async () => {
    await Promise.allSettled(instances.map(stopInstance));
    await Promise.allSettled([events.drop(), reads.drop()]);
  });

  it('one of three instances holds the lease and applies; the others follow its checkpoints and read their own writes', async () => {
    const [a, b, c] = [await startInstance('inst-a'), await startInstance('inst-b'), await startInstance('inst-c')];
    const leader = await until('a lease holder', () => leaders()[0]);
    await sleep(1500); // past the followers' next tries: they must still not hold it
    expect(leaders()).toEqual([leader]);
    for (const i of [a, b, c]) expect(i.duty.starts).toBe(i === leader ? 1 : 0);

    // Every instance appends and waits until it can read its write: the followers learn it from the holder.
    const appended = new Map<string, number>();
    await Promise.all(
      [a, b, c].map(async (i) => {
        for (let n = 0; n < 20; n++) {
          const stream = `${i.id}-${n % 4}`;
          const { position } = await i.store.append(stream, [event()]);
          appended.set(stream, (appended.get(stream) ?? 0) + 1);
          await i.runner.waitFor(position, { timeoutMs: 5000 });
          expect((await appliedCounts(i.readStore)).get(stream)).toBe(appended.get(stream));
        }
      }),
    );
    expect(await appliedCounts(a.readStore)).toEqual(appended);
    for (const i of [a, b, c]) {
      expect(i.runner.localStates()[0]!.state).toBe(i === leader ? 'running' : 'following');
      const status = await i.runner.lease();
      expect(status).toMatchObject({ kind: 'postgres', instance: i.id, held: i === leader, holder: { instance: leader.id } });
      expect(status.holder?.backendPid).toBeGreaterThan(0);
    }
  });

  for (const how of ['its lease connection is ended (pg_terminate_backend)', 'it stops (SIGTERM)'] as const) {
    it(`when the holder goes away (${how}), another takes over within 5 s; under writes, no event is lost or applied twice`, async () => {
      await startInstance('inst-a');
      await startInstance('inst-b');
      await startInstance('inst-c');
      const leader = await until('a lease holder', () => leaders()[0]);
      const writer = instances.find((i) => i !== leader)!;
      const appended = new Map<string, number>();
      let writing = true;
      let last: Position | undefined;
      const writes = (async () => {
        for (let n = 0; writing && !writer.stopped; n++) {
          const stream = `s-${n % 10}`;
          last = (await writer.store.append(stream, [event()])).position;
          appended.set(stream, (appended.get(stream) ?? 0) + 1);
          await sleep(5);
        }
      })();
      await sleep(300);
      try {
        await handOver();
      } finally {
        writing = false;
        await writes;
      }
      async function handOver() {
        const t0 = Date.now();
        if (how === 'it stops (SIGTERM)') {
          await stopInstance(leader);
        } else {
          const pid = (await leader.runner.lease()).holder?.backendPid;
          expect(pid).toBeGreaterThan(0);
          await terminate(pid!);
        }
        const next = await until('another holder', () => leaders().find((i) => i !== leader));
        const takeoverMs = Date.now() - t0;
        expect(takeoverMs).toBeLessThan(5000);
        expect(leader.runner.leading).toBe(false);
        expect(leader.duty.stops).toBeGreaterThanOrEqual(1);
        await until('the new holder to start its duty', () => next.duty.starts === 1);

        // The projections advance on the new holder.
        await sleep(300);
      }
      const next = leaders()[0]!;
      for (const i of instances.filter((x) => !x.stopped)) await i.runner.waitFor(last!, { timeoutMs: 5000 });
      expect(await appliedCounts(next.readStore)).toEqual(appended);
      // The old holder, if it lives, follows the new one.
      if (!leader.stopped) {
        await until('the old holder to follow', () => leader.runner.localStates()[0]!.state === 'following');
        expect((await leader.runner.lease()).holder?.instance).toBe(next.id);
      }
    });
  }
});
