// The projections on a worker thread. Their writes (the read models' statements, the audit
// chain's hashing, SQLite's synchronous calls) would otherwise run on the event loop that serves
// requests, which then queue behind them. A worker thread rather than a second process: it
// starts with the gateway and stops with it (nothing more to deploy or supervise), it shares the
// SQLite file's write lock with the main thread through shared memory (src/sqlite/database.ts),
// and read-your-writes needs no more than a message between threads.
//
// The worker runs a ProjectionRunner of its own, on its own connections, with the lease
// (lease.ts): exactly-once rests, as before, on each batch's transaction with its checkpoint.
// The runner of the main thread follows it (runner.ts, `worker`): it mirrors where each
// projection stands from the worker's reports, resolves read-your-writes from them, answers
// /ready from them and runs the lease holder's duties while the worker holds the lease.
//
// Should the worker die, the main thread frees the SQLite lock it may hold, reports its
// projections failed, and starts another one a second later, which goes on from the checkpoints.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { START, type Position, type RecordedEvent } from '../../src/eventstore/port.js';
import type { Logger } from '../../src/platform/logger.js';
import { redactSecrets } from '../../src/platform/redact.js';
import { adoptWriteLocks, releaseWorkerClaims, shareWriteLocks } from '../../src/sqlite/database.js';
import type { LeaseEvents, LeaseStatus, ProjectionLease } from './lease.js';
import type { CheckpointTables, ProjectableEvent } from './projection.js';
import type { FeedState, LeaderDuty, ProjectionRunner, ProjectionStatus, ProjectionWorker, WorkerEvents, WorkerProjections } from './runner.js';

/** What the main thread hands the worker: the entry module's own setup, and the shared write locks. */
interface WorkerBoot<S> {
  readonly setup: S;
  readonly locks: Readonly<Record<string, SharedArrayBuffer>>;
  /** A counter the main thread moves at each append (see `appended`). */
  readonly appends: SharedArrayBuffer;
  readonly logLevel: string;
  /** The projections whose commits the main thread's duties follow; null: all. */
  readonly appliedFrom: readonly string[] | null;
}

type Call = { readonly call: 'status' } | { readonly call: 'projections' } | { readonly call: 'rebuild'; readonly name: string } | { readonly call: 'stop' };

type ToWorker = { readonly t: 'call'; readonly id: number } & Call;

type ToMain =
  | { readonly t: 'role'; readonly leading: boolean }
  | { readonly t: 'feeds'; readonly feeds: readonly FeedState[] }
  | { readonly t: 'applied'; readonly projection: string; readonly events: readonly RecordedEvent[] }
  | { readonly t: 'log'; readonly line: string }
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly t: 'refused'; readonly id: number; readonly message: string };

const NOT_RUNNING = 'the projection worker thread is not running';

/** A worker that dies is replaced after this long. */
const RESTART_DELAY_MS = 1000;
/** How long a worker may take to stop (its feeds save their checkpoints) before it is ended. */
const STOP_TIMEOUT_MS = 10_000;

export interface ProjectionThreadOptions<S, E> {
  /** The worker's module: it calls `serveProjectionWorker` with a runner made from `setup`. */
  readonly entry: URL;
  /** What the entry needs to open its stores and make its runner (structured-cloneable). */
  readonly setup: S;
  /** The SQLite files the worker writes besides the main thread: their write locks are shared. */
  readonly sqliteFiles: readonly string[];
  readonly instance: string;
  /** The lease the worker takes part in: `sole` (SQLite) or `postgres` (lease.ts). */
  readonly leaseKind: LeaseStatus['kind'];
  readonly logger: Logger;
  /** A stored event, as the worker reports it, as the duties take it. */
  readonly decode: (event: RecordedEvent) => E | null;
}

/** The main thread's side: starts the worker, relays what it reports, restarts it should it die. */
export class ProjectionThread<S, E extends ProjectableEvent> implements ProjectionWorker<E> {
  readonly instance: string;
  readonly #options: ProjectionThreadOptions<S, E>;
  readonly #logger: Logger;
  #worker: Worker | undefined;
  #events: WorkerEvents<E> | undefined;
  #appliedFrom: readonly string[] | null = null;
  #held = false;
  #stopping = false;
  #restart: NodeJS.Timeout | undefined;
  #calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #nextCall = 1;
  /**
   * Moved at each append of the main thread, and notified: the worker waits on it. Shared memory
   * rather than a message: a message to a busy worker cost the main thread about 150 µs each.
   */
  readonly #appends = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  #notifying = false;
  #names: readonly string[] = [];
  /** Resolved by the worker's first report in which every projection has started (or by its end). */
  #settled: { promise: Promise<void>; resolve: () => void } = settledSignal();

  constructor(options: ProjectionThreadOptions<S, E>) {
    this.instance = options.instance;
    this.#options = options;
    this.#logger = options.logger.child({ thread: 'projections' });
  }

  get held(): boolean {
    return this.#held;
  }

