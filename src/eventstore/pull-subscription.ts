// A catch-up subscription built from "read a page after a position" and "wait until
// something may have changed". Because every batch is read from the store after the last
// delivered position, the switch from catch-up to live can neither skip nor repeat.

import type { Position, RecordedEvent, Subscription } from './port.js';

export interface PullSource {
  readPage(after: Position, limit: number): Promise<readonly RecordedEvent[]>;
  /** Resolves when new events may be there; `signal` ends the wait early on close. */
  waitForChange(since: number, signal: AbortSignal): Promise<void>;
  /** A counter that moves whenever new events may be there. */
  changeCounter(): number;
}

export function pullSubscription(source: PullSource, after: Position, batchSize: number, onClose?: () => void): Subscription {
  const abort = new AbortController();
  let closed = false;
  let position = after;

  async function* batches(): AsyncGenerator<readonly RecordedEvent[]> {
    while (!closed) {
      const seen = source.changeCounter();
      const page = await source.readPage(position, batchSize);
      if (closed) return;
      if (page.length > 0) {
        position = page[page.length - 1]!.position;
        yield page;
        continue;
      }
      await source.waitForChange(seen, abort.signal);
    }
  }

  const iterator = batches();
  return {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      onClose?.();
      await iterator.return(undefined).catch(() => undefined);
    },
  };
}

/** A change counter with waiters, for stores that learn of their own appends. */
export class ChangeSignal {
  #counter = 0;
  #waiters = new Set<() => void>();

  get counter(): number {
    return this.#counter;
  }

  notify(): void {
    this.#counter++;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  wait(since: number, signal: AbortSignal): Promise<void> {
    if (this.#counter !== since || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
