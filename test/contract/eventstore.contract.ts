// The event-store contract: every adapter passes the same suite.

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DuplicateEventIdError, InvalidAppendError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import type { EventStore, NewEvent, Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';

export interface ContractOptions {
  /** The store refuses a partial reuse of event ids (KurrentDB follows its server's own rules). */
  readonly refusesPartialIdReuse?: boolean;
}

function event(type = 'Happened', data: Record<string, unknown> = {}): NewEvent {
  return { id: randomUUID(), type, data: { ...data } as NewEvent['data'], metadata: { requestId: randomUUID() } };
}

async function collectAll(store: EventStore, after: Position = START): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  for await (const page of store.readAll({ after })) all.push(...page);
  return all;
}

/** Reads a subscription in the background until `count` events arrived or the time is up. */
function drain(subscription: Subscription, count: number, timeoutMs = 15_000): Promise<RecordedEvent[]> {
  const received: RecordedEvent[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscription delivered ${received.length} of ${count} events`)), timeoutMs);
    (async () => {
      for await (const batch of subscription) {
        expect(batch.length).toBeGreaterThan(0);
        received.push(...batch);
        if (received.length >= count) break;
      }
      clearTimeout(timer);
      resolve(received);
    })().catch((error: unknown) => {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
}

async function expectWrongRevision(promise: Promise<unknown>, actual: bigint | null): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  expect((error as WrongExpectedRevisionError).actual).toBe(actual);
}

export function describeEventStoreContract(name: string, open: () => Promise<EventStore>, teardown?: () => Promise<void>, options: ContractOptions = {}): void {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    const stream = () => `test-${randomUUID()}`;

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
      await teardown?.();
    });

    it('appends events and reads them back in order, with revisions, positions and metadata', async () => {
      const s = stream();
      const events = [event('KeyCreated', { name: 'a' }), event('KeyRenamed', { name: 'b', nested: { n: 1, list: [1, 'x', null] } })];
      const result = await store.append(s, events, { expectedRevision: 'no_stream' });
      expect(result.nextRevision).toBe(1n);

      const read = await store.readStream(s);
      expect(read.map((e) => [e.id, e.type, e.revision])).toEqual([
        [events[0]!.id, 'KeyCreated', 0n],
        [events[1]!.id, 'KeyRenamed', 1n],
      ]);
      expect(read[1]!.data).toEqual({ name: 'b', nested: { n: 1, list: [1, 'x', null] } });
      expect(read[0]!.metadata).toEqual(events[0]!.metadata);
      expect(read[0]!.stream).toBe(s);
      expect(read[0]!.recordedAt).toBeInstanceOf(Date);
      expect(read[0]!.position < read[1]!.position).toBe(true);
      expect(result.position).toBe(read[1]!.position);
      expect(await store.readStream(s, { fromRevision: 1n })).toHaveLength(1);
    });

    it('reads a stream that does not exist as empty', async () => {
      expect(await store.readStream(stream())).toEqual([]);
    });

    it('honours each expected revision, and a refused append writes nothing', async () => {
      const s = stream();
      await expectWrongRevision(store.append(s, [event()], { expectedRevision: 'exists' }), null);
      await expectWrongRevision(store.append(s, [event()], { expectedRevision: 0n }), null);
      await store.append(s, [event()], { expectedRevision: 'no_stream' });
      await expectWrongRevision(store.append(s, [event()], { expectedRevision: 'no_stream' }), 0n);
      await store.append(s, [event()], { expectedRevision: 0n });
      await expectWrongRevision(store.append(s, [event()], { expectedRevision: 0n }), 1n);
      await expectWrongRevision(store.append(s, [event()], { expectedRevision: 5n }), 1n);
      await store.append(s, [event()], { expectedRevision: 'exists' });
      const any = await store.append(s, [event(), event()], { expectedRevision: 'any' });
      expect(any.nextRevision).toBe(4n);
      await store.append(stream(), [event()], { expectedRevision: 'any' });
      expect((await store.readStream(s)).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
    });

    it('lets exactly one of two concurrent writers expecting the same revision win', async () => {
      const s = stream();
      await store.append(s, [event()], { expectedRevision: 'no_stream' });
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => store.append(s, [event()], { expectedRevision: 0n })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(WrongExpectedRevisionError);
      expect(await store.readStream(s)).toHaveLength(2);
    });

    it('acknowledges a replayed append by event id without writing it again', async () => {
      const s = stream();
      const batch = [event(), event()];
      const first = await store.append(s, batch, { expectedRevision: 'no_stream' });
      const again = await store.append(s, batch, { expectedRevision: 'no_stream' });
      expect(again).toEqual(first);
      const anyAgain = await store.append(s, batch, { expectedRevision: 'any' });
      expect(anyAgain.nextRevision).toBe(first.nextRevision);
      expect(await store.readStream(s)).toHaveLength(2);
      // PostgreSQL shows a commit once every older transaction of the cluster has ended: wait for both, then for no third.
      await vi.waitUntil(async () => (await collectAll(store)).filter((e) => e.stream === s).length >= 2);
      expect((await collectAll(store)).filter((e) => e.stream === s)).toHaveLength(2);
    });

    if (options.refusesPartialIdReuse !== false) {
      it('refuses to reuse an event id in another stream or in a batch with new events', async () => {
        const s = stream();
        const known = event();
        await store.append(s, [known]);
        await expect(store.append(stream(), [known])).rejects.toBeInstanceOf(DuplicateEventIdError);
        await expect(store.append(s, [known, event()])).rejects.toBeInstanceOf(DuplicateEventIdError);
        expect(await store.readStream(s)).toHaveLength(1);
      });
    }

    it('refuses malformed appends', async () => {
      await expect(store.append(stream(), [])).rejects.toBeInstanceOf(InvalidAppendError);
      await expect(store.append(stream(), [{ id: 'not-a-uuid', type: 'X', data: {} }])).rejects.toBeInstanceOf(InvalidAppendError);
      await expect(store.append('', [event()])).rejects.toBeInstanceOf(InvalidAppendError);
    });

    it('keeps one global order across streams and resumes reading from a position', async () => {
      const before = await store.headPosition();
      const a = stream();
      const b = stream();
      const e1 = event();
      const e2 = event();
      const e3 = event();
      await store.append(a, [e1]);
      await store.append(b, [e2]);
      await store.append(a, [e3]);
      // PostgreSQL shows a commit once every older transaction of the cluster has ended.
      const all = await vi.waitUntil(async () => {
        const read = await collectAll(store, before);
        return read.length === 3 ? read : false;
      });
      expect(all.map((e) => e.id)).toEqual([e1.id, e2.id, e3.id]);
      for (let i = 1; i < all.length; i++) expect(all[i - 1]!.position < all[i]!.position).toBe(true);
      expect((await collectAll(store, all[0]!.position)).map((e) => e.id)).toEqual([e2.id, e3.id]);
      const limited: RecordedEvent[] = [];
      for await (const page of store.readAll({ after: before, limit: 2 })) limited.push(...page);
      expect(limited.map((e) => e.id)).toEqual([e1.id, e2.id]);
      expect(await store.headPosition()).toBe(all[2]!.position);
      expect(await store.countAfter(before, 100)).toBe(3);
      expect(await store.countAfter(before, 2)).toBe(2);
      expect(await store.countAfter(all[2]!.position, 100)).toBe(0);
    });

    it('subscribes from a position: catches up, then goes live, without a gap or a duplicate', async () => {
      const s = stream();
      const first = await store.append(s, [event('One')]);
      await store.append(s, [event('Two'), event('Three')]);
      const subscription = store.subscribe({ after: first.position, batchSize: 1 });
      const received = drain(subscription, 4);
      await new Promise((r) => setTimeout(r, 50));
      await store.append(s, [event('Four')]);
      await store.append(stream(), [event('Five')]);
      const events = await received;
      await subscription.close();
      expect(events.map((e) => e.type)).toEqual(['Two', 'Three', 'Four', 'Five']);
    });

    it('ends a subscription promptly on close, even while it waits', async () => {
      const subscription = store.subscribe({ after: await store.headPosition() });
      const iterating = (async () => {
        let n = 0;
        for await (const batch of subscription) n += batch.length;
        return n;
      })();
      await new Promise((r) => setTimeout(r, 50));
      await subscription.close();
      expect(await iterating).toBe(0);
    });

    it('gives a live reader every event exactly once while concurrent writers race', async () => {
      const start = await store.headPosition();
      const writers = 8;
      const perWriter = 25;
      const contended = stream();
      const total = writers * perWriter;
      const subscription = store.subscribe({ after: start, batchSize: 7 });
      const received = drain(subscription, total, 30_000);

      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          const own = stream();
          for (let i = 0; i < perWriter; i++) {
            if (i % 5 === 0) {
              // The contended stream: read the revision, append, retry on conflict.
              for (;;) {
                const current = await store.readStream(contended);
                const expected = current.length === 0 ? ('no_stream' as const) : current[current.length - 1]!.revision;
                try {
                  await store.append(contended, [event('Contended', { w, i })], { expectedRevision: expected });
                  break;
                } catch (error) {
                  if (!(error instanceof WrongExpectedRevisionError)) throw error;
                }
              }
            } else {
              await store.append(own, [event('Own', { w, i })]);
            }
          }
        }),
      );

      const live = await received;
      await subscription.close();
      const stored = await collectAll(store, start);
      expect(stored).toHaveLength(total);
      expect(live.map((e) => e.id)).toEqual(stored.map((e) => e.id));
      expect(new Set(live.map((e) => e.id)).size).toBe(total);
      for (let i = 1; i < live.length; i++) expect(live[i - 1]!.position < live[i]!.position).toBe(true);
      expect((await store.readStream(contended)).map((e) => e.revision)).toEqual(Array.from({ length: writers * 5 }, (_, i) => BigInt(i)));
    });
  });
}
