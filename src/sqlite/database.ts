// Opening SQLite files the way keyledger needs them (WAL, durable commits, a busy timeout),
// and the in-process write lock that the event store and the read store share when they
// live in the same file.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
 * finish. Every writer of a file in this process takes that file's lock first.
 */
export class AsyncLock {
  #tail: Promise<void> = Promise.resolve();
  #held = false;

  get held(): boolean {
    return this.#held;
  }

  async run<T>(work: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await previous;
    this.#held = true;
    try {
      return await work();
    } finally {
      this.#held = false;
      release();
    }
  }
}

const locks = new Map<string, AsyncLock>();

/** The one write lock of a SQLite file in this process. */
export function writeLockFor(path: string): AsyncLock {
  const key = path === ':memory:' ? `:memory:${Math.random()}` : resolve(path);
  let lock = locks.get(key);
  if (!lock) {
    lock = new AsyncLock();
    locks.set(key, lock);
  }
  return lock;
}
