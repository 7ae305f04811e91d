// One change feed (R26): the event store's catch-up subscription (no gap, no duplicate at the
// switch from replay to live) turned into payloads, through a bounded buffer.
//
// A pump reads the store a batch at a time, lets the feed make the batch's payloads (after this
// instance's read models and CredentialIndex have reached the batch: see feeds.ts), checks that
// the subscriber may still read, and queues them for the consumer (the transport). Replay goes at
// the consumer's pace: a full buffer makes the pump wait, and the store is the buffer. Live, a
// full buffer ends the feed with SLOW_CONSUMER: the consumer resumes from its last cursor. A timer
// checks the subscriber's credentials too, so that a revocation, an expiry or a disabled owner
// ends a feed that has nothing to deliver within a second. Memory is bounded by the buffer and
// one batch, whatever the consumer does.
//
// The feed is its own async iterator (not an async generator), so that `return()` ends it at
// once even while a `next()` waits for an event.

import { DomainError } from '../domain/errors.js';
import type { KeyledgerEvent } from '../domain/events.js';
import type { EventStore, Position, Subscription } from '../eventstore/port.js';
import { decodeEvent, type Recorded } from '../eventstore/recorded.js';

export interface FeedItem {
  readonly position: Position;
}

export interface FeedSpec<T extends FeedItem> {
  readonly store: EventStore;
  /** Events strictly after this position. */
  readonly after: Position;
  /** Events up to this position are replay (read at the consumer's pace); later ones are live. */
  readonly liveFrom: Position;
  /** Payloads held for the consumer at most. */
  readonly bufferSize: number;
  /** Events read from the store at once. */
  readonly batchSize: number;
  /** How often the subscriber's credentials are checked besides each batch. */
  readonly checkEveryMs: number;
  /** The payloads of one batch of events, `last` being the batch's last position; throws to end the feed. */
  readonly prepare: (events: readonly Recorded<KeyledgerEvent>[], last: Position) => Promise<readonly T[]>;
  /** Null while the subscriber may read; else the refusal that ends the feed. */
  readonly check: () => DomainError | null;
  /** Called once, when the feed ends for any reason. */
  readonly onEnd?: () => void;
}

export class Feed<T extends FeedItem> implements AsyncIterableIterator<T> {
  readonly #spec: FeedSpec<T>;
  readonly #queue: T[] = [];
  readonly #subscription: Subscription;
  readonly #timer: NodeJS.Timeout;
  #ended = false;
  #error: Error | null = null;
  #wakeConsumer: (() => void) | null = null;
  #wakeProducer: (() => void) | null = null;

  constructor(spec: FeedSpec<T>) {
    this.#spec = spec;
    this.#subscription = spec.store.subscribe({ after: spec.after, batchSize: spec.batchSize });
    this.#timer = setInterval(() => {
      const refusal = spec.check();
      if (refusal) this.end(refusal);
    }, spec.checkEveryMs);
    this.#timer.unref();
    this.#pump().catch((error: unknown) => this.end(error instanceof Error ? error : new Error(String(error))));
  }

  /** Payloads waiting for the consumer. */
  get buffered(): number {
    return this.#queue.length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Ends the feed: with `error`, the consumer's next read throws it; nothing queued is delivered after it. */
  end(error: Error | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#queue.length = 0;
    clearInterval(this.#timer);
    this.#subscription.close().catch(() => undefined);
    this.#wake();
    this.#spec.onEnd?.();
  }

  async #pump(): Promise<void> {
    for await (const page of this.#subscription) {
      if (this.#ended) return;
      const last = page[page.length - 1]!.position;
      const events: Recorded<KeyledgerEvent>[] = [];
      for (const event of page) {
        const decoded = decodeEvent(event);
        if (decoded !== null) events.push(decoded);
      }
      const items = await this.#spec.prepare(events, last);
      if (this.#ended) return;
      const refusal = this.#spec.check();
      if (refusal) {
        this.end(refusal);
        return;
      }
      for (const item of items) {
        while (this.#queue.length >= this.#spec.bufferSize) {
          if (item.position > this.#spec.liveFrom) {
            this.end(
              new DomainError(
                'SLOW_CONSUMER',
                `the feed's consumer fell ${this.#spec.bufferSize} payloads behind the live events; subscribe again with after set to the last cursor received`,
              ),
            );
            return;
          }
          await new Promise<void>((resolve) => {
            this.#wakeProducer = resolve;
          });
          if (this.#ended) return;
        }
        this.#queue.push(item);
        this.#wakeConsumer?.();
        this.#wakeConsumer = null;
      }
    }
  }

  #wake(): void {
    this.#wakeConsumer?.();
    this.#wakeConsumer = null;
    this.#wakeProducer?.();
    this.#wakeProducer = null;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      const item = this.#queue.shift();
      if (item !== undefined) {
        this.#wakeProducer?.();
        this.#wakeProducer = null;
        return { done: false, value: item };
      }
      if (this.#ended) {
        const error = this.#error;
        this.#error = null;
        if (error) throw error;
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.end();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<T, undefined>> {
    this.end();
    throw error;
  }
}