  /**
   * Resolves once the worker has started every projection (running, or following the lease's
   * holder), or failed to, or after `timeoutMs`: what a start waits for, as it waited for the
   * projections on the main thread to start.
   */
  async started(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#settled.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  start(events: WorkerEvents<E>, projections: WorkerProjections): void {
    this.#settled = settledSignal();
    this.#events = events;
    this.#names = projections.names;
    this.#appliedFrom = projections.followedByDuties;
    this.#stopping = false;
    this.#spawn();
  }

  /** Events were appended on this thread: the worker's subscriptions look (notified once per turn of this loop). */
  appended(): void {
    Atomics.add(this.#appends, 0, 1);
    if (this.#notifying) return;
    this.#notifying = true;
    setImmediate(() => {
      this.#notifying = false;
      Atomics.notify(this.#appends, 0);
    });
  }

  async status(): Promise<LeaseStatus> {
    if (this.#worker === undefined) return { kind: this.#options.leaseKind, instance: this.instance, held: false, holder: null, problem: NOT_RUNNING };
    return (await this.#call({ call: 'status' })) as LeaseStatus;
  }

  async projectionStatus(): Promise<ProjectionStatus[] | null> {
    if (this.#worker === undefined) return null;
    return (await this.#call({ call: 'projections' })) as ProjectionStatus[];
  }

  async rebuild(name: string): Promise<{ events: number; position: Position }> {
    return (await this.#call({ call: 'rebuild', name })) as { events: number; position: Position };
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restart);
    const worker = this.#worker;
    if (worker === undefined) return;
    const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
    try {
      await this.#call({ call: 'stop' });
    } catch (error) {
      this.#logger.warn({ err: error }, 'the projection worker thread did not stop cleanly');
    } finally {
      clearTimeout(timer);
    }
    await worker.terminate();
  }

  /** Ends the worker at once, as a crash would: another takes its place a second later (a drill, or a test). */
  async kill(): Promise<void> {
    await this.#worker?.terminate();
  }

  #spawn(): void {
    const boot: WorkerBoot<S> = {
      setup: this.#options.setup,
      locks: shareWriteLocks(this.#options.sqliteFiles),
      appends: this.#appends.buffer,
      logLevel: this.#logger.level,
      appliedFrom: this.#appliedFrom,
    };
    const worker = workerFor(this.#options.entry, boot);
    this.#worker = worker;
    worker.on('message', (message: ToMain) => this.#receive(message));
    worker.on('error', (error) => this.#logger.error({ err: error }, 'the projection worker thread failed'));
    worker.on('exit', (code) => this.#exited(worker, code));
  }

  #receive(message: ToMain): void {
    const events = this.#events;
    switch (message.t) {
      case 'role':
        this.#held = message.leading;
        if (message.leading) events?.lead();
        else events?.follow();
        return;
      case 'feeds':
        events?.feeds(message.feeds);
        if (message.feeds.every((feed) => feed.state !== 'starting')) this.#settled.resolve();
        return;
      case 'applied': {
        const decoded: E[] = [];
        for (const event of message.events) {
          const typed = this.#options.decode(event);
          if (typed !== null) decoded.push(typed);
        }
        events?.applied(message.projection, decoded);
        return;
      }
      case 'log':
        relayLogLine(this.#logger, message.line);
        return;
      case 'reply':
        this.#calls.get(message.id)?.resolve(message.value);
        this.#calls.delete(message.id);
        return;
      case 'refused':
        this.#calls.get(message.id)?.reject(new Error(message.message));
        this.#calls.delete(message.id);
        return;
    }
  }

  #exited(worker: Worker, code: number): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#settled.resolve();
    // A lock it held (or was handed) would stop every write of this process.
    releaseWorkerClaims();
    for (const call of this.#calls.values()) call.reject(new Error('the projection worker thread stopped'));
    this.#calls.clear();
    if (this.#held) {
      this.#held = false;
      this.#events?.follow();
    }
    if (this.#stopping) return;
    const lastError = `the projection worker thread stopped (exit code ${code}); starting another`;
    this.#logger.error({ code }, lastError);
    this.#events?.feeds(this.#names.map((name) => ({ name, state: 'failed', position: START, lastError })));
    this.#restart = setTimeout(() => {
      if (!this.#stopping) this.#spawn();
    }, RESTART_DELAY_MS);
  }

  #call(call: Call): Promise<unknown> {
    const worker = this.#worker;
    if (worker === undefined) return Promise.reject(new Error(NOT_RUNNING));
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      worker.postMessage({ t: 'call', id, ...call } satisfies ToWorker);
    });
  }
}

function settledSignal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Source files (tests, benchmarks) run the TypeScript entry through tsx; the build runs its JavaScript. */
function workerFor(entry: URL, boot: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: boot });
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: boot });
}

/** A line of the worker's logger, logged again by the main thread's (its destination, its request of tests). */
function relayLogLine(logger: Logger, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    logger.warn({ line }, 'the projection worker thread logged a line that is not JSON');
    return;
  }
  const { level, time: _time, pid: _pid, hostname: _hostname, msg, ...fields } = record;
  const label = typeof level === 'number' ? logger.levels.labels[level] : undefined;
  const text = typeof msg === 'string' ? msg : '';
  switch (label) {
    case 'fatal':
      logger.fatal(fields, text);
      return;
    case 'error':
      logger.error(fields, text);
      return;
    case 'warn':
      logger.warn(fields, text);
      return;
    case 'info':
      logger.info(fields, text);
      return;
    case 'debug':
      logger.debug(fields, text);
      return;
    case 'trace':
    case undefined:
    default:
      logger.trace(fields, text);
  }
}

// ---------------------------------------------------------------- the worker's side

/** In the worker: what the main thread handed over. Throws on the main thread. */
export function projectionWorkerSetup<S>(): { readonly setup: S; readonly logger: Logger } {
  if (isMainThread || parentPort === null) throw new Error('projectionWorkerSetup runs in the projection worker thread only');
  const port = parentPort;
  const boot = workerData as WorkerBoot<S>;
  adoptWriteLocks(boot.locks);
  const logger = pino(
    { level: boot.logLevel, hooks: { streamWrite: redactSecrets } },
    {
      write(line: string) {
        port.postMessage({ t: 'log', line } satisfies ToMain);
      },
    },
  );
  return { setup: boot.setup, logger };
}

/** In the worker: the lease, telling the main thread when this thread gains and loses it. */
export function reportingLease(lease: ProjectionLease): ProjectionLease {
  const port = requirePort();
  return {
    instance: lease.instance,
    start(events: LeaseEvents) {
      lease.start({
        ...events,
        lead() {
          events.lead();
          port.postMessage({ t: 'role', leading: true } satisfies ToMain);
        },
        follow() {
          events.follow();
          port.postMessage({ t: 'role', leading: false } satisfies ToMain);
        },
      });
    },
    publish: (name, position) => lease.publish(name, position),
    get held() {
      return lease.held;
    },
    status: () => lease.status(),
    stop: () => lease.stop(),
  };
}

/** In the worker: a duty that reports to the main thread what the followed projections commit. */
export function appliedReporter(): LeaderDuty<RecordedEvent> {
  const port = requirePort();
  // The runner tells it of these projections only (all of them when null).
  const from = (workerData as WorkerBoot<unknown>).appliedFrom;
  return {
    name: 'applied-reporter',
    ...(from === null ? {} : { projections: from }),
    start() {},
    async stop() {},
    applied(projection, events) {
      port.postMessage({ t: 'applied', projection, events: events.map(plainEvent) } satisfies ToMain);
    },
  };
}

/** An event as plain data (a store's event may decode its fields lazily, which a message would not carry). */
function plainEvent(event: RecordedEvent): RecordedEvent {
  return {
    id: event.id,
    type: event.type,
    stream: event.stream,
    revision: event.revision,
    position: event.position,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt,
  };
}

/**
 * In the worker: serves the main thread with this runner, started here. `progress` must be the
 * runner's `onProgress`: where the projections stand is reported once per turn of the loop.
 */
export function serveProjectionWorker<DB extends CheckpointTables, E extends ProjectableEvent>(
  runner: ProjectionRunner<DB, E>,
  options: { readonly wake: () => void; readonly close: () => Promise<void> },
): { progress(): void } {
  const port = requirePort();
  let pending = false;
  const report = () => {
    pending = false;
    port.postMessage({ t: 'feeds', feeds: runner.localStates() } satisfies ToMain);
  };
  // The main thread's appends: the subscriptions look at once.
  const appends = new Int32Array((workerData as WorkerBoot<unknown>).appends);
  void (async () => {
    for (;;) {
      const seen = Atomics.load(appends, 0);
      const wait = Atomics.waitAsync(appends, 0, seen);
      if (wait.async) await wait.value;
      options.wake();
    }
  })();
  port.on('message', (message: ToWorker) => {
    const { id } = message;
    const answer = (work: Promise<unknown>) =>
      work.then(
        (value) => port.postMessage({ t: 'reply', id, value } satisfies ToMain),
        (error: unknown) => port.postMessage({ t: 'refused', id, message: error instanceof Error ? error.message : String(error) } satisfies ToMain),
      );
    switch (message.call) {
      case 'status':
        void answer(runner.lease());
        return;
      case 'projections':
        // What was appended before the question is taken in first: the subscriptions look, read and apply (when the
        // store's write lock is free), all before the next turn of this loop.
        options.wake();
        void answer(new Promise((resolve) => setImmediate(resolve)).then(() => runner.status()));
        return;
      case 'rebuild':
        void answer(runner.rebuild(message.name));
        return;
      case 'stop':
        void answer(runner.stop().then(() => options.close()));
        return;
    }
  });
  runner.start();
  report();
  return {
    progress() {
      if (pending) return;
      pending = true;
      // Within this turn, so that the main thread's waits resolve as soon as the commit is done.
      queueMicrotask(report);
    },
  };
}

function requirePort(): NonNullable<typeof parentPort> {
  if (parentPort === null) throw new Error('this runs in the projection worker thread only');
  return parentPort;
}
