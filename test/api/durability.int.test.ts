// R25: an acknowledged request's audit entry survives a crash, and a restart duplicates none.
// The gateway runs as a child process, is killed with SIGKILL under load, and is started again.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { openSqliteFile } from '../../src/sqlite/database.js';
import type { RequestEntry } from '../../src/domain/requests.js';
import { runCli, serveCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('durability', () => {
  it('R25: every request answered 2xx before a SIGKILL is in the audit log exactly once after the restart', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'keyledger.db')}`, KEYLEDGER_BOOTSTRAP: 'false', LOG_LEVEL: 'info' };
    const created = await runCli(['init-org', '--name', 'Durable', '--admin-email', 'ops@durable.test', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { organization, apiKey } = JSON.parse(created.stdout) as { organization: { id: string }; apiKey: { secret: string } };

    const first = await serveCli(env);
    const acknowledged: string[] = [];
    let sent = 0;
    let stop = false;
    const loops = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const id = randomUUID();
        sent++;
        try {
          const response = await fetch(`${first.url}/api/v1/validate`, { headers: { 'dd-api-key': apiKey.secret, 'x-request-id': id } });
          await response.arrayBuffer();
          if (response.ok) acknowledged.push(id);
        } catch {
          return; // the gateway is gone
        }
      }
    });
    // Kill it in the middle of the load.
    while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 10));
    await first.kill();
    stop = true;
    await Promise.all(loops);
    expect(sent).toBeGreaterThan(acknowledged.length);

    // Restarted, it appends nothing of the past again, and its projections catch up.
    const second = await serveCli(env);
    try {
      await fetch(`${second.url}/api/v1/validate`, { headers: { 'dd-api-key': apiKey.secret, 'x-request-id': 'after-restart' } });
      const store = openSqliteEventStore(join(dir, 'keyledger.db'));
      try {
        const count = new Map<string, number>();
        for (const event of await store.readStream(`requests-${organization.id}`)) {
          const id = (event.data as unknown as RequestEntry).requestId;
          count.set(id, (count.get(id) ?? 0) + 1);
        }
        for (const id of acknowledged) expect(count.get(id), id).toBe(1);
        expect([...count.values()].every((n) => n === 1)).toBe(true);
        expect(count.get('after-restart')).toBe(1);
      } finally {
        await store.close();
      }
      // And in the audit log read model, once its projection has caught up after the restart.
      const db = openSqliteFile(join(dir, 'keyledger.db'));
      try {
        const entries = await vi.waitUntil(
          () => {
            const rows = db.prepare<[string], { request_id: string }>("select request_id from audit_log where org_id = ? and kind = 'REQUEST'").all(organization.id);
            return rows.some((r) => r.request_id === 'after-restart') ? rows : false;
          },
          { timeout: 20_000, interval: 100 },
        );
        const inLog = new Map<string, number>();
        for (const { request_id: id } of entries) inLog.set(id, (inLog.get(id) ?? 0) + 1);
        for (const id of acknowledged) expect(inLog.get(id), id).toBe(1);
      } finally {
        db.close();
      }
    } finally {
      await second.stop();
    }
  });
});
