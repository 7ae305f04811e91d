// PostgreSQL connections end at any time (a restart, a failover, an idle timeout,
// pg_terminate_backend, a cut TCP connection). pg reports it as an 'error' event on the pool
// (idle clients) or on the client (checked-out ones); an 'error' event nobody listens to ends
// the process. Every pool keyledger opens goes through here: the failure is logged, once per
// burst, the query in flight fails on its own, and the pool opens a new connection next time.

import type pg from 'pg';

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
