import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openSqliteEventStore } from './src/eventstore/sqlite.js';
import { openReadStore } from './projections/read-store.js';
import { ProjectionRunner } from './projections/runner.js';
import { auditProjection } from './projections/audit.js';
import type { ReadModels } from './projections/index.js';

const N = 50000;
const path = join(mkdtempSync(join(tmpdir(), 'ab-')), 'k.db');
const store = openSqliteEventStore(path);
const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
const orgs = Array.from({ length: 10 }, () => randomUUID());
const keys = Array.from({ length: 20 }, () => randomUUID());
for (let i = 0; i < N; i += 500) {
  const org = orgs[(i / 500) % orgs.length]!;
  await store.append(`requests-${org}`, Array.from({ length: 500 }, (_, j) => ({ id: randomUUID(), type: 'RequestAuthenticated', data: { at: new Date(Date.UTC(2026,0,1) + (i + j) * 1000).toISOString(), requestId: randomUUID(), orgId: org, apiKeyId: keys[j % 20]!, applicationKeyId: keys[(j + 3) % 20]!, clientTokenId: null, principalId: keys[(j+7) % 20]!, operationType: 'query', operationName: 'ApiKeys', rootFields: ['apiKeys'], outcome: 'ALLOWED', errorCode: null, clientIp: '10.0.0.1', userAgent: 'bench' } })));
}
const runner = new ProjectionRunner<ReadModels>({ store, readStore, projections: [auditProjection] });
await runner.migrate();
let t = performance.now();
let n = 0;
const pages = [];
for await (const page of store.readAll()) { n += page.length; pages.push(page); }
console.log('readAll', n, (performance.now() - t).toFixed(0), 'ms');
const phases: Record<string, number> = {};
const orig = auditProjection.handleBatch!;
t = performance.now();
await readStore.db.transaction().execute(async (tx) => {
  for (const page of pages) {
    const s = performance.now();
    await orig(page, tx);
    phases.batch = (phases.batch ?? 0) + performance.now() - s;
  }
});
console.log('handleBatch total', (performance.now() - t).toFixed(0), phases, (globalThis as any).__T);
// raw insert cost: copy rows into a table without indexes
t = performance.now();
await sql`create table copy_plain as select * from audit_log where 0`.execute(readStore.db);
await sql`insert into copy_plain select * from audit_log`.execute(readStore.db);
console.log('plain copy', (performance.now() - t).toFixed(0));
t = performance.now();
await sql`create table copy_idx as select * from audit_log where 0`.execute(readStore.db);
for (const [i, cols] of [['org_id','seq'],['org_id','org_seq'],['org_id','api_key_id','seq'],['org_id','application_key_id','seq'],['org_id','client_token_id','seq'],['org_id','principal_id','seq'],['org_id','at','org_seq'],['event_id']].entries()) await sql.raw(`create index ci${i} on copy_idx(${cols.join(',')})`).execute(readStore.db);
await sql`insert into copy_idx select * from audit_log`.execute(readStore.db);
console.log('indexed copy', (performance.now() - t).toFixed(0));
await readStore.close(); await store.close();
