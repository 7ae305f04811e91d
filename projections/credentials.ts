// Read model `credentials`: the current state of every API key, application key and client
// token (never a secret: its digest and last four characters only).

import type { Projection } from './projection.js';
import type { ReadModels } from './index.js';
import { eventTime } from './time.js';
import { nameKey } from '../src/domain/names.js';
import type { OrganizationEvent } from '../src/domain/organization.js';
import type { PrincipalEvent } from '../src/domain/principal.js';

const HANDLES = [
  'ApiKeyCreated',
  'ApiKeyRenamed',
  'ApiKeyRevoked',
  'ClientTokenCreated',
  'ClientTokenRenamed',
  'ClientTokenRevoked',
  'ApplicationKeyCreated',
  'ApplicationKeyScoped',
  'ApplicationKeyRenamed',
  'ApplicationKeyRevoked',
  'ApplicationKeyOwnerDisabled',
] as const satisfies (OrganizationEvent['type'] | PrincipalEvent['type'])[];

const KIND_CREATED = { ApiKeyCreated: 'API_KEY', ClientTokenCreated: 'CLIENT_TOKEN', ApplicationKeyCreated: 'APPLICATION_KEY' } as const;

type Handled = Extract<OrganizationEvent | PrincipalEvent, { type: (typeof HANDLES)[number] }>;

export const credentialsProjection: Projection<ReadModels> = {
  name: 'credentials',
  handles: HANDLES,
  tables: ['credentials'],
  migrations: {
    '0001_create': {
      async up(db) {
        await db.schema
          .createTable('credentials')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('name_key', 'text', (c) => c.notNull())
          .addColumn('last4', 'text', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull().unique())
          .addColumn('owner_id', 'text')
          .addColumn('created_by', 'text')
          .addColumn('scopes', 'text')
          .addColumn('allowed_origins', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('revocation_reason', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('modified_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('expires_at', 'text')
          .execute();
        await db.schema.createIndex('credentials_org_kind_created').on('credentials').columns(['org_id', 'kind', 'created_at', 'id']).execute();
        await db.schema.createIndex('credentials_org_kind_name').on('credentials').columns(['org_id', 'kind', 'name_key', 'id']).execute();
        await db.schema.createIndex('credentials_owner').on('credentials').columns(['owner_id', 'created_at']).execute();
      },
      async down(db) {
        await db.schema.dropTable('credentials').ifExists().execute();
      },
    },
  },
  async handle(recorded, tx) {
    const event = recorded as unknown as Handled;
    const at = eventTime(recorded);
    const base = { revocation_reason: null, revoked_at: null, status: 'ACTIVE' as const, created_at: at, modified_at: at };
    switch (event.type) {
      case 'ApiKeyCreated':
      case 'ClientTokenCreated':
      case 'ApplicationKeyCreated': {
        const data = event.data;
        await tx
          .insertInto('credentials')
          .values({
            ...base,
            id: event.type === 'ClientTokenCreated' ? event.data.tokenId : event.data.keyId,
            kind: KIND_CREATED[event.type],
            org_id: data.orgId,
            name: data.name,
            name_key: nameKey(data.name),
            last4: data.last4,
            digest: data.digest,
            owner_id: event.type === 'ApplicationKeyCreated' ? event.data.principalId : null,
            created_by: data.createdBy,
            scopes: event.type === 'ApplicationKeyCreated' && event.data.scopes !== null ? JSON.stringify(event.data.scopes) : null,
            allowed_origins: event.type === 'ClientTokenCreated' ? JSON.stringify(event.data.allowedOrigins) : null,
            expires_at: event.type === 'ApplicationKeyCreated' ? event.data.expiresAt : null,
          })
          .execute();
        return;
      }
      case 'ApiKeyRenamed':
      case 'ClientTokenRenamed':
      case 'ApplicationKeyRenamed': {
        const id = event.type === 'ClientTokenRenamed' ? event.data.tokenId : event.data.keyId;
        await tx
          .updateTable('credentials')
          .set({ name: event.data.name, name_key: nameKey(event.data.name), modified_at: at })
          .where('id', '=', id)
          .execute();
        return;
      }
      case 'ApplicationKeyScoped':
        await tx
          .updateTable('credentials')
          .set({ scopes: event.data.scopes === null ? null : JSON.stringify(event.data.scopes), modified_at: at })
          .where('id', '=', event.data.keyId)
          .execute();
        return;
      case 'ApiKeyRevoked':
      case 'ClientTokenRevoked':
      case 'ApplicationKeyRevoked':
      case 'ApplicationKeyOwnerDisabled': {
        const id = event.type === 'ClientTokenRevoked' ? event.data.tokenId : event.data.keyId;
        await tx.updateTable('credentials').set({ status: 'REVOKED', revocation_reason: event.data.reason, revoked_at: at, modified_at: at }).where('id', '=', id).execute();
        return;
      }
    }
  },
};
