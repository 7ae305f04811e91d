// The PostgreSQL event store against the shared contract, plus what only PostgreSQL can get
// wrong: visibility held back by an older transaction, several pools on one schema, the
// LISTEN connection dropping, an unreachable server, and one round trip per append.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DuplicateEventIdError, InvalidAppendError, StoreUnavailableError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import type { EventStore, NewEvent, Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';
import { EVENT_STORE_MIGRATION_TABLE, openPostgresEventStore } from '../../src/eventstore/postgres.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';
import { describeEventStoreContract } from './eventstore.contract.js';

const available = await pgReachable();

type Store = EventStore & { readonly schema: string };

const stores: Store[] = [];
const schemas: Array<{ drop(): Promise<void> }> = [];

async function openFresh(logger?: { warn(obj: object, msg?: string): void }): Promise<Store> {
  const schema = await createTestSchema();
  schemas.push(schema);
  return openOn(schema.schema, logger);
}

async function openOn(schema: string, logger?: { warn(obj: object, msg?: string): void }): Promise<Store> {
  const store = await openPostgresEventStore(PG_URL, { schema, poolSize: 5, ...(logger ? { logger } : {}) });
  stores.push(store);
  return store;
}

async function teardown(): Promise<void> {
  const open = stores.splice(0);
  await Promise.all(open.map((s) => s.close()));
  const created = schemas.splice(0);
  await Promise.all(created.map((s) => s.drop()));
}

