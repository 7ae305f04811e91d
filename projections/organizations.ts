// Read model `organizations`: each org's name and API-key limit.

import type { Projection } from './projection.js';
import type { ReadModels } from './index.js';
import { eventTime } from './time.js';
import type { OrganizationEvent } from '../src/domain/organization.js';

export const organizationsProjection: Projection<ReadModels> = {
  name: 'organizations',
  handles: ['OrganizationCreated', 'ApiKeyLimitChanged'] satisfies OrganizationEvent['type'][],
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
  async handle(recorded, tx) {
    const event = recorded as unknown as OrganizationEvent;
    const at = eventTime(recorded);
    if (event.type === 'OrganizationCreated') {
      await tx
        .insertInto('organizations')
        .values({ id: event.data.orgId, name: event.data.name, api_key_limit: event.data.apiKeyLimit, created_at: at, modified_at: at })
        .execute();
    } else if (event.type === 'ApiKeyLimitChanged') {
      await tx.updateTable('organizations').set({ api_key_limit: event.data.apiKeyLimit, modified_at: at }).where('id', '=', event.data.orgId).execute();
    }
  },
};
