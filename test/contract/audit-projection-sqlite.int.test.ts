// The audit log on SQLite: event store and read store in one file (the default layout).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { SQLITE_APPEND_ONLY_TRIGGERS } from '../../projections/audit/projection.js';
import type { ReadModels } from '../../projections/read-models.js';
import { openReadStore } from '../../projections/core/read-store.js';
import { describeAuditProjectionContract } from './audit-projection.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-audit-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeAuditProjectionContract('sqlite (one file)', async () => {
  const path = join(dir, `keyledger-${n++}.db`);
  const store = openSqliteEventStore(path);
  const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
  return {
    store,
    readStore,
    // SQLite cannot disable a trigger: drop it, then make it again as the migration does.
    async withoutTriggers(work) {
      for (const name of Object.keys(SQLITE_APPEND_ONLY_TRIGGERS)) await sql.raw(`drop trigger ${name}`).execute(readStore.db);
      try {
        await work();
      } finally {
        for (const statement of Object.values(SQLITE_APPEND_ONLY_TRIGGERS)) await sql.raw(statement).execute(readStore.db);
      }
    },
    async close() {
      await readStore.close();
      await store.close();
    },
  };
});
