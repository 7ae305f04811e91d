import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteEventStore } from './src/eventstore/sqlite.js';
import { draftOf } from './projections/audit.js';
const N = 50000;
const path = join(mkdtempSync(join(tmpdir(), 'ab-')), 'k.db');
const store = openSqliteEventStore(path);
const org = randomUUID();
for (let i = 0; i < N; i += 500) {
  await store.append(`requests-${org}`, Array.from({ length: 500 }, (_, j) => ({ id: randomUUID(), type: 'RequestAuthenticated', data: { at: new Date().toISOString(), requestId: randomUUID(), orgId: org, apiKeyId: org, applicationKeyId: org, clientTokenId: null, principalId: org, operationType: 'query', operationName: 'ApiKeys', rootFields: ['apiKeys'], outcome: 'ALLOWED', errorCode: null, clientIp: '10.0.0.1', userAgent: 'bench' } })));
}
const pages = [];
for await (const page of store.readAll()) pages.push(page);
let t = performance.now();
for (const p of pages) p.map(draftOf);
console.log('draftOf', (performance.now() - t).toFixed(0));
const pages2 = [];
for await (const page of store.readAll()) pages2.push(page);
t = performance.now();
for (const p of pages2) p.map((e) => e.data);
console.log('data parse', (performance.now() - t).toFixed(0));
t = performance.now();
for (const p of pages2) p.map(draftOf);
console.log('draftOf after parse', (performance.now() - t).toFixed(0));
await store.close();
