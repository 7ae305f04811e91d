// Read model `organizations`: each org's name and API-key limit.

import { ORGANIZATION_EVENT_TYPES, type OrganizationLifecycleEvent } from '../../src/domain/events.js';
import type { Recorded } from '../../src/eventstore/recorded.js';
import type { Projection } from '../core/projection.js';
import { eventTime } from '../core/time.js';
import type { OrganizationsTables } from './tables.js';

export const organizationsProjection: Projection<OrganizationsTables, Recorded<OrganizationLifecycleEvent>> = {
  name: 'organizations',
  handles: ORGANIZATION_EVENT_TYPES,
  tables: ['organizations'],
  migrations: {
    '0001_create': {
      async up(db) {
        await db.schema
          .createTable('organizations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('api_key_limit', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('modified_at', 'text', (c) => c.notNull())
          .execute();
      },
      async down(db) {
        await db.schema.dropTable('organizations').ifExists().execute();
      },
    },
  },
  async handle(event, tx) {
    const at = eventTime(event);
    switch (event.type) {
      case 'OrganizationCreated':
        await tx
          .insertInto('organizations')
          .values({ id: event.data.orgId, name: event.data.name, api_key_limit: event.data.apiKeyLimit, created_at: at, modified_at: at })
          .execute();
        return;
      case 'ApiKeyLimitChanged':
        await tx.updateTable('organizations').set({ api_key_limit: event.data.apiKeyLimit, modified_at: at }).where('id', '=', event.data.orgId).execute();
        return;
      default: {
        const unhandled: never = event;
        throw new Error(`organizations cannot apply ${JSON.stringify(unhandled)}`);
      }
    }
  },
};
