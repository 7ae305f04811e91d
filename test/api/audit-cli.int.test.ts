// The operator's audit commands (R24), as an operator runs them: `keyledger audit verify` and
// `keyledger audit export` in a child process, on a SQLite store.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_APPEND_ONLY_TRIGGERS } from '../../projections/audit/projection.js';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-audit-cli-'));
const file = join(dir, 'keyledger.db');
const env = { KEYLEDGER_EVENT_STORE: `sqlite:${file}`, KEYLEDGER_BOOTSTRAP: 'false' };
let orgId: string;
let apiId: string;

beforeAll(async () => {
  const created = await runCli(['init-org', '--name', 'Acme', '--admin-email', 'ops@acme.test', '--json'], env);
  expect(created.code, created.stderr).toBe(0);
  const org = JSON.parse(created.stdout) as { organization: { id: string; apiId: string } };
  orgId = org.organization.id;
  apiId = org.organization.apiId;
  expect((await runCli(['set-api-key-limit', '--org', orgId, '--limit', '9'], env)).code).toBe(0);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keyledger audit', () => {
  it('R24: verify exits 0 with a summary when the chain is intact, for an org by UUID or API id', async () => {
    const byUuid = await runCli(['audit', 'verify', '--org', orgId], env);
    expect(byUuid.code, byUuid.stderr).toBe(0);
    expect(byUuid.stdout.trim()).toBe(`audit chain of organization ${orgId} is intact: 5 entries checked`);
    const byApiId = await runCli(['audit', 'verify', '--org', apiId, '--from', '2000-01-01', '--to', '2999-01-01T00:00:00Z', '--json'], env);
    expect(byApiId.code).toBe(0);
    expect(JSON.parse(byApiId.stdout)).toEqual({ orgId, ok: true, checked: 5, firstBroken: null });
  });

  it('exports every entry as CSV (with a header) or NDJSON, to standard output or a file', async () => {
    const csv = await runCli(['audit', 'export', '--org', orgId, '--format', 'csv'], env);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(1 + 5);
    expect(lines[0]).toMatch(/^seq,org_id,org_seq,event_id,position,at,kind,event_type,/);
    expect(lines.slice(1).map((line) => line.split(',')[7])).toEqual(['OrganizationCreated', 'ApiKeyCreated', 'UserInvited', 'ApplicationKeyCreated', 'ApiKeyLimitChanged']);

    const out = join(dir, 'audit.ndjson');
    const ndjson = await runCli(['audit', 'export', '--org', orgId, '--format', 'ndjson', '--output', out], env);
    expect(ndjson.code, ndjson.stderr).toBe(0);
    expect(ndjson.stdout.trim()).toBe(`exported 5 audit entries of organization ${orgId} to ${out}`);
    const entries = readFileSync(out, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { org_seq: number; kind: string });
    expect(entries.map((e) => e.org_seq)).toEqual([1, 2, 3, 4, 5]);

    const none = await runCli(['audit', 'export', '--org', orgId, '--format', 'ndjson', '--to', '2000-01-01'], env);
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });

  it('refuses bad usage with exit code 2', async () => {
    const refused = await Promise.all(
      [
        ['audit', 'export', '--org', orgId, '--format', 'xml'],
        ['audit', 'verify', '--org', orgId, '--from', 'yesterday'],
        ['audit', 'verify', '--org', 'acme'],
        ['audit', 'verify'],
      ].map((args) => runCli(args, env)),
    );
    expect(refused.map((r) => r.code)).toEqual([2, 2, 2, 2]);
  });

  it('R24: verify exits 1 naming the first broken entry after a row is changed behind keyledger’s back', async () => {
    const db = new Database(file);
    let target: { seq: number; org_seq: number; event_id: string; at: string };
    try {
      target = db.prepare('select seq, org_seq, event_id, at from audit_log where org_id = ? and org_seq = 3').get(orgId) as typeof target;
      expect(() => db.prepare("update audit_log set details = '{}' where seq = ?").run(target.seq)).toThrow(/append-only/);
      for (const name of Object.keys(SQLITE_APPEND_ONLY_TRIGGERS)) db.exec(`drop trigger ${name}`);
      db.prepare("update audit_log set details = replace(details, 'admin', 'read_only') where seq = ?").run(target.seq);
      for (const statement of Object.values(SQLITE_APPEND_ONLY_TRIGGERS)) db.exec(statement);
    } finally {
      db.close();
    }
    const verified = await runCli(['audit', 'verify', '--org', orgId], env);
    expect(verified.code).toBe(1);
    expect(verified.stderr.trim()).toBe(
      `keyledger: audit chain of organization ${orgId} is broken at seq ${target.seq} (org seq 3), event ${target.event_id}, at ${target.at}: hash mismatch (3 entries checked)`,
    );
    // A range after the changed entry still verifies.
    const later = await runCli(['audit', 'verify', '--org', orgId, '--from', new Date(Date.parse(target.at) + 1).toISOString()], env);
    expect(later.code, later.stderr).toBe(0);
  });
});
