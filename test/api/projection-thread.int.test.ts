// The projections run on a worker thread of the gateway (issue 11, "requests apart from
// writes"): read-your-writes, /ready and exactly-once are what they were on the main thread,
// and a worker killed in the middle of a load is replaced without an event lost or applied twice.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIntegrityDocument, CreateApiKeyDocument, ApiKeysDocument, RevokeApiKeyDocument } from '../gql/graphql.js';
import { openSqliteFile } from '../../src/sqlite/database.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

interface Ready {
  status: string;
  projections: { name: string; state: string; position: string }[];
}

async function readiness(url: string): Promise<{ code: number; body: Ready }> {
  const response = await fetch(`${url}/ready`);
  return { code: response.status, body: (await response.json()) as Ready };
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('projections on a worker thread', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway();
  });
  afterAll(() => g?.close());

  it('runs them there by default, and /ready reports them running as before', async () => {
    expect(g.app.projectionThread).not.toBeNull();
    const { code, body } = await readiness(g.url);
    expect(code).toBe(200);
    expect(body.projections.length).toBeGreaterThan(0);
    expect(body.projections.every((p) => p.state === 'running')).toBe(true);
  });

  it('a created key is in the list the moment the mutation answers (read-your-writes across threads)', async () => {
    for (let i = 0; i < 5; i++) {
      const name = `rw-${randomUUID().slice(0, 8)}`;
      const created = await g.call(CreateApiKeyDocument, { name }, g.admin);
      expect(created.errors).toBeUndefined();
      const listed = await g.call(ApiKeysDocument, { first: 100 }, g.admin);
      expect(listed.data?.apiKeys.edges.map((e) => e.node.name)).toContain(name);
    }
  });

  it('R24, R25: killed in the middle of a load, the worker is replaced; no event is lost or applied twice and the chain holds', async () => {
    const thread = g.app.projectionThread!;
    let stop = false;
    const made: string[] = [];
    const load = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const name = `load-${randomUUID().slice(0, 8)}`;
        const created = await g.call(CreateApiKeyDocument, { name }, g.admin);
        if (created.data?.createApiKey) {
          made.push(created.data.createApiKey.apiKey.id);
          // Revoked at once, so that the org stays under its limit of active keys (R2).
          await g.call(RevokeApiKeyDocument, { id: created.data.createApiKey.apiKey.id }, g.admin);
        }
        await fetch(`${g.url}/api/v1/validate`, { headers: { 'dd-api-key': g.admin.apiKey } }).then((r) => r.arrayBuffer());
      }
    });
    await until(async () => (made.length >= 5 ? true : undefined), 'a first few keys');
    await thread.kill();
    // While no worker runs, /ready says so.
    const down = await readiness(g.url);
    expect(down.code).toBe(503);
    await until(async () => (made.length >= 15 ? true : undefined), 'keys made after the kill');
    stop = true;
    await Promise.all(load);
    // Replaced, it catches up: every projection runs again at the store's head.
    const head = await g.app.store.headPosition();
    await g.app.runner.waitFor(head, { timeoutMs: 10_000 });
    const after = await until(async () => {
      const r = await readiness(g.url);
      return r.code === 200 ? r : undefined;
    }, 'ready again');
    expect(after.body.projections.every((p) => p.state === 'running' && p.position >= head)).toBe(true);

    const db = openSqliteFile(g.sqliteFile!, { readonly: true });
    try {
      // Each event in the audit log once, and every event of the store there.
      const twice = db.prepare('select event_id, count(*) as n from audit_log group by event_id having n > 1').all();
      expect(twice).toEqual([]);
      const events = db.prepare('select count(*) as n from events').get() as { n: number };
      const audited = db.prepare('select count(*) as n from audit_log').get() as { n: number };
      expect(audited.n).toBe(events.n);
      // Every key made is a credential row, once.
      const rows = db.prepare("select count(*) as n from credentials where name like 'load-%'").get() as { n: number };
      expect(rows.n).toBe(made.length);
    } finally {
      db.close();
    }
    const integrity = await g.call(AuditIntegrityDocument, {}, g.admin);
    expect(integrity.data?.auditIntegrity.ok).toBe(true);
  });
});

describe('projections on the main thread (KEYLEDGER_PROJECTION_THREAD=main)', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway({ env: { KEYLEDGER_PROJECTION_THREAD: 'main' } });
  });
  afterAll(() => g?.close());

  it('runs them on the event loop that serves requests, with the same read-your-writes', async () => {
    expect(g.app.projectionThread).toBeNull();
    const { code, body } = await readiness(g.url);
    expect(code).toBe(200);
    expect(body.projections.every((p) => p.state === 'running')).toBe(true);
    const name = `main-${randomUUID().slice(0, 8)}`;
    expect((await g.call(CreateApiKeyDocument, { name }, g.admin)).errors).toBeUndefined();
    const listed = await g.call(ApiKeysDocument, { first: 100 }, g.admin);
    expect(listed.data?.apiKeys.edges.map((e) => e.node.name)).toContain(name);
  });
});
