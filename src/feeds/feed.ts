// One change feed (R26): the events after a position turned into payloads, through a bounded
// buffer, with no gap and no duplicate at the switch from replay to live.
//
// A feed behind the instance's hub (src/feeds/hub.ts: replay, or a live start whose head read
// lags the hub) reads the store by itself, a batch at a time, with its own catch-up subscription;
// at each batch it looks again where the hub stands, and once it is there or beyond, it closes its
// subscription and registers with the hub, taking only the events after its own position. Live,
// the hub hands it its pages, synchronously, into a bounded inbox. Either way the pump lets the
// feed make a batch's payloads (after this instance's read models and CredentialIndex have reached
// the batch: see feeds.ts), checks that the subscriber may still read, and queues them for the
// consumer (the transport). Replay goes at the consumer's pace: a full buffer makes the pump wait,
// and the store is the buffer. Live, a full buffer, or a full inbox, ends the feed with
// SLOW_CONSUMER: the consumer resumes from its last cursor. The subscriber's credentials are also
// checked on a timer (`Feeds`), so that a revocation, an expiry or a disabled owner ends a feed
// that has nothing to deliver within a second. Memory is bounded by the buffer and the inbox,
// whatever the consumer does.
//
// The feed is its own async iterator (not an async generator), so that `return()` ends it at
// once even while a `next()` waits for an event.

import { DomainError } from '../domain/errors.js';
import type { KeyledgerEvent } from '../domain/events.js';
import type { EventStore, Position, Subscription } from '../eventstore/port.js';
import type { Recorded } from '../eventstore/recorded.js';
import { Batch, type FeedHub, type HubMember } from './hub.js';

export interface FeedItem {
  readonly position: Position;
}

export interface FeedSpec<T extends FeedItem> {
  readonly store: EventStore;
  /** The instance's live pages. */
  readonly hub: FeedHub;
  /** Events strictly after this position. */
  readonly after: Position;
  /** Events up to this position are replay (read at the consumer's pace); later ones are live. */
  readonly liveFrom: Position;
  /** Payloads held for the consumer at most. */
  readonly bufferSize: number;
  /** Live batches waiting to be made into payloads, at most. */
  readonly inboxSize: number;
  /** Events read from the store at once (replay). */
  readonly batchSize: number;
  /** The batch's events this feed may show (strictly after `after`): none, and the batch is skipped. Synchronous (the hub calls it). */
  readonly select: (batch: Batch, after: Position) => readonly Recorded<KeyledgerEvent>[];
  /** The payloads of the selected events of a batch; throws to end the feed. */
  readonly prepare: (batch: Batch, events: readonly Recorded<KeyledgerEvent>[]) => Promise<readonly T[]>;
  /** Null while the subscriber may read; else the refusal that ends the feed. */
  readonly check: (batch: Batch | null) => DomainError | null;
  /** Called once, when the feed ends for any reason. */
  readonly onEnd?: () => void;
}

interface Pending {
  readonly batch: Batch;
  readonly events: readonly Recorded<KeyledgerEvent>[];
}

function slowConsumer(bufferSize: number): DomainError {
  return new DomainError('SLOW_CONSUMER', `the feed's consumer fell ${bufferSize} payloads behind the live events; subscribe again with after set to the last cursor received`);
}

export class Feed<T extends FeedItem> implements AsyncIterableIterator<T>, HubMember {
  readonly #spec: FeedSpec<T>;
  readonly #queue: T[] = [];
  /** Live batches from the hub, not yet made into payloads. */
  readonly #inbox: Pending[] = [];
  /** The last event this feed has taken (read by itself, or the position it registered with the hub at). */
  #position: Position;
  #subscription: Subscription | null = null;
  #joined = false;
  #ended = false;
  #error: Error | null = null;
  #wakeConsumer: (() => void) | null = null;
  #wakeProducer: (() => void) | null = null;
  #wakePump: (() => void) | null = null;

  constructor(spec: FeedSpec<T>) {
    this.#spec = spec;
    this.#position = spec.after;
    this.#pump().catch((error: unknown) => this.end(error instanceof Error ? error : new Error(String(error))));
  }

  /** Payloads waiting for the consumer. */
  get buffered(): number {
    return this.#queue.length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Null while the subscriber may read; else the refusal that ends the feed (the caller ends it). */
  check(): DomainError | null {
    return this.#spec.check(null);
  }

  /** Ends the feed: with `error`, the consumer's next read throws it; nothing queued is delivered after it. */
  end(error: Error | null = null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#queue.length = 0;
    this.#inbox.length = 0;
    if (this.#joined) this.#spec.hub.leave(this);
    this.#subscription?.close().catch(() => undefined);
    this.#wake();
    this.#spec.onEnd?.();
  }

  deliver(batch: Batch): void {
    if (this.#ended) return;
    const events = this.#spec.select(batch, this.#position);
    if (events.length === 0) return;
    if (this.#inbox.length >= this.#spec.inboxSize) {
      this.end(slowConsumer(this.#spec.bufferSize));
      return;
    }
    this.#inbox.push({ batch, events });
    this.#wakePump?.();
    this.#wakePump = null;
  }

  fail(error: Error): void {
    this.end(error);
  }

  async #pump(): Promise<void> {
    const { hub, store, batchSize } = this.#spec;
    const behind = () => {
      const at = hub.position;
      return at !== null && this.#position < at;
    };
    if (behind()) {
      const subscription = store.subscribe({ after: this.#position, batchSize });
      this.#subscription = subscription;
      try {
        for await (const page of subscription) {
          if (this.#ended) return;
          const batch = new Batch(page);
          const events = this.#spec.select(batch, this.#position);
          this.#position = batch.last;
          if (events.length > 0 && !(await this.#take(batch, events))) return;
          if (!behind()) break;
        }
      } finally {
        this.#subscription = null;
        await subscription.close().catch(() => undefined);
      }
    }
    if (this.#ended) return;
    // Where this feed stands is at or beyond where the hub stands (nothing awaited since it was checked).
    this.#spec.hub.join(this, this.#position);
    this.#joined = true;
    for (;;) {
      const pending = this.#inbox.shift();
      if (pending === undefined) {
        await new Promise<void>((resolve) => {
          this.#wakePump = resolve;
        });
        if (this.#ended) return;
        continue;
      }
      if (!(await this.#take(pending.batch, pending.events))) return;
    }
  }

  /** Makes a batch's payloads and queues them; false once the feed has ended. */
  async #take(batch: Batch, events: readonly Recorded<KeyledgerEvent>[]): Promise<boolean> {
    const items = await this.#spec.prepare(batch, events);
    if (this.#ended) return false;
    const refusal = this.#spec.check(batch);
    if (refusal) {
      this.end(refusal);
      return false;
    }
    for (const item of items) {
      while (this.#queue.length >= this.#spec.bufferSize) {
        if (item.position > this.#spec.liveFrom) {
          this.end(slowConsumer(this.#spec.bufferSize));
          return false;
        }
        await new Promise<void>((resolve) => {
          this.#wakeProducer = resolve;
        });
        if (this.#ended) return false;
      }
      this.#queue.push(item);
      this.#wakeConsumer?.();
      this.#wakeConsumer = null;
    }
    return true;
  }

  #wake(): void {
    this.#wakeConsumer?.();
    this.#wakeConsumer = null;
    this.#wakeProducer?.();
    this.#wakeProducer = null;
    this.#wakePump?.();
    this.#wakePump = null;
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
