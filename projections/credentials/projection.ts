// Read model `credentials`: the current state of every API key, application key and client
// token (never a secret: its digest and last four characters only). Each event touches the rows
// it names and no other: a rotation inserts its successor and marks its predecessor, whatever
// the size of the organization.

import { sql, type Transaction } from 'kysely';
import { credentialChange, type NewCredential } from '../../src/domain/credential.js';
import { CREDENTIAL_EVENT_TYPES, type CredentialEvent } from '../../src/domain/events.js';
import { nameKey } from '../../src/domain/names.js';
import type { Recorded } from '../../src/eventstore/recorded.js';
import type { Projection } from '../core/projection.js';
import { eventTime } from '../core/time.js';
import type { CredentialsTables } from './tables.js';

async function insertCredential(tx: Transaction<CredentialsTables>, c: NewCredential, at: string): Promise<void> {
  await tx
    .insertInto('credentials')
    .values({
      id: c.id,
      kind: c.kind,
      org_id: c.orgId,
      name: c.name,
      name_key: nameKey(c.name),
      last4: c.last4,
      digest: c.digest,
      owner_id: c.ownerId,
      created_by: c.createdBy,
      scopes: c.kind === 'APPLICATION_KEY' && c.scopes !== null ? JSON.stringify(c.scopes) : null,
      allowed_origins: c.kind === 'CLIENT_TOKEN' ? JSON.stringify(c.allowedOrigins) : null,
      status: 'ACTIVE',
      revocation_reason: null,
      created_at: at,
      modified_at: at,
      revoked_at: null,
      expires_at: c.expiresAt,
      successor_id: null,
      revokes_at: null,
      expiry_recorded_at: null,
    })
    .execute();
  // The lists' counts (tables.ts): the org's of this kind, and the owner's.
  const counts = [{ org_id: c.orgId, kind: c.kind, owner_id: '', entries: 1 }];
  if (c.ownerId !== null) counts.push({ org_id: c.orgId, kind: c.kind, owner_id: c.ownerId, entries: 1 });
  await tx
    .insertInto('credential_counts')
    .values(counts)
    .onConflict((oc) => oc.columns(['org_id', 'kind', 'owner_id']).doUpdateSet((eb) => ({ entries: eb(eb.ref('credential_counts.entries'), '+', 1) })))
    .execute();
}

export const credentialsProjection: Projection<CredentialsTables, Recorded<CredentialEvent>> = {
  name: 'credentials',
  handles: CREDENTIAL_EVENT_TYPES,
  tables: ['credentials', 'credential_counts'],
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
    // R18, R19: rotations and recorded expiries, and what the scheduler looks for: the earliest
    // grace to end and the earliest expiry to record, each read from a partial index of the rows
    // still waiting for it.
    '0002_rotation_expiry': {
      async up(db) {
        for (const column of ['successor_id', 'revokes_at', 'expiry_recorded_at']) await db.schema.alterTable('credentials').addColumn(column, 'text').execute();
        await db.schema.createIndex('credentials_grace_due').on('credentials').column('revokes_at').where(sql<boolean>`status = 'ACTIVE' and revokes_at is not null`).execute();
        await db.schema
          .createIndex('credentials_expiry_due')
          .on('credentials')
          .column('expires_at')
          .where(sql<boolean>`status = 'ACTIVE' and expires_at is not null and expiry_recorded_at is null`)
          .execute();
      },
      async down(db) {
        await db.schema.dropIndex('credentials_grace_due').ifExists().execute();
        await db.schema.dropIndex('credentials_expiry_due').ifExists().execute();
        for (const column of ['successor_id', 'revokes_at', 'expiry_recorded_at']) await db.schema.alterTable('credentials').dropColumn(column).execute();
      },
    },
    // An unfiltered list's totalCount without counting (tables.ts); counted once from the rows already there.
    '0003_counts': {
      async up(db) {
        await db.schema
          .createTable('credential_counts')
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('owner_id', 'text', (c) => c.notNull())
          .addColumn('entries', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('credential_counts_pkey', ['org_id', 'kind', 'owner_id'])
          .execute();
        await sql`insert into credential_counts (org_id, kind, owner_id, entries) select org_id, kind, '', count(*) from credentials group by org_id, kind`.execute(db);
        await sql`insert into credential_counts (org_id, kind, owner_id, entries) select org_id, kind, owner_id, count(*) from credentials where owner_id is not null group by org_id, kind, owner_id`.execute(
          db,
        );
      },
      async down(db) {
        await db.schema.dropTable('credential_counts').ifExists().execute();
      },
    },
  },
  async handle(event, tx) {
    const at = eventTime(event);
    const change = credentialChange(event);
    switch (change.change) {
      case 'created':
        await insertCredential(tx, change.credential, at);
        return;
      case 'rotated':
        await insertCredential(tx, change.successor, at);
        await tx.updateTable('credentials').set({ successor_id: change.successor.id, revokes_at: change.revokeAt, modified_at: at }).where('id', '=', change.id).execute();
        return;
      case 'expired':
        await tx.updateTable('credentials').set({ expiry_recorded_at: at }).where('id', '=', change.id).execute();
        return;
      case 'renamed':
        await tx
          .updateTable('credentials')
          .set({ name: change.name, name_key: nameKey(change.name), modified_at: at })
          .where('id', '=', change.id)
          .execute();
        return;
      case 'scoped':
        await tx
          .updateTable('credentials')
          .set({ scopes: change.scopes === null ? null : JSON.stringify(change.scopes), modified_at: at })
          .where('id', '=', change.id)
          .execute();
        return;
      case 'revoked':
        await tx.updateTable('credentials').set({ status: 'REVOKED', revocation_reason: change.reason, revoked_at: at, modified_at: at }).where('id', '=', change.id).execute();
        return;
      default: {
        const unhandled: never = change;
        throw new Error(`credentials cannot apply ${JSON.stringify(unhandled)}`);
      }
    }
  },
};
