// Opens the event store that the configuration names.

import type { EventStoreLocation } from '../config.js';
import type { Logger } from '../logger.js';
import { openKurrentDbEventStore } from './kurrentdb.js';
import type { EventStore } from './port.js';
import { openPostgresEventStore } from './postgres.js';
import { openSqliteEventStore } from './sqlite.js';

export async function openEventStore(location: EventStoreLocation, logger: Logger): Promise<EventStore> {
  switch (location.kind) {
    case 'sqlite':
      return openSqliteEventStore(location.path);
    case 'postgres':
      return openPostgresEventStore(location.url, { schema: location.schema, logger });
    case 'kurrentdb':
      return openKurrentDbEventStore(location.connectionString, { logger });
  }
}
