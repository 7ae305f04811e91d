// Read model `principals`: users and service accounts, their role and status.

import { principalChange } from '../../src/domain/credential.js';
import { PRINCIPAL_EVENT_TYPES, type PrincipalLifecycleEvent } from '../../src/domain/events.js';
import { nameKey } from '../../src/domain/names.js';
import type { Recorded } from '../../src/eventstore/recorded.js';
import type { Projection } from '../core/projection.js';
import { eventTime } from '../core/time.js';
import type { PrincipalsTables } from './tables.js';

export const principalsProjection: Projection<PrincipalsTables, Recorded<PrincipalLifecycleEvent>> = {
  name: 'principals',
  handles: PRINCIPAL_EVENT_TYPES,
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
  async handle(event, tx) {
    const at = eventTime(event);
    const change = principalChange(event);
    switch (change.change) {
      case 'created': {
        const { id, orgId, kind, name, email, role } = change.principal;
        const actor = event.metadata.actorPrincipalId;
        await tx
          .insertInto('principals')
          .values({
            id,
            org_id: orgId,
            kind,
            name,
            name_key: nameKey(name),
            email,
            role,
            status: 'ACTIVE',
            created_by: typeof actor === 'string' ? actor : null,
            created_at: at,
            modified_at: at,
            disabled_at: null,
          })
          .execute();
        return;
      }
      case 'roleChanged':
        await tx.updateTable('principals').set({ role: change.role, modified_at: at }).where('id', '=', change.id).execute();
        return;
      case 'disabled':
        await tx.updateTable('principals').set({ status: 'DISABLED', disabled_at: at, modified_at: at }).where('id', '=', change.id).execute();
        return;
      default: {
        const unhandled: never = change;
        throw new Error(`principals cannot apply ${JSON.stringify(unhandled)}`);
      }
    }
  },
};
