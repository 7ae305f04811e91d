// Opens the event store that the configuration names. Adapters are loaded on demand: the
// KurrentDB client (gRPC) alone takes longer to load than the rest of keyledger. The gateway
// times every append through `withAppendTiming` (its metric).

import type { EventStoreLocation } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { AppendResultLabel } from '../platform/metrics.js';
import { WrongExpectedRevisionError } from './errors.js';
import type { EventStore } from './port.js';

/** `timeoutMs`: PostgreSQL's bound of connecting and of one statement (R30); `poolSize`: its pool's connections; the adapter's defaults when absent. */
export async function openEventStore(location: EventStoreLocation, logger: Logger, options: { timeoutMs?: number; poolSize?: number } = {}): Promise<EventStore> {
  switch (location.kind) {
    case 'sqlite': {
      const { openSqliteEventStore } = await import('./sqlite.js');
      return openSqliteEventStore(location.path);
    }
    case 'postgres': {
      const { openPostgresEventStore } = await import('./postgres.js');
      return openPostgresEventStore(location.url, { schema: location.schema, logger, timeoutMs: options.timeoutMs, poolSize: options.poolSize });
    }
    case 'kurrentdb': {
      const { openKurrentDbEventStore } = await import('./kurrentdb.js');
      return openKurrentDbEventStore(location.connectionString, { logger });
    }
  }
}

/** The store, with each append timed (`observe` gets how it ended and its seconds); everything else passes through. */
export function withAppendTiming(store: EventStore, observe: (result: AppendResultLabel, seconds: number) => void): EventStore {
  return {
    kind: store.kind,
    async append(stream, events, options) {
      const started = performance.now();
      try {
        const result = await store.append(stream, events, options);
        observe('ok', (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        observe(error instanceof WrongExpectedRevisionError ? 'wrong_expected_revision' : 'error', (performance.now() - started) / 1000);
        throw error;
      }
    },
    readStream: (stream, options) => store.readStream(stream, options),
    readAll: (options) => store.readAll(options),
    subscribe: (options) => store.subscribe(options),
    headPosition: () => store.headPosition(),
    countAfter: (after, cap) => store.countAfter(after, cap),
    close: () => store.close(),
  };
}
