import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { openReadStore } from '../../projections/core/read-store.js';
import type { StreamActivityTables } from '../support/stream-activity.js';
import { describeProjectionContract } from './projections.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-projections-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The default layout: event store and read store in one SQLite file.
describeProjectionContract('sqlite (one file)', async () => {
  const path = join(dir, `keyledger-${n++}.db`);
  const store = openSqliteEventStore(path);
  const readStore = await openReadStore<StreamActivityTables>({ kind: 'sqlite', path });
  return {
    store,
    readStore,
    openOtherReadStore: () => openReadStore<StreamActivityTables>({ kind: 'sqlite', path }),
    async close() {
      await readStore.close();
      await store.close();
    },
  };
});
