// PostgreSQL connections end at any time (a restart, a failover, an idle timeout,
// pg_terminate_backend, a cut TCP connection). pg reports it as an 'error' event on the pool
// (idle clients) or on the client (checked-out ones); an 'error' event nobody listens to ends
// the process. Every pool keyledger opens goes through here: the failure is logged, once per
// burst, the query in flight fails on its own, and the pool opens a new connection next time.

import type pg from 'pg';

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
// pg's own words for a connection that ended, could not be made in time (connectionTimeoutMillis),
// or a statement that got no answer in time (query_timeout).
const DRIVER_CONNECTION_MESSAGES =
  /connection terminated|timeout exceeded when trying to connect|not queryable|client was closed|cannot use a pool after calling end|query read timeout/i;

/**
 * Whether an error, or one it was caused by (Kysely and the adapters wrap pg's), says that
 * PostgreSQL could not be reached or did not answer in time, rather than refusing a statement.
 */
export function isConnectionFailure(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  if (error instanceof AggregateError && error.errors.some((e) => isConnectionFailure(e, depth + 1))) return true;
  if (error instanceof Error && DRIVER_CONNECTION_MESSAGES.test(error.message)) return true;
  return error instanceof Error && error.cause !== undefined && isConnectionFailure(error.cause, depth + 1);
}

/** How long after one logged connection failure the next ones are only counted. */
const QUIET_MS = 5000;

export function surviveConnectionErrors(pool: pg.Pool, logger: { warn(obj: object, msg?: string): void } | undefined, what: string): void {
  let quietUntil = 0;
  let unreported = 0;
  const report = (error: Error) => {
    const now = Date.now();
    if (now < quietUntil) {
      unreported++;
      return;
    }
    quietUntil = now + QUIET_MS;
    // The message and code only: pg's error carries its whole client, which is no log line's business.
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    logger?.warn({ error: error.message, code, alsoFailed: unreported }, `${what}: a PostgreSQL connection failed; the next query opens another`);
    unreported = 0;
  };
  pool.on('error', report);
  pool.on('connect', (client) => client.on('error', report));
}
