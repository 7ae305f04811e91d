// The live side of the change feeds (R26): one store subscription per instance, whatever the
// number of feeds open. It reads each page once, decodes it once, and hands it, synchronously, to
// every feed registered with it (their bounded inboxes: src/feeds/feed.ts). What the feeds make of
// a page that is the same for all of them (the read models' wait, the rows of an org's credentials)
// is made once per page (`Batch.once`).
//
// A feed registers when its position is at or beyond the hub's delivered position, and then takes
// the events after its own position: the hub delivers every event after its delivered position, in
// order, and delivering moves that position in the same turn, so a feed that registers at `p >=
// delivered` misses nothing after `p` and sees nothing twice. A feed behind it reads the store by
// itself first (feed.ts). The hub starts with the first feed, from the store's head, and stops
// with the last one.

import type { KeyledgerEvent } from '../domain/events.js';
import type { EventStore, Position, RecordedEvent, Subscription } from '../eventstore/port.js';
import { decodeEvent, type Recorded } from '../eventstore/recorded.js';

/** One page of the store, decoded once, with what feeds make of it once for all of them. */
export class Batch {
  readonly events: readonly Recorded<KeyledgerEvent>[];
  /** The page's first and last positions (undecodable events included). */
  readonly first: Position;
  readonly last: Position;
  #memo: Map<string, unknown> | undefined;

  constructor(page: readonly RecordedEvent[]) {
    const events: Recorded<KeyledgerEvent>[] = [];
    for (const event of page) {
      const decoded = decodeEvent(event);
      if (decoded !== null) events.push(decoded);
    }
    this.events = events;
    this.first = page[0]!.position;
    this.last = page[page.length - 1]!.position;
  }

  /** What `make` gives, made once per batch for every feed that asks with `key` (a promise is kept as it is: its outcome is shared). */
  once<V>(key: string, make: () => V): V {
    this.#memo ??= new Map();
    if (this.#memo.has(key)) return this.#memo.get(key) as V;
    const value = make();
    this.#memo.set(key, value);
    return value;
  }

  /** The events strictly after `after`. */
  after(after: Position): readonly Recorded<KeyledgerEvent>[] {
    return this.first > after ? this.events : this.events.filter((event) => event.position > after);
  }
}

/** A live feed as the hub sees it. */
export interface HubMember {
  /** A page the hub read; synchronous (the feed queues it or ends). */
  deliver(batch: Batch): void;
  /** The hub's subscription failed: the feed ends with `error`. */
  fail(error: Error): void;
}

export class FeedHub {
  readonly #store: EventStore;
  readonly #batchSize: number;
  readonly #members = new Set<HubMember>();
  #subscription: Subscription | null = null;
  #position: Position | null = null;
  #users = 0;

  constructor(store: EventStore, batchSize: number) {
    this.#store = store;
    this.#batchSize = batchSize;
  }

  /** Where the hub stands: every event up to it has been delivered, every later one will be; null when it is not running. */
  get position(): Position | null {
    return this.#subscription === null ? null : this.#position;
  }

  /** Feeds registered (live from the hub). */
  get members(): number {
    return this.#members.size;
  }

  /** A feed opens: the hub runs (from `head`, when it was not running) until every feed that retained it has released it. */
  retain(head: Position): void {
    this.#users++;
    if (this.#subscription === null) this.#start(head);
  }

  release(): void {
    this.#users--;
    if (this.#users > 0) return;
    this.#users = 0;
    this.#stop();
  }

  /**
   * Registers `member` at `position` (the last event it has): it must be at or beyond `position`
   * (a hub that failed meanwhile starts again from there). From now on it gets every page the hub
   * reads; the member leaves out what is not after its position.
   */
  join(member: HubMember, position: Position): void {
    if (this.#subscription === null) this.#start(position);
    else if (position < this.#position!) throw new Error(`a feed at ${position} cannot join the hub at ${this.#position}: it would miss events`);
    this.#members.add(member);
  }

  leave(member: HubMember): void {
    this.#members.delete(member);
  }

  #start(after: Position): void {
    const subscription = this.#store.subscribe({ after, batchSize: this.#batchSize });
    this.#subscription = subscription;
    this.#position = after;
    void this.#run(subscription);
  }

  #stop(): void {
    const subscription = this.#subscription;
    this.#subscription = null;
    this.#position = null;
    this.#members.clear();
    subscription?.close().catch(() => undefined);
  }

  async #run(subscription: Subscription): Promise<void> {
    try {
      for await (const page of subscription) {
        if (this.#subscription !== subscription) return;
        const batch = new Batch(page);
        this.#position = batch.last;
        // A member that ends here leaves the set: a Set's iteration allows it.
        for (const member of this.#members) member.deliver(batch);
      }
    } catch (cause) {
      if (this.#subscription !== subscription) return;
      const error = cause instanceof Error ? cause : new Error(String(cause));
      this.#subscription = null;
      this.#position = null;
      subscription.close().catch(() => undefined);
      const members = [...this.#members];
      this.#members.clear();
      for (const member of members) member.fail(error);
    }
  }
}
