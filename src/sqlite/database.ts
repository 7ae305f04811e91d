// Opening SQLite files the way keyledger needs them (WAL, durable commits, a busy timeout),
// and the in-process write lock that the event store and the read store share when they
// live in the same file.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

export function openSqliteFile(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new Database(path, { readonly: options.readonly ?? false });
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL); only a power
  // loss can take the last transactions. FULL would fsync every commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // 64 MiB of page cache: catch-up reads and rebuilds scan the whole events table.
  db.pragma('cache_size = -65536');
  db.pragma('foreign_keys = ON');
  return db;
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
