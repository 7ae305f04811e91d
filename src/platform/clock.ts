// The gateway's clock: what time it is (requests, commands, expiry and grace checks) and a timer
// that fires when a time is reached (the scheduler). Injected, so that tests move time forward
// instead of waiting for it.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): Date;
  /** Calls `fn` once the clock reaches `at`: soon (never synchronously) when it already has. */
  setTimer(at: Date, fn: () => void): Timer;
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24 days): a later time is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(at, fn) {
    let handle: NodeJS.Timeout | undefined;
    const arm = () => {
      const delay = at.getTime() - Date.now();
      handle = delay > MAX_DELAY_MS ? setTimeout(arm, MAX_DELAY_MS) : setTimeout(fn, Math.max(0, delay));
      // A pending timer does not keep the process alive: whoever set it cancels it on stop.
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};
