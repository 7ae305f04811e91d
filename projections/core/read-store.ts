// The read store: where projections keep the read models that queries serve. SQLite (by
// default the event store's own file) or PostgreSQL, both through Kysely.

import { Kysely, PostgresAdapter, sql, SqliteAdapter, type LogEvent, SqliteDialect, type SqliteDatabase as KyselySqliteDatabase, type SqliteStatement } from 'kysely';
import pg from 'pg';
import type { ReadStoreLocation } from '../../src/platform/config.js';
import { surviveConnectionErrors } from '../../src/platform/pg-errors.js';
import { OneSchemaPostgresDialect } from '../../src/platform/pg-migrations.js';
import type { Logger } from '../../src/platform/logger.js';
import { AsyncLock, openSqliteFile, writeLockFor, type SqliteDatabase } from '../../src/sqlite/database.js';

export interface ReadStore<DB> {
  readonly kind: ReadStoreLocation['kind'];
  /** PostgreSQL: the schema the read models live in (their migrations' tables too). */
  readonly schema: string | null;
  readonly db: Kysely<DB>;
  /**
   * Every write transaction runs under this lock: for SQLite it is the file's in-process
   * write lock (shared with an event store in the same file); for PostgreSQL it only
   * keeps this process's projection writes in order.
   */
  readonly writeLock: AsyncLock;
  /** Resolves when the store answers a trivial statement: readiness. */
  ping(): Promise<void>;
  /** Counts statements sent to the store, for tests and benchmarks that measure query cost. */
  readonly statementCount: () => number;
  close(): Promise<void>;
}

/**
 * Kysely's SQLite driver prepares every statement anew; projections run the same few
 * statements hundreds of thousands of times, so prepared statements are cached by SQL.
 * A statement still being iterated (a stream) is busy, so such a call gets a fresh one.
 *
 * A transaction begun under the file's write lock (`writing()`) begins IMMEDIATE: it takes
 * SQLite's write lock at once, waiting for it (busy timeout) while another process (a CLI command
 * beside the gateway) holds it. Begun DEFERRED, a transaction that reads (its checkpoint) and then
 * writes fails at once with SQLITE_BUSY_SNAPSHOT when another process committed in between.
 */
function cachingDatabase(db: SqliteDatabase, writing: () => boolean): KyselySqliteDatabase {
  const cache = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  return {
    close: () => db.close(),
    prepare(text: string): SqliteStatement {
      const sqlText = text === 'begin' && writing() ? 'begin immediate' : text;
      let statement = cache.get(sqlText);
      if (statement === undefined || statement.busy) {
        statement = db.prepare(sqlText);
        if (cache.size >= 1000) cache.clear();
        cache.set(sqlText, statement);
      }
      return statement;
    },
  };
}

export type ReadStoreDialect = ReadStoreLocation['kind'];

/** The read store's SQL dialect, for the few statements that differ (triggers, JSON). */
export function readStoreDialect<DB>(db: Kysely<DB>): ReadStoreDialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  throw new Error(`read stores are SQLite or PostgreSQL, not ${adapter.constructor.name}`);
}

const SAFE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openReadStore<DB>(
  location: ReadStoreLocation,
  /** PostgreSQL: `timeoutMs` bounds connecting and each statement (R30); past it the call fails. Default: no bound. */
  options: { logger?: Logger; timeoutMs?: number; poolSize?: number } = {},
): Promise<ReadStore<DB>> {
  let statements = 0;
  const log = (event: LogEvent) => {
    if (event.level === 'query') statements++;
  };
  if (location.kind === 'sqlite') {
    const raw = openSqliteFile(location.path);
    const writeLock = writeLockFor(location.path);
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database: cachingDatabase(raw, () => writeLock.held) }), log });
    return {
      kind: 'sqlite',
      schema: null,
      db,
      writeLock,
      statementCount: () => statements,
      ping: () => sql`select 1`.execute(db).then(() => undefined),
      close: () => db.destroy(),
    };
  }
  if (!SAFE_SCHEMA.test(location.schema)) throw new Error(`read store schema ${JSON.stringify(location.schema)} is not a plain lower-case SQL identifier`);
  // Read models live in their own schema; every connection works in it.
  const pool = new pg.Pool({
    connectionString: location.url,
    max: options.poolSize ?? 10,
    options: `-c search_path=${location.schema}`,
    connectionTimeoutMillis: options.timeoutMs ?? 0,
    query_timeout: options.timeoutMs,
  });
  surviveConnectionErrors(pool, options.logger, 'read store');
  const setup = await pool.connect();
  try {
    await setup.query(`create schema if not exists "${location.schema}"`);
  } finally {
    setup.release();
  }
  const db = new Kysely<DB>({
    // Its introspection (for the migrator) sees this schema only: see pg-migrations.ts.
    dialect: new OneSchemaPostgresDialect({ pool }, location.schema),
    log,
  });
  return {
    kind: 'postgres',
    schema: location.schema,
    db,
    ping: () => sql`select 1`.execute(db).then(() => undefined),
    writeLock: new AsyncLock(),
    statementCount: () => statements,
    close: () => db.destroy(),
  };
}
