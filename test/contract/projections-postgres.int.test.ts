// The projection runner with both stores on PostgreSQL, as several gateway instances run it.

import { openPostgresEventStore } from '../../src/eventstore/postgres.js';
import { openReadStore } from '../../projections/core/read-store.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';
import type { StreamActivityTables } from '../support/stream-activity.js';
import { describeProjectionContract } from './projections.contract.js';

const available = await pgReachable();

describePg(available, 'projection runner on PostgreSQL', () => {
  describeProjectionContract('postgres', async () => {
    const events = await createTestSchema('kl_test_events');
    const reads = await createTestSchema('kl_test_reads');
    const store = await openPostgresEventStore(PG_URL, { schema: events.schema, poolSize: 5 });
    const readStore = await openReadStore<StreamActivityTables>({ kind: 'postgres', url: PG_URL, schema: reads.schema });
    const others: Array<{ close(): Promise<void> }> = [];
    return {
      store,
      readStore,
      async openOtherReadStore() {
        const other = await openReadStore<StreamActivityTables>({ kind: 'postgres', url: PG_URL, schema: reads.schema });
        others.push(other);
        return other;
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
