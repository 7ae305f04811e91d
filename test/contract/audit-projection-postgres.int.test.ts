// The audit log with both stores on PostgreSQL.

import { sql } from 'kysely';
import { openPostgresEventStore } from '../../src/eventstore/postgres.js';
import { POSTGRES_APPEND_ONLY_TRIGGER } from '../../projections/audit/projection.js';
import type { ReadModels } from '../../projections/read-models.js';
import { openReadStore } from '../../projections/core/read-store.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';
import { describeAuditProjectionContract } from './audit-projection.contract.js';

const available = await pgReachable();

describePg(available, 'audit log on PostgreSQL', () => {
  describeAuditProjectionContract('postgres', async () => {
    const events = await createTestSchema('kl_audit_events');
    const reads = await createTestSchema('kl_audit_reads');
    const store = await openPostgresEventStore(PG_URL, { schema: events.schema, poolSize: 5 });
    const readStore = await openReadStore<ReadModels>({ kind: 'postgres', url: PG_URL, schema: reads.schema });
    return {
      store,
      readStore,
      // The table's owner can switch its triggers off: what the verifier is there to catch.
      async withoutTriggers(work) {
        await sql.raw(`alter table audit_log disable trigger ${POSTGRES_APPEND_ONLY_TRIGGER}`).execute(readStore.db);
        try {
          await work();
        } finally {
          await sql.raw(`alter table audit_log enable trigger ${POSTGRES_APPEND_ONLY_TRIGGER}`).execute(readStore.db);
        }
      },
      async close() {
        await readStore.close();
        await store.close();
        await events.drop();
        await reads.drop();
      },
    };
  });
});
