// Opens the event store that the configuration names. Adapters are loaded on demand: the
// KurrentDB client (gRPC) alone takes longer to load than the rest of keyledger.

import type { EventStoreLocation } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { EventStore } from './port.js';

export async function openEventStore(location: EventStoreLocation, logger: Logger): Promise<EventStore> {
  switch (location.kind) {
    case 'sqlite': {
      const { openSqliteEventStore } = await import('./sqlite.js');
      return openSqliteEventStore(location.path);
    }
    case 'postgres': {
      const { openPostgresEventStore } = await import('./postgres.js');
      return openPostgresEventStore(location.url, { schema: location.schema, logger });
    }
    case 'kurrentdb': {
      const { openKurrentDbEventStore } = await import('./kurrentdb.js');
      return openKurrentDbEventStore(location.connectionString, { logger });
    }
  }
}
