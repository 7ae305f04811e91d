// Who applies the projections. On SQLite there is one process per file, and it does (`soleLease`).
// On PostgreSQL several gateways share the read store, and one of them at a time applies the
// projections: the one holding the projection lease, a session-level advisory lock held on a
// dedicated connection (`postgresLease`). The others follow: the holder publishes where each
// projection stands, after each commit, with NOTIFY on that same connection, and a follower
// resolves its read-your-writes waits from it. Nothing here polls the checkpoints; a follower
// reads them once each time its connection is (re)made, since notifications sent while it was
// away are lost.
//
// Exactly-once does not rest on the lease: every batch is applied in one transaction that locks
// its checkpoint row and skips what the row says is applied, so two holders for a moment (one
// whose connection died unnoticed) cost a wait, never a repeat. The lease only keeps N instances
// from doing the same work N times and contending on the same rows.

import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Position } from '../../src/eventstore/port.js';
import type { ReadStoreLocation } from '../../src/platform/config.js';
import type { Logger } from '../../src/platform/logger.js';
import type { CheckpointTables } from './projection.js';
import { isConnectionFailure } from '../../src/platform/pg-errors.js';

/** What the runner does when this instance gains or loses the lease, or learns where the holder stands. */
export interface LeaseEvents {
  /** This instance holds the lease now: it applies the projections. */
  lead(): void;
  /** This instance does not hold the lease (any more): it must stop applying at once. */
  follow(): void;
  /** The holder applied up to these positions (a follower's view; never sent to the holder). */
  positions(update: Readonly<Record<string, Position>>): void;
  /** Notifications may have been missed (the connection was remade): read the stored checkpoints. */
  resync(): void;
}

interface LeaseHolder {
  /** The instance id of the holder (KEYLEDGER_INSTANCE_ID, by default host:pid), when it said it. */
  readonly instance: string | null;
  /** When it took the lease, when it said it. */
  readonly since: Date | null;
  /** The holder's PostgreSQL backend (pid) and where it connects from, as PostgreSQL sees it. */
  readonly backendPid: number | null;
  readonly clientAddress: string | null;
}

export interface LeaseStatus {
  /** `sole`: no lease; whichever process runs the projections applies them (SQLite). */
  readonly kind: 'sole' | 'postgres';
  /** This instance's id. */
  readonly instance: string;
  /** Whether this instance holds the lease now. */
  readonly held: boolean;
  /** The holder as the database sees it; null when nobody holds it (or `sole`). */
  readonly holder: LeaseHolder | null;
  /** Why this instance cannot take part right now (its lease connection is down), if so. */
  readonly problem?: string;
}

export interface ProjectionLease {
  readonly instance: string;
  /** Begins: `lead` at once (sole), or as soon as the lock is taken (PostgreSQL). */
  start(events: LeaseEvents): void;
  /** The holder tells the followers where a projection stands; coalesced, sent within PUBLISH_EVERY_MS. */
  publish(name: string, position: Position): void;
  readonly held: boolean;
  status(): Promise<LeaseStatus>;
  /** Gives the lease up (its connection ends) and stops taking part. */
  stop(): Promise<void>;
}

/** One process applies the projections of its store: SQLite, or a CLI command run on its own. */
export function soleLease(instance: string): ProjectionLease {
  let held = false;
  return {
    instance,
    start(events) {
      held = true;
      events.lead();
    },
    publish() {},
    get held() {
      return held;
    },
    status: async () => ({ kind: 'sole', instance, held, holder: null }),
    async stop() {
      held = false;
    },
  };
}

