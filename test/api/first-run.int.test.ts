// The first run and the operator's commands, as a newcomer and an operator meet them: the CLI
// in a child process, then the API with what it printed.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, serveCli, type ServedCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-first-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * `keyledger serve`, once it listens (and, on a first run, once it has said where the admin's
 * keys are: with no terminal, as here, they go to a file, never to stdout and its JSON logs).
 */
const serve = (env: Record<string, string>, expectBanner: boolean): Promise<ServedCli> =>
  serveCli(env, (output) => !expectBanner || output.includes("first run: the admin's keys are in this file"));

async function graphql(
  url: string,
  query: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: { data?: Record<string, unknown>; errors?: { extensions?: { code?: string } }[] } }> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  return { status: response.status, body: (await response.json()) as never };
}

describe('first run', () => {
  it('creates an organization on an empty store and gives its admin keys once, with a curl example that works, never in the log stream', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'first.db')}` };
    const first = await serve(env, true);
    const out = first.output();
    // No terminal: the banner is in a file beside the store, readable by its owner only, and the log names it.
    const keysFile = join(dir, 'first-run-keys.txt');
    const logged = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; file?: string })
      .find((l) => l.msg.startsWith("first run: the admin's keys are in this file"));
    expect(logged?.file).toBe(keysFile);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    const banner = readFileSync(keysFile, 'utf8');
    const apiKey = /API key:\s+(klk_api_\w+)/.exec(banner)?.[1];
    const appKey = /Application key:\s+(klk_app_\w+)/.exec(banner)?.[1];
    expect(apiKey).toBeDefined();
    expect(appKey).toBeDefined();
    expect(banner).toContain(`curl -s ${first.url}/graphql`);
    // Neither the JSON log lines nor anything else the process wrote carries them: only the file does.
    expect(out).not.toContain(apiKey!);
    expect(out).not.toContain(appKey!);
    expect(out).not.toMatch(/klk_(api|app)_\w{38}/);

    const viewer = await graphql(first.url, '{ viewer { principal { name role } organization { name } } }', { 'X-API-Key': apiKey!, 'X-Application-Key': appKey! });
    expect(viewer.body.data).toEqual({ viewer: { principal: { name: 'Admin', role: 'ADMIN' }, organization: { name: 'My organization' } } });

    // GraphiQL is served at /graphql for a browser.
    const page = await fetch(`${first.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/graphiql/i);
    expect(await first.stop()).toBe(0);

    // The store is no longer empty: no second organization, no banner.
    const again = await serve(env, false);
    await new Promise((r) => setTimeout(r, 300));
    expect(again.output()).not.toContain('first run');
    expect(await again.stop()).toBe(0);
  });

  it('does nothing of the kind with KEYLEDGER_BOOTSTRAP=false', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'no-bootstrap.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };
    const served = await serve(env, false);
    await new Promise((r) => setTimeout(r, 300));
    expect(served.output()).not.toMatch(/klk_(api|app)_/);
    expect(await served.stop()).toBe(0);
    const status = await runCli(['projections', 'status', '--json'], env);
    expect((JSON.parse(status.stdout) as { projections: { head: string }[] }).projections.every((s) => s.head === '')).toBe(true);
  });
});

describe('operator commands', () => {
  const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'operator.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };

  it('init-org prints the first keys once (JSON for scripts), and set-api-key-limit changes the limit', async () => {
    const created = await runCli(['init-org', '--name', 'Acme', '--admin-email', 'ops@acme.test', '--admin-name', 'Olga Ops', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const org = JSON.parse(created.stdout) as {
      organization: { id: string; name: string; apiKeyLimit: number };
      admin: { email: string; role: string };
      apiKey: { secret: string };
      applicationKey: { secret: string };
    };
    expect(org.organization).toMatchObject({ name: 'Acme', apiKeyLimit: 50 });
    expect(org.admin).toMatchObject({ email: 'ops@acme.test', role: 'admin' });
    expect(created.stderr).not.toContain(org.apiKey.secret);

    const limited = await runCli(['set-api-key-limit', '--org', org.organization.id, '--limit', '7'], env);
    expect(limited.code, limited.stderr).toBe(0);
    expect(limited.stdout).toContain('API-key limit 7');

    const served = await serve(env, false);
    try {
      const answer = await graphql(served.url, '{ viewer { principal { name } } organization { name apiKeyLimit activeApiKeyCount } }', {
        'X-API-Key': org.apiKey.secret,
        'X-Application-Key': org.applicationKey.secret,
      });
      expect(answer.body.data).toEqual({ viewer: { principal: { name: 'Olga Ops' } }, organization: { name: 'Acme', apiKeyLimit: 7, activeApiKeyCount: 1 } });
    } finally {
      await served.stop();
    }
  });

  it('refuses bad input with exit code 2 and a reason, and an unknown organization with 1', async () => {
    const badEmail = await runCli(['init-org', '--name', 'X', '--admin-email', 'not-an-email'], env);
    expect(badEmail.code).toBe(2);
    expect(badEmail.stderr).toContain('BAD_USER_INPUT');
    const blank = await runCli(['init-org', '--name', '  ', '--admin-email', 'a@b.test'], env);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('BLANK_NAME');
    const zero = await runCli(['set-api-key-limit', '--org', '00000000-0000-4000-8000-000000000000', '--limit', '0'], env);
    expect(zero.code).toBe(2);
    const unknown = await runCli(['set-api-key-limit', '--org', '00000000-0000-4000-8000-000000000000', '--limit', '5'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NOT_FOUND');
  });
});
