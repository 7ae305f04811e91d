// Read model `principals`: users and service accounts, their role and status.

import type { Projection } from './projection.js';
import type { ReadModels } from './index.js';
import { eventTime } from './time.js';
import { nameKey } from '../src/domain/names.js';
import type { PrincipalEvent } from '../src/domain/principal.js';

export const principalsProjection: Projection<ReadModels> = {
  name: 'principals',
  handles: ['UserInvited', 'ServiceAccountCreated', 'PrincipalRoleChanged', 'PrincipalDisabled'] satisfies PrincipalEvent['type'][],
  tables: ['principals'],
  migrations: {
    '0001_create': {
      async up(db) {
        await db.schema
          .createTable('principals')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('name_key', 'text', (c) => c.notNull())
          .addColumn('email', 'text')
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('modified_at', 'text', (c) => c.notNull())
          .addColumn('disabled_at', 'text')
          .execute();
        await db.schema.createIndex('principals_org_name').on('principals').columns(['org_id', 'name_key', 'id']).execute();
        await db.schema.createIndex('principals_org_created').on('principals').columns(['org_id', 'created_at', 'id']).execute();
      },
      async down(db) {
        await db.schema.dropTable('principals').ifExists().execute();
      },
    },
  },
  async handle(recorded, tx) {
    const event = recorded as unknown as PrincipalEvent;
    const at = eventTime(recorded);
    const actor = typeof recorded.metadata.actorPrincipalId === 'string' ? recorded.metadata.actorPrincipalId : null;
    switch (event.type) {
      case 'UserInvited':
      case 'ServiceAccountCreated':
        await tx
          .insertInto('principals')
          .values({
            id: event.data.principalId,
            org_id: event.data.orgId,
            kind: event.type === 'UserInvited' ? 'USER' : 'SERVICE_ACCOUNT',
            name: event.data.name,
            name_key: nameKey(event.data.name),
            email: event.type === 'UserInvited' ? event.data.email : null,
            role: event.data.role,
            status: 'ACTIVE',
            created_by: actor,
            created_at: at,
            modified_at: at,
            disabled_at: null,
          })
          .execute();
        return;
      case 'PrincipalRoleChanged':
        await tx.updateTable('principals').set({ role: event.data.role, modified_at: at }).where('id', '=', event.data.principalId).execute();
        return;
      case 'PrincipalDisabled':
        await tx.updateTable('principals').set({ status: 'DISABLED', disabled_at: at, modified_at: at }).where('id', '=', event.data.principalId).execute();
        return;
      default:
        return;
    }
  },
};