function event(type = 'Happened', data: Record<string, string | number> = {}): NewEvent {
  return { id: randomUUID(), type, data };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads a subscription in the background into `received`. */
function consume(subscription: Subscription): { received: RecordedEvent[]; done: Promise<void> } {
  const received: RecordedEvent[] = [];
  const done = (async () => {
    for await (const batch of subscription) {
      expect(batch.length).toBeGreaterThan(0);
      received.push(...batch);
    }
  })();
  return { received, done };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function rawClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  return client;
}

describePg(available, 'postgres event store', () => {
  describeEventStoreContract('postgres', () => openFresh(), teardown);

  describe('postgres specifics', () => {
    afterEach(teardown);

    it('holds back a commit behind an older transaction still open, then delivers both in transaction order', async () => {
      const store = await openFresh();
      const { received, done } = consume(store.subscribe({ after: START }));
      const raw = await rawClient();
      try {
        await raw.query('begin');
        // Written first, so this transaction holds the lower transaction id; it commits last.
        await raw.query(`insert into "${store.schema}".events (stream, revision, id, type, data, metadata) values ('raw-stream', 0, $1, 'Raw', '{}', '{}')`, [randomUUID()]);
        const stored = await store.append('store-stream', [event('Stored')]);

        await sleep(300);
        expect(received).toEqual([]);
        expect(await store.headPosition()).toBe(START);
        expect(await store.countAfter(START, 10)).toBe(0);
        expect(await store.readStream('store-stream')).toHaveLength(1);

        // The raw transaction sends no notification: the subscriber must notice by itself.
        await raw.query('commit');
        await until(() => received.length >= 2, 5000, 'both events');
        expect(received.map((e) => e.type)).toEqual(['Raw', 'Stored']);
        expect(received[0]!.position < received[1]!.position).toBe(true);
        expect(received[1]!.position).toBe(stored.position);
        expect(await store.headPosition()).toBe(stored.position);
      } finally {
        await raw.query('rollback').catch(() => undefined);
        await raw.end();
      }
      await store.close();
      await done;
      expect(received).toHaveLength(2);
    });

    it('waits for an older transaction that writes no event, without a notification from it', async () => {
      const store = await openFresh();
      const { received, done } = consume(store.subscribe({ after: START }));
      const raw = await rawClient();
      try {
        await raw.query('begin');
        await raw.query('select pg_current_xact_id()');
        await store.append('s', [event('Stored')]);
        await sleep(200);
        expect(received).toEqual([]);
        await raw.query('rollback');
        await until(() => received.length === 1, 5000, 'the held-back event');
      } finally {
        await raw.query('rollback').catch(() => undefined);
        await raw.end();
      }
      await store.close();
      await done;
    });

    it('gives a subscriber on one of two instances sharing a schema every event exactly once', async () => {
      const a = await openFresh();
      const b = await openOn(a.schema);
      const subscription = a.subscribe({ after: START, batchSize: 13 });
      const { received, done } = consume(subscription);

      // A notification from the other instance wakes the subscriber well before its safety poll.
      const first = await b.append('warm-up', [event('FromB')]);
      await until(() => received.length === 1, 1500, 'the event appended through the other instance');
      expect(received[0]!.position).toBe(first.position);

      const appended: string[] = [received[0]!.id];
      await Promise.all(
        [a, b, a, b, a, b].map(async (store, w) => {
          for (let i = 0; i < 20; i++) {
            const batch = Array.from({ length: 1 + (i % 3) }, () => event('Raced', { w, i }));
            const stream = i % 4 === 0 ? 'shared' : `own-${w}`;
            await store.append(stream, batch, { expectedRevision: 'any' });
            appended.push(...batch.map((e) => e.id));
          }
        }),
      );
      await until(() => received.length >= appended.length, 10_000, 'every appended event');
      await sleep(100);
      await subscription.close();
      await done;

      expect(received).toHaveLength(appended.length);
      expect(new Set(received.map((e) => e.id))).toEqual(new Set(appended));
      for (let i = 1; i < received.length; i++) expect(received[i - 1]!.position < received[i]!.position).toBe(true);
      const all: RecordedEvent[] = [];
      for await (const page of b.readAll()) all.push(...page);
      expect(all.map((e) => e.id)).toEqual(received.map((e) => e.id));
      // Each stream's revision order agrees with the global order.
      const lastRevision = new Map<string, bigint>();
      for (const e of all) {
        expect(e.revision).toBe((lastRevision.get(e.stream) ?? -1n) + 1n);
        lastRevision.set(e.stream, e.revision);
      }
    });

    it('answers concurrent replays of one batch with the original result, and refuses the same ids in another stream', async () => {
      const a = await openFresh();
      const b = await openOn(a.schema);
      const batch = [event(), event(), event()];
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).append('replayed', batch, { expectedRevision: 'no_stream' })));
      for (const r of results) expect(r).toEqual(results[0]);
      expect(await a.readStream('replayed')).toHaveLength(3);

      const fresh = [event()];
      const raced = await Promise.allSettled([a.append('one', fresh), b.append('two', fresh), a.append('three', fresh)]);
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of raced) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(DuplicateEventIdError);
      // Visible once every older transaction of the cluster has ended (the test database is shared).
      await vi.waitUntil(async () => (await a.countAfter(START, 100)) >= 4);
      expect(await a.countAfter(START, 100)).toBe(4);
    });

    it('keeps live delivery after its LISTEN connection is killed, and says so', async () => {
      const warnings: string[] = [];
      const store = await openFresh({ warn: (_obj, msg) => warnings.push(msg ?? '') });
      const subscription = store.subscribe({ after: START });
      const { received, done } = consume(subscription);
      await store.append('s', [event()]);
      await until(() => received.length === 1, 2000, 'the first event');

      const admin = await rawClient();
      try {
        const killed = await admin.query(`select pg_terminate_backend(pid) as ok from pg_stat_activity where query = $1 and pid <> pg_backend_pid()`, [
          `listen "keyledger_events_${store.schema}"`,
        ]);
        expect(killed.rowCount).toBe(1);
      } finally {
        await admin.end();
      }
      await until(() => warnings.length > 0, 2000, 'a warning');
      expect(warnings[0]).toMatch(/LISTEN/);
      await sleep(300);
      const started = Date.now();
      await store.append('s', [event()]);
      await until(() => received.length === 2, 2000, 'the event after the reconnect');
      expect(Date.now() - started).toBeLessThan(1500);
      await subscription.close();
      await done;
    });

    it('orders by number, not by text, past ten revisions and positions', async () => {
      const store = await openFresh();
      const batch = Array.from({ length: 12 }, (_, i) => event('Numbered', { i }));
      const result = await store.append('long', batch, { expectedRevision: 'no_stream' });
      for (let i = 0; i < 3; i++) await store.append('long', [event('Later', { i })]);
      const read = await store.readStream('long');
      expect(read.map((e) => e.revision)).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i)));
      expect(read[11]!.position).toBe(result.position);
      const all = await vi.waitUntil(async () => {
        const seen: RecordedEvent[] = [];
        for await (const page of store.readAll()) seen.push(...page);
        return seen.length >= read.length ? seen : false;
      });
      expect(all.map((e) => e.id)).toEqual(read.map((e) => e.id));
      expect(await store.headPosition()).toBe(read[14]!.position);
      expect((await store.readStream('long', { fromRevision: 10n })).map((e) => e.revision)).toEqual([10n, 11n, 12n, 13n, 14n]);
    });

    it('uses fixed-width hex positions and refuses a cursor that is not one', async () => {
      const store = await openFresh();
      const { position } = await store.append('s', [event()]);
      expect(position).toMatch(/^[0-9a-f]{32}$/);
      expect(() => store.subscribe({ after: 'nonsense' as Position })).toThrow(InvalidAppendError);
      await expect(store.countAfter('12' as Position, 1)).rejects.toBeInstanceOf(InvalidAppendError);
      await expect(store.append('s\0x', [event()])).rejects.toBeInstanceOf(InvalidAppendError);
      await expect(store.append('s', [{ id: randomUUID(), type: 'Bad', data: { text: 'nul \u0000 inside' } }])).rejects.toBeInstanceOf(InvalidAppendError);
      expect(await store.readStream('s')).toHaveLength(1);
    });

    it('sends one statement per append, whatever the expectation and whatever the outcome', async () => {
      const store = await openFresh();
      // Warm the pool, so that opening connections is not counted.
      await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(`warm-${i}`, [event()])));
      // Every statement of the store goes through a pg Client's query (the pool's query included):
      // one call is one round trip, its Parse, Bind, Execute and Sync sent together.
      const query = vi.spyOn(pg.Client.prototype, 'query');
      const sent = async (work: () => Promise<unknown>): Promise<string[]> => {
        query.mockClear();
        await work().catch((error: unknown) => error);
        const texts = query.mock.calls.map(([q]) => (typeof q === 'string' ? q : (q as { text: string }).text));
        // The notification that wakes listeners goes after the commit, on its own, without the caller waiting for it.
        return texts.filter((text) => !text.includes('pg_notify'));
      };
      try {
        const batch = [event(), event()];
        const oneAppend = [expect.stringMatching(/^select .* from "[^"]+"\.append_events\(/)];
        expect(await sent(() => store.append('s', batch, { expectedRevision: 'no_stream' }))).toEqual(oneAppend);
        expect(await sent(() => store.append('s', [event()], { expectedRevision: 1n }))).toEqual(oneAppend);
        expect(await sent(() => store.append('s', [event()], { expectedRevision: 'exists' }))).toEqual(oneAppend);
        expect(await sent(() => store.append('s', [event()], { expectedRevision: 'any' }))).toEqual(oneAppend);
        expect(await sent(() => store.append('s', batch, { expectedRevision: 'no_stream' }))).toEqual(oneAppend);
        expect(await sent(() => store.append('t', [batch[0]!]))).toEqual(oneAppend);
        expect(await sent(() => store.append('s', [event()], { expectedRevision: 0n }))).toEqual(oneAppend);
      } finally {
        query.mockRestore();
      }
      // And those were the answers the port promises.
      await expect(store.append('s', [event()], { expectedRevision: 0n })).rejects.toMatchObject({ name: WrongExpectedRevisionError.name, actual: 4n });
      await expect(store.append('t', [event(), event()], { expectedRevision: 'no_stream' })).resolves.toMatchObject({ nextRevision: 1n });
      expect((await store.readStream('s')).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
    });

    it('answers each outcome of the one-statement append as the port says', async () => {
      const store = await openFresh();
      const batch = [event(), event(), event()];
      const first = await store.append('s', batch, { expectedRevision: 'no_stream' });
      expect(first.nextRevision).toBe(2n);
      // A replay answers the first append's result, whatever it expects now.
      expect(await store.append('s', batch, { expectedRevision: 7n })).toEqual(first);
      // The first id already stored is the one named, in the batch's order.
      const fresh = event();
      const reuse = await store.append('s', [fresh, batch[1]!, batch[0]!]).catch((error: unknown) => error);
      expect(reuse).toBeInstanceOf(DuplicateEventIdError);
      expect((reuse as DuplicateEventIdError).eventId).toBe(batch[1]!.id);
      // The same ids in another order are not a replay; consecutive ones of the stream are.
      await expect(store.append('s', [batch[1]!, batch[0]!])).rejects.toBeInstanceOf(DuplicateEventIdError);
      expect(await store.append('s', [batch[1]!, batch[2]!])).toEqual(first);
      await expect(store.append('other', [batch[0]!])).rejects.toBeInstanceOf(DuplicateEventIdError);
      const wrong = await store.append('none', [event()], { expectedRevision: 'exists' }).catch((error: unknown) => error);
      expect(wrong).toBeInstanceOf(WrongExpectedRevisionError);
      expect(wrong).toMatchObject({ stream: 'none', expected: 'exists', actual: null });
      // Nothing of a refused append was written, not even the stream's row.
      expect(await store.append('s', [fresh], { expectedRevision: 2n })).toMatchObject({ nextRevision: 3n });
      expect(await store.readStream('none')).toEqual([]);
      expect(await store.readStream('other')).toEqual([]);
      expect((await store.readStream('s')).map((e) => e.id)).toEqual([...batch.map((e) => e.id), fresh.id]);
    });

    it('gives a schema made before the append function that function, through the migrator', async () => {
      const before = await openFresh();
      const schema = before.schema;
      await before.append('s', [event()]);
      await before.close();
      // The schema as the store left it before migration 0002: no function, no record of it.
      const raw = await rawClient();
      try {
        await raw.query(`drop function "${schema}".append_events(text, text, bigint, uuid[], text[], text[], text[])`);
        await raw.query(`delete from "${schema}".${EVENT_STORE_MIGRATION_TABLE} where name = '0002_append_function'`);
      } finally {
        await raw.end();
      }
      const after = await openOn(schema);
      expect((await after.append('s', [event()], { expectedRevision: 0n })).nextRevision).toBe(1n);
      const check = await rawClient();
      try {
        const applied = await check.query<{ name: string }>(`select name from "${schema}".${EVENT_STORE_MIGRATION_TABLE} order by name`);
        expect(applied.rows.map((r) => r.name)).toEqual(['0001_streams_and_events', '0002_append_function']);
      } finally {
        await check.end();
      }
    });

    it('rejects with StoreUnavailableError when the server cannot be reached', async () => {
      await expect(openPostgresEventStore('postgres://127.0.0.1:1/test')).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('fails operations on a closed store with StoreUnavailableError', async () => {
      const store = await openFresh();
      await store.close();
      await expect(store.append('s', [event()])).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.headPosition()).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
});
