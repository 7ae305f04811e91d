// A clock that tests move forward: time stands still until `advance`, which fires the timers it
// reaches, in order. A test then sees what a grace period or an expiry brings without waiting.

import type { Clock, Timer } from '../../src/platform/clock.js';

interface Pending {
  readonly at: number;
  readonly fn: () => void;
}

export class TestClock implements Clock {
  #now: number;
  readonly #timers = new Set<Pending>();

  constructor(start: Date = new Date()) {
    this.#now = start.getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  setTimer(at: Date, fn: () => void): Timer {
    const timer: Pending = { at: at.getTime(), fn };
    this.#timers.add(timer);
    // Reached already: it fires soon, never synchronously (as a system timer of no delay would).
    if (timer.at <= this.#now) setImmediate(() => this.#fire(timer));
    return { cancel: () => this.#timers.delete(timer) };
  }

  /** Moves time forward by `ms` and fires every timer it reaches, earliest first. */
  advance(ms: number): void {
    this.#now += ms;
    const due = [...this.#timers].filter((t) => t.at <= this.#now).sort((a, b) => a.at - b.at);
    for (const timer of due) this.#fire(timer);
  }

  #fire(timer: Pending): void {
    if (!this.#timers.delete(timer)) return;
    timer.fn();
  }
}
