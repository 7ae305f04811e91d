// Read model `credential_usage`: when each credential was last used, from the request events.
// Coalesced to the minute: a batch folds its requests per credential, and a row is written only
// when its minute moves on, so a busy key costs one write a minute, not one per request.

import { sql } from 'kysely';
import { REQUEST_EVENT_TYPES } from '../../src/domain/events.js';
import type { RequestEvent } from '../../src/domain/requests.js';
import type { Recorded } from '../../src/eventstore/recorded.js';
import type { Projection } from '../core/projection.js';
import type { UsageTables } from './tables.js';

/** `2026-11-22T10:15:42.123Z` → `2026-11-22T10:15:00.000Z`. */
function toMinute(iso: string): string {
  return `${iso.slice(0, 16)}:00.000Z`;
}

export const usageProjection: Projection<UsageTables, Recorded<RequestEvent>> = {
  name: 'credential_usage',
  handles: REQUEST_EVENT_TYPES,
  tables: ['credential_usage'],
  migrations: {
    '0001_create': {
      async up(db) {
        await db.schema
          .createTable('credential_usage')
          .addColumn('credential_id', 'text', (c) => c.primaryKey())
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('credential_usage_org_last_used').on('credential_usage').columns(['org_id', 'last_used_at']).execute();
      },
      async down(db) {
        await db.schema.dropTable('credential_usage').ifExists().execute();
      },
    },
  },
  async handleBatch(events, tx) {
    const latest = new Map<string, { orgId: string; minute: string }>();
    for (const event of events) {
      const entry = event.data;
      // A denied request is not a use of the credential.
      if (event.type !== 'RequestAuthenticated') continue;
      const minute = toMinute(entry.at);
      for (const id of [entry.apiKeyId, entry.applicationKeyId, entry.clientTokenId]) {
        if (id === null) continue;
        const seen = latest.get(id);
        if (!seen || seen.minute < minute) latest.set(id, { orgId: entry.orgId, minute });
      }
    }
    const rows = [...latest].map(([credentialId, { orgId, minute }]) => ({ credential_id: credentialId, org_id: orgId, last_used_at: minute }));
    for (let i = 0; i < rows.length; i += 5000) {
      await tx
        .insertInto('credential_usage')
        .values(rows.slice(i, i + 5000))
        .onConflict((oc) =>
          oc
            .column('credential_id')
            .doUpdateSet((eb) => ({ last_used_at: eb.ref('excluded.last_used_at') }))
            .where(sql<boolean>`credential_usage.last_used_at < excluded.last_used_at`),
        )
        .execute();
    }
  },
};
