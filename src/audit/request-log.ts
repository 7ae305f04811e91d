// The group-commit writer of request events (R22, R25): requests that arrive while an append is
// in flight share the next one, and each caller is answered only once its entry is durable.

import { randomUUID } from 'node:crypto';
import type { EventStore } from '../eventstore/port.js';
import { requestEvent, requestStream, type RequestEntry } from '../domain/requests.js';
import type { Metrics } from '../platform/metrics.js';

interface Pending {
  readonly id: string;
  readonly entry: RequestEntry;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface StreamQueue {
  waiting: Pending[];
  flushing: Promise<void> | null;
}

/** Batches per append, at most: large enough for any burst, small enough for one statement. */
const MAX_BATCH = 500;

export class RequestLog {
  readonly #store: EventStore;
  readonly #metrics: Metrics | undefined;
  readonly #streams = new Map<string, StreamQueue>();
  #closed = false;

  constructor(store: EventStore, metrics?: Metrics) {
    this.#store = store;
    this.#metrics = metrics;
  }

  /** Resolves once the entry is in the event store; rejects if it could not be written. */
  record(entry: RequestEntry): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the request log is closed'));
    const stream = requestStream(entry.orgId);
    let queue = this.#streams.get(stream);
    if (!queue) {
      queue = { waiting: [], flushing: null };
      this.#streams.set(stream, queue);
    }
    const done = new Promise<void>((resolve, reject) => queue.waiting.push({ id: randomUUID(), entry, resolve, reject }));
    if (!queue.flushing) queue.flushing = this.#flush(stream, queue);
    return done;
  }

  /** Waits for every entry recorded so far, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#streams.values()].flatMap((q) => (q.flushing ? [q.flushing] : [])));
  }

  async #flush(stream: string, queue: StreamQueue): Promise<void> {
    // Let the requests of this turn of the event loop join the first append too.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0, MAX_BATCH);
      const started = performance.now();
      try {
        // Event ids are fixed before the first attempt: a retried append cannot write an entry twice.
        await this.#store.append(
          stream,
          batch.map(({ id, entry }) => ({ id, ...requestEvent(entry), metadata: { requestId: entry.requestId, at: entry.at } })),
          { expectedRevision: 'any' },
        );
        this.#metrics?.auditAppended(batch.length, (performance.now() - started) / 1000);
        for (const p of batch) p.resolve();
      } catch (error) {
        this.#metrics?.auditFailed(batch.length);
        for (const p of batch) p.reject(error);
      }
    }
    queue.flushing = null;
    if (queue.waiting.length === 0) this.#streams.delete(stream);
  }
}
