// R25: an acknowledged request's audit entry survives a crash, and a restart duplicates none.
// The gateway runs as a child process, is killed with SIGKILL under load, and is started again.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { openSqliteFile } from '../../src/sqlite/database.js';
import type { RequestEntry } from '../../src/domain/requests.js';
import { runCli, startCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = startCli(['serve', '--port', '0'], env);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
    const check = setInterval(() => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        clearInterval(check);
        resolve(match[1]!);
      }
    }, 20);
  });
  return { child, url };
}

describe('durability', () => {
  it('R25: every request answered 2xx before a SIGKILL is in the audit log exactly once after the restart', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'keyledger.db')}`, KEYLEDGER_BOOTSTRAP: 'false', LOG_LEVEL: 'info' };
    const created = await runCli(['init-org', '--name', 'Durable', '--admin-email', 'ops@durable.test', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { organization, apiKey } = JSON.parse(created.stdout) as { organization: { id: string }; apiKey: { secret: string } };

    const first = await serve(env);
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
    const died = new Promise((resolve) => first.child.on('close', resolve));
    first.child.kill('SIGKILL');
    await died;
    stop = true;
    await Promise.all(loops);
    expect(sent).toBeGreaterThan(acknowledged.length);

    // Restarted, it appends nothing of the past again, and its projections catch up.
    const second = await serve(env);
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
      const exited = new Promise((resolve) => second.child.on('close', resolve));
      second.child.kill('SIGTERM');
      await exited;
    }
  });
});