/** The two keys of the advisory lock: a constant for keyledger's projections, and the read store's schema. */
function leaseLockKeys(schema: string): readonly [number, number] {
  // FNV-1a, kept to 31 bits so that both keys are non-negative int4 values, equal to pg_locks' oids.
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(schema, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return [0x6b6c6467, hash & 0x7fffffff];
}

/** The holder's news for its followers are gathered this long, then sent in one NOTIFY (a follower's read-your-writes may wait as much more). */
const PUBLISH_EVERY_MS = 10;
/** Between tries for a free lease, and heartbeats of the holder: a dead holder is replaced within about this. */
const LEASE_TRY_MS = 1000;
/** An instance that lost its connection while holding tries again after the others' next try: a healthy follower takes over. */
const DEFERRED_TRY_MS = 1200;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 1000;
/**
 * A cut that sends no packet (a network partition) leaves the server's backend, and so the lock,
 * alive until the server notices: these make it notice in a few seconds instead of hours.
 */
const KEEPALIVE_OPTIONS = '-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2';

interface PostgresLeaseOptions {
  readonly connectionString: string;
  /** The read store's schema: one lease per read store. */
  readonly schema: string;
  readonly instance: string;
  readonly logger: Logger;
  /** Bound of connecting and of each statement on the lease connection (R30). */
  readonly timeoutMs: number;
  /** The read store, to say who holds the lease without this instance's connection. */
  readonly db: Kysely<CheckpointTables>;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

function postgresLease(options: PostgresLeaseOptions): ProjectionLease {
  const { connectionString, schema, instance, logger, timeoutMs, db } = options;
  const [key1, key2] = leaseLockKeys(schema);
  const channel = `keyledger_checkpoints_${schema}`.slice(0, 63);
  // The holder says who it is in this row: the lock says that someone holds the lease, the row says who.
  const table = `${quoteIdent(schema)}.projection_lease`;

  let events: LeaseEvents | undefined;
  let client: pg.Client | undefined;
  let connected = false;
  let held = false;
  let heldSince: Date | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  /** Set when the connection failed while holding: the next try waits, so that a healthy follower takes over. */
  let deferNextTry = false;
  let problem: string | undefined;
  const pending = new Map<string, Position>();
  let flushScheduled = false;

  // pg deprecates overlapping queries on one client: each waits for the one before it.
  const queues = new WeakMap<pg.Client, Promise<unknown>>();
  function query<R extends pg.QueryResultRow>(on: pg.Client, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    const result = (queues.get(on) ?? Promise.resolve()).then(() => on.query<R>(text, values));
    queues.set(
      on,
      result.catch(() => undefined),
    );
    return result;
  }

  function schedule(ms: number, run: () => void): void {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, ms);
    timer.unref();
  }

  function release(): void {
    if (!held) return;
    held = false;
    heldSince = null;
    logger.warn({ instance }, 'projection lease: lost; this instance stops applying the projections');
    events?.follow();
  }

  /** The connection is gone (or useless): whatever it held is given up, and a new one is made. */
  function lost(from: pg.Client, error: unknown): void {
    if (client !== from) return;
    client = undefined;
    connected = false;
    problem = `lease connection: ${messageOf(error)}`;
    from.end().catch(() => undefined);
    if (held) deferNextTry = true;
    release();
    if (stopped) return;
    if (failures++ === 0) logger.warn({ err: messageOf(error), instance }, 'projection lease: connection failed; reconnecting');
    schedule(Math.min(RECONNECT_MIN_MS * 2 ** failures, RECONNECT_MAX_MS), connect);
  }

  function onNotification(message: pg.Notification): void {
    if (held || message.channel !== channel || message.payload === undefined) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(message.payload);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
    const update: Record<string, Position> = {};
    for (const [name, position] of Object.entries(parsed)) if (typeof position === 'string') update[name] = position as Position;
    events?.positions(update);
  }

  function connect(): void {
    if (stopped || client !== undefined) return;
    const connection = new pg.Client({
      connectionString,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      keepAlive: true,
      options: KEEPALIVE_OPTIONS,
    });
    client = connection;
    connection.on('error', (error) => lost(connection, error));
    connection.on('end', () => lost(connection, new Error('the lease connection ended')));
    connection.on('notification', onNotification);
    (async () => {
      await connection.connect();
      await query(connection, `listen ${quoteIdent(channel)}`);
      if (client !== connection) return;
      connected = true;
      problem = undefined;
      if (failures > 0) logger.info({ instance }, 'projection lease: connection back');
      failures = 0;
      // Listening now, so nothing published from here on is missed: what came before is read.
      events?.resync();
      if (deferNextTry) {
        deferNextTry = false;
        schedule(DEFERRED_TRY_MS, () => void tick());
      } else {
        await tick();
      }
    })().catch((error: unknown) => lost(connection, error));
  }

  /** The follower tries to take the lease; the holder checks that its connection still answers. */
  async function tick(): Promise<void> {
    const current = client;
    if (stopped || current === undefined || !connected) return;
    try {
      if (held) {
        await query(current, 'select 1');
      } else {
        const row = (await query<{ taken: boolean; pid: number }>(current, 'select pg_try_advisory_lock($1, $2) as taken, pg_backend_pid() as pid', [key1, key2])).rows[0];
        if (row?.taken === true && client === current && !stopped) {
          held = true;
          heldSince = new Date();
          await query(
            current,
            `insert into ${table} (name, instance, backend_pid, acquired_at) values ('projections', $1, $2, $3)
               on conflict (name) do update set instance = excluded.instance, backend_pid = excluded.backend_pid, acquired_at = excluded.acquired_at`,
            [instance, row.pid, heldSince.toISOString()],
          ).catch((error: unknown) => {
            if (isConnectionFailure(error)) throw error;
            logger.warn({ err: messageOf(error) }, 'projection lease: could not record the holder');
          });
          logger.info({ instance }, 'projection lease: taken; this instance applies the projections');
          events?.lead();
        }
      }
    } catch (error) {
      lost(current, error);
      return;
    }
    if (client === current) schedule(LEASE_TRY_MS, () => void tick());
  }

  function flush(): void {
    flushScheduled = false;
    const current = client;
    if (!held || current === undefined || pending.size === 0) return;
    const payload = JSON.stringify(Object.fromEntries(pending));
    pending.clear();
    // A failure here is the connection's, which its 'error' handler deals with; followers resync on reconnect.
    query(current, 'select pg_notify($1, $2)', [channel, payload]).catch(() => undefined);
  }

  return {
    instance,
    start(handlers) {
      events = handlers;
      stopped = false;
      connect();
    },
    publish(name, position) {
      if (!held) return;
      pending.set(name, position);
      if (!flushScheduled) {
        flushScheduled = true;
        setTimeout(flush, PUBLISH_EVERY_MS).unref();
      }
    },
    get held() {
      return held;
    },
    async status() {
      const rows = await sql<{ pid: number; instance: string | null; acquired_at: string | null; client_addr: string | null }>`
        select k.pid, l.instance, l.acquired_at, a.client_addr::text as client_addr
        from pg_locks k
        left join pg_stat_activity a on a.pid = k.pid
        left join ${sql.table(`${schema}.projection_lease`)} l on l.backend_pid = k.pid
        where k.locktype = 'advisory' and k.classid = ${key1} and k.objid = ${key2} and k.objsubid = 2 and k.granted
          and k.database = (select oid from pg_database where datname = current_database())`.execute(db);
      const row = rows.rows[0];
      const holder: LeaseHolder | null =
        row === undefined
          ? null
          : {
              instance: row.instance,
              since: row.acquired_at === null ? null : new Date(row.acquired_at),
              backendPid: row.pid,
              clientAddress: row.client_addr,
            };
      return { kind: 'postgres', instance, held, holder, ...(problem === undefined ? {} : { problem }) };
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const current = client;
      client = undefined;
      connected = false;
      held = false;
      heldSince = null;
      // Ending the session releases the lock: a follower takes over at its next try.
      await current?.end().catch(() => undefined);
    },
  };
}

/** The lease for a read store: PostgreSQL's, shared by the instances on its schema; SQLite's is this process alone. */
export function leaseFor(location: ReadStoreLocation, options: { instance: string; logger: Logger; timeoutMs: number; db: Kysely<CheckpointTables> }): ProjectionLease {
  return location.kind === 'postgres' ? postgresLease({ connectionString: location.url, schema: location.schema, ...options }) : soleLease(options.instance);
}
