import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteEventStore } from './src/eventstore/sqlite.js';
const N = 20000;
const path = join(mkdtempSync(join(tmpdir(), 'ab-')), 'k.db');
const store = openSqliteEventStore(path);
const org = randomUUID();
for (let i = 0; i < N; i += 500) {
  await store.append(`requests-${org}`, Array.from({ length: 500 }, (_, j) => ({ id: randomUUID(), type: 'RequestAuthenticated', data: { at: new Date().toISOString(), requestId: randomUUID(), orgId: org, rootFields: ['apiKeys'] } })));
}
const events = [];
for await (const page of store.readAll()) events.push(...page);
for (const e of events) e.data;
const time = (name: string, f: (e: any) => unknown) => { const t = performance.now(); for (const e of events) f(e); console.log(name, ((performance.now() - t) * 1000 / events.length).toFixed(2), 'us'); };
time('id', (e) => e.id);
time('position', (e) => e.position);
time('type', (e) => e.type);
time('data', (e) => e.data);
time('metadata', (e) => e.metadata);
time('stringify', (e) => JSON.stringify(e.data.rootFields));
await store.close();
