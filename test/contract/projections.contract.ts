// The projection runner's behaviour, run on every read store (SQLite, PostgreSQL).

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { START, type EventStore, type NewEvent, type RecordedEvent } from '../../src/eventstore/port.js';
import type { ReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner, ProjectionTimeoutError } from '../../projections/core/runner.js';
import { streamActivityProjection, type StreamActivityTables } from '../support/stream-activity.js';

export interface ProjectionFixture {
  store: EventStore;
  readStore: ReadStore<StreamActivityTables>;
  /** A second read-store connection to the same place, as another process would have. */
  openOtherReadStore(): Promise<ReadStore<StreamActivityTables>>;
  close(): Promise<void>;
}

const event = (type = 'Happened'): NewEvent => ({ id: randomUUID(), type, data: { n: 1 } });

async function rows(readStore: ReadStore<StreamActivityTables>) {
  return readStore.db.selectFrom('stream_activity').selectAll().orderBy('stream').execute();
}

export function describeProjectionContract(name: string, open: () => Promise<ProjectionFixture>): void {
  describe(`projection runner: ${name}`, () => {
    let f: ProjectionFixture;
    const runners: ProjectionRunner<StreamActivityTables, RecordedEvent>[] = [];
    const runner = (projection = streamActivityProjection(), readStore = f.readStore) => {
      const r = new ProjectionRunner({ store: f.store, readStore, projections: [projection], decode: (event: RecordedEvent) => event, batchSize: 50, retryDelayMs: 20 });
      runners.push(r);
      return r;
    };

    beforeEach(async () => {
      f = await open();
    });
    afterEach(async () => {
      await Promise.all(runners.splice(0).map((r) => r.stop()));
      await f.close();
    });

    it('applies events in global order and lets a writer wait until it can read its write', async () => {
      const r = runner();
      await r.migrate();
      r.start();
      await f.store.append('a-1', [event(), event('Other')]);
      await f.store.append('b-1', [event('Ignored')]);
      const last = await f.store.append('a-1', [event()]);
      await r.waitFor(last.position);
      expect(await rows(f.readStore)).toEqual([{ stream: 'a-1', last_revision: 2, last_type: 'Happened', events: 3 }]);
      expect(r.position('stream_activity')).toBe(last.position);
    });

    it('times out a wait for a position that is not reached', async () => {
      const r = runner();
      await r.migrate();
      const appended = await f.store.append('a-1', [event()]);
      await expect(r.waitFor(appended.position, { timeoutMs: 50 })).rejects.toBeInstanceOf(ProjectionTimeoutError);
    });

    it('applies every event exactly once after a crash in the middle of a batch', async () => {
      let head = START;
      for (let s = 0; s < 10; s++)
        head = (
          await f.store.append(
            `s-${s}`,
            Array.from({ length: 12 }, () => event()),
          )
        ).position;

      // The first process dies at the 75th event: inside its second batch of 50.
      let seen = 0;
      const crashing = runner(
        streamActivityProjection({
          beforeEach: () => {
            if (++seen >= 75) throw new Error('simulated crash');
          },
        }),
      );
      await crashing.migrate();
      crashing.start();
      await expect(crashing.waitFor(head, { timeoutMs: 300 })).rejects.toBeInstanceOf(ProjectionTimeoutError);
      await crashing.stop();
      const afterCrash = await rows(f.readStore);
      // The first batch of 50 committed with its checkpoint; nothing of the failed batch did.
      expect(afterCrash.reduce((n, row) => n + row.events, 0)).toBe(50);

      // The next process starts from the checkpoint.
      const restarted = runner();
      restarted.start();
      await restarted.waitFor(head);
      const final = await rows(f.readStore);
      expect(final).toHaveLength(10);
      for (const row of final) expect(row).toMatchObject({ events: 12, last_revision: 11 });
    });

    it('retries a failed batch and reports the failure meanwhile', async () => {
      let failures = 2;
      const r = runner(
        streamActivityProjection({
          beforeEach: () => {
            if (failures > 0) {
              failures--;
              throw new Error('read store hiccup');
            }
          },
        }),
      );
      await r.migrate();
      r.start();
      const appended = await f.store.append('x-1', [event(), event()]);
      await r.waitFor(appended.position);
      expect(await rows(f.readStore)).toEqual([{ stream: 'x-1', last_revision: 1, last_type: 'Happened', events: 2 }]);
    });

    it('rebuilds into fresh tables with the same content, while running', async () => {
      const r = runner();
      await r.migrate();
      r.start();
      let last = START;
      for (let s = 0; s < 5; s++) last = (await f.store.append(`r-${s}`, [event(), event('Other'), event()])).position;
      await r.waitFor(last);
      const before = await rows(f.readStore);

      // Damage the read model, as a bug would; a rebuild starts from scratch.
      await f.readStore.db.updateTable('stream_activity').set({ events: 999 }).execute();
      const rebuilt = await r.rebuild('stream_activity');
      expect(rebuilt.events).toBe(15);
      expect(await rows(f.readStore)).toEqual(before);

      // It goes on live after the rebuild.
      const next = await f.store.append('r-0', [event()]);
      await r.waitFor(next.position);
      expect((await rows(f.readStore)).find((row) => row.stream === 'r-0')?.events).toBe(4);
    });

    it('reports each projection position and lag', async () => {
      const r = runner();
      await r.migrate();
      let last = START;
      for (let i = 0; i < 7; i++) last = (await f.store.append(`l-${i}`, [event()])).position;
      // PostgreSQL shows a commit once every older transaction of the cluster has ended.
      const behind = await vi.waitUntil(async () => (await r.status()).find((s) => s.head === last), { timeout: 10_000 });
      expect(behind).toMatchObject({ name: 'stream_activity', lagEvents: 7, lagCapped: false, state: 'stopped' });
      expect(behind.lagMs).toBeGreaterThanOrEqual(0);

      r.start();
      await r.waitFor(last);
      const [caughtUp] = await r.status();
      expect(caughtUp).toMatchObject({ lagEvents: 0, lagMs: 0, position: last, state: 'running' });
    });

    it('applies each event once when two instances feed the same read store', async () => {
      const a = runner();
      await a.migrate();
      const other = await f.openOtherReadStore();
      const b = runner(streamActivityProjection(), other);
      a.start();
      b.start();
      const lasts = await Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          let last = START;
          for (let i = 0; i < 15; i++) last = (await f.store.append(`w-${w}`, [event()])).position;
          return last;
        }),
      );
      const head = lasts.reduce((a, b) => (a > b ? a : b));
      await a.waitFor(head);
      await b.waitFor(head);
      const final = await rows(f.readStore);
      expect(final.map((row) => row.events)).toEqual([15, 15, 15, 15]);
      await b.stop();
      await other.close();
    });
  });
}
