// Opening SQLite files the way keyledger needs them (WAL, durable commits, a busy timeout),
// and the in-process write lock that the event store and the read store share when they
// live in the same file.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/** How long a connection waits for another's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** Opens (creating it and its folder if need be) a SQLite file; a failure names the file. */
export function openSqliteFile(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  let db: SqliteDatabase | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    db = new Database(path, { readonly: options.readonly ?? false });
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL); only a power
    // loss can take the last transactions. FULL would fsync every commit.
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // 64 MiB of page cache: catch-up reads and rebuilds scan the whole events table.
    db.pragma('cache_size = -65536');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db?.close();
    const message = error instanceof Error ? error.message : String(error);
    // SQLite's own messages ("unable to open database file") do not say which file.
    throw new Error(message.includes(path) ? message : `${message}: ${path === ':memory:' ? path : resolve(path)}`, { cause: error });
  }
}

/**
 * SQLite's "database is locked": another connection (a CLI command beside the gateway) held the
 * write lock longer than the busy timeout. A state to wait out and retry, not a fault.
 */
export function isSqliteBusy(error: unknown): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && (error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED'));
}

/**
 * An async mutex. SQLite allows one writer per file; better-sqlite3 is synchronous, so
 * a second connection of the same process that meets a held write lock would block the
 * event loop until its busy timeout while the holder (an async transaction) can never
 * finish. Every writer of a file in this process takes that file's lock first, whichever
 * thread it runs on: the projections' worker thread (projections/core/thread.ts) writes the
 * read models into the file the main thread appends events to.
 *
 * Within a thread, waiters are served in order (a promise chain). Between the two threads, the
 * lock is a cell of shared memory: its owner (0 when free), and whether each thread wants it. A
 * thread that releases while the other wants the lock hands it over, so that neither thread
 * starves the other; waiting is `Atomics.waitAsync`, which never blocks an event loop.
 */
export class AsyncLock {
  #tail: Promise<void> = Promise.resolve();
  #held = false;
  readonly #cell: Int32Array;

  /** `shared`: the lock's memory, when another thread (the projections' worker) has it too. */
  constructor(shared: SharedArrayBuffer = new SharedArrayBuffer(SHARED_LOCK_BYTES)) {
    this.#cell = new Int32Array(shared);
  }

  /** The lock's memory, to hand to another thread (see `adoptWriteLocks`). */
  get shared(): SharedArrayBuffer {
    return this.#cell.buffer as SharedArrayBuffer;
  }

  get held(): boolean {
    return this.#held;
  }

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await previous;
    // Free: taken at once (the common case, no wait); else wait for the other thread to hand it over.
    if (Atomics.compareExchange(this.#cell, OWNER, FREE, THIS_THREAD) !== FREE) await acquireShared(this.#cell, THIS_THREAD);
    this.#held = true;
    try {
      return await work();
    } finally {
      this.#held = false;
      releaseShared(this.#cell, THIS_THREAD);
      release();
    }
  }
}

/** Cells: the owner (FREE, or a thread's number), then whether the main thread, and the worker, want the lock. */
const SHARED_LOCK_BYTES = 3 * Int32Array.BYTES_PER_ELEMENT;
const OWNER = 0;
const FREE = 0;
const MAIN_THREAD = 1;
const WORKER_THREAD = 2;
const THIS_THREAD = isMainThread ? MAIN_THREAD : WORKER_THREAD;
const otherThread = (me: number): number => (me === MAIN_THREAD ? WORKER_THREAD : MAIN_THREAD);

async function acquireShared(cell: Int32Array, me: number): Promise<void> {
  Atomics.store(cell, me, 1);
  for (;;) {
    const owner = Atomics.compareExchange(cell, OWNER, FREE, me);
    // Free and taken, or handed over by the other thread as it released.
    if (owner === FREE || owner === me) break;
    const wait = Atomics.waitAsync(cell, OWNER, owner);
    if (wait.async) await wait.value;
  }
  Atomics.store(cell, me, 0);
}

function releaseShared(cell: Int32Array, me: number): void {
  const other = otherThread(me);
  Atomics.store(cell, OWNER, Atomics.load(cell, other) === 1 ? other : FREE);
  Atomics.notify(cell, OWNER);
}

/**
 * The worker thread is gone (it stopped, or died): a lock it held or was handed is freed, and it
 * no longer wants any. Called on the main thread.
 */
export function releaseWorkerClaims(): void {
  for (const lock of locks.values()) {
    const cell = new Int32Array(lock.shared);
    Atomics.store(cell, WORKER_THREAD, 0);
    if (Atomics.compareExchange(cell, OWNER, WORKER_THREAD, FREE) === WORKER_THREAD) Atomics.notify(cell, OWNER);
  }
}

const locks = new Map<string, AsyncLock>();

function lockKey(path: string): string {
  return path === ':memory:' ? `:memory:${Math.random()}` : resolve(path);
}

/** The one write lock of a SQLite file in this process. */
export function writeLockFor(path: string): AsyncLock {
  const key = lockKey(path);
  let lock = locks.get(key);
  if (!lock) {
    lock = new AsyncLock();
    locks.set(key, lock);
  }
  return lock;
}

/** The write locks of these files, to hand to a worker thread that will write them too. */
export function shareWriteLocks(paths: readonly string[]): Record<string, SharedArrayBuffer> {
  return Object.fromEntries(paths.filter((path) => path !== ':memory:').map((path) => [lockKey(path), writeLockFor(path).shared]));
}

/** In a worker thread: the files' locks are the main thread's (before any store of the thread opens them). */
export function adoptWriteLocks(shared: Readonly<Record<string, SharedArrayBuffer>>): void {
  for (const [key, memory] of Object.entries(shared)) locks.set(key, new AsyncLock(memory));
}
