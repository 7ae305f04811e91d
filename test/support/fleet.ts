// A fleet of real keyledger gateways: N `keyledger serve` processes (through tsx, as
// test/support/cli.ts runs the CLI) on one fresh pair of PostgreSQL schemas, the event store's and
// the read store's, each on a free loopback port of its own. The first one bootstraps the
// organization (no terminal: the admin's keys go to the first-run keys file, in a temp dir) and
// the others start once it is ready. `close()` ends them all and drops both schemas, and a fleet
// that fails to start cleans up the same way. No vitest here: the benchmarks use it too.
//
// Each instance is named (`a`, `b`, … unless told), and identified by an instance id made of the
// fleet's id and its name: PostgreSQL shows it as the `application_name` of its connections (in
// the store URLs), and it is its KEYLEDGER_INSTANCE_ID.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ROOT } from './cli.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const DEFAULT_PG_URL = process.env.KEYLEDGER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
/** What an instance's logs() keeps: its last output, so that a long run under load does not grow without bound. */
const LOG_TAIL_CHARS = 2 * 1024 * 1024;
const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** How long close() waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 10_000;
const SECRET = (label: string, prefix: string) => new RegExp(`${label}:\\s+(${prefix}[0-9A-Za-z]{38})`);

export interface FleetInstance {
  readonly name: string;
  /** KEYLEDGER_INSTANCE_ID and the application_name of its PostgreSQL connections. */
  readonly instanceId: string;
  readonly url: string;
  readonly pid: number;
  /** Sends the signal (SIGTERM by default); resolves once the process has exited (at once for SIGSTOP, SIGCONT, SIGTSTP, SIGWINCH). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
  /** Everything it wrote to stdout and stderr (the last 2 MiB of it). */
  logs(): string;
}

interface Credentials {
  readonly apiKey: string;
  readonly applicationKey: string;
}

interface GraphQLAnswer<T> {
  readonly status: number;
  readonly body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
}

export interface Fleet {
  /** The instances started so far, in order (killed ones included: see `exited`). */
  readonly instances: FleetInstance[];
  /** The first run's admin keys. */
  readonly admin: Credentials;
  readonly eventSchema: string;
  readonly readSchema: string;
  /** The PostgreSQL database, without `schema` nor `application_name`. */
  readonly pgUrl: string;
  /** Starts one more instance (named `name`, with `env` over the fleet's) and resolves once its /ready answers 200. */
  start(name?: string, env?: Record<string, string>): Promise<FleetInstance>;
  /** POST /graphql on `instance`, as the admin unless `credentials` are given; does not throw on errors. */
  graphql<T = unknown>(instance: FleetInstance, query: string, variables?: Record<string, unknown>, credentials?: Credentials): Promise<GraphQLAnswer<T>>;
  /** SIGTERM to every instance, SIGKILL to those still running after 10 s, then both schemas are dropped. */
  close(): Promise<void>;
}

export interface FleetOptions {
  readonly size: number;
  /** Environment of every instance, over the fleet's own (the stores, KEYLEDGER_INSTANCE_ID, LOG_LEVEL=warn, …); HOST and PORT stay the fleet's. */
  readonly env?: Record<string, string>;
  /** The database (default KEYLEDGER_TEST_PG, else postgres://postgres@127.0.0.1:5432/test). */
  readonly pgUrl?: string;
  /** The bound of one instance's start, up to /ready (default 60 s). */
  readonly readyTimeoutMs?: number;
}

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

async function withClient<T>(pgUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A loopback port that was free a moment ago (the instance retries another if it is taken meanwhile). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function defaultName(n: number): string {
  return n < 26 ? String.fromCharCode(97 + n) : `i${n}`;
}

interface Spawned extends FleetInstance {
  /** Resolves, once it has exited, with how it ended. */
  readonly ended: Promise<string>;
  /** SIGTERM (and SIGCONT, should it be stopped), then SIGKILL if it still runs after the grace; resolves once it has exited. */
  stop(graceMs: number): Promise<void>;
  /** SIGKILL at once, without waiting (for a process that ends abruptly). */
  killNow(): void;
}

/** Signals that do not end a process: kill() resolves once they are sent. */
const NOT_ENDING: readonly NodeJS.Signals[] = ['SIGSTOP', 'SIGCONT', 'SIGTSTP', 'SIGWINCH'];

/** `keyledger serve` in a session of its own, so with no controlling terminal, as under a service manager. */
function spawnInstance(name: string, instanceId: string, port: number, env: Record<string, string>): Spawned {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2 * LOG_TAIL_CHARS) output = output.slice(-LOG_TAIL_CHARS);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exited = false;
  const ended = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      exited = true;
      resolve(`could not be started (${error.message})`);
    });
    child.once('close', (code, signal) => {
      exited = true;
      resolve(signal === null ? `exited with code ${code}` : `was ended by ${signal}`);
    });
  });
  const send = (signal: NodeJS.Signals) => {
    if (!exited) child.kill(signal);
  };
  return {
    name,
    instanceId,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    get exited() {
      return exited;
    },
    logs: () => (output.length > LOG_TAIL_CHARS ? output.slice(-LOG_TAIL_CHARS) : output),
    ended,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (exited) return;
      send(signal);
      if (!NOT_ENDING.includes(signal)) await ended;
    },
    async stop(graceMs: number) {
      if (exited) return;
      send('SIGTERM');
      send('SIGCONT');
      const timer = sleep(graceMs, 'grace' as const);
      if ((await Promise.race([ended, timer])) === 'grace') send('SIGKILL');
      await ended;
    },
    killNow: () => send('SIGKILL'),
  };
}

/** Resolves once GET /ready answers 200; fails at once, with its output, if the process ends first, and after `timeoutMs` otherwise. */
async function waitReady(instance: Spawned, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  const gone = instance.ended.then(() => null);
  while (performance.now() < deadline && !instance.exited) {
    const probe = fetch(`${instance.url}/ready`, { signal: AbortSignal.timeout(2000) }).then(
      async (response) => ({ status: response.status, body: await response.text() }),
      (error: unknown) => ({ status: 0, body: error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error) }),
    );
    const answer = await Promise.race([probe, gone]);
    if (answer === null) break;
    if (answer.status === 200) return;
    last = answer.status === 0 ? answer.body : `HTTP ${answer.status} ${answer.body.slice(0, 500)}`;
    await Promise.race([sleep(50), gone]);
  }
  if (instance.exited) throw new Error(`fleet instance ${instance.name} (${instance.instanceId}) ${await instance.ended} before it was ready; its output:\n${instance.logs()}`);
  throw new Error(`fleet instance ${instance.name} (${instance.instanceId}) was not ready within ${timeoutMs} ms (last /ready: ${last}); its output:\n${instance.logs()}`);
}

/** The admin's keys from the first-run keys file, once the first instance has written it (after it listens, so maybe after /ready). */
async function readFirstRunKeys(file: string, instance: Spawned, timeoutMs: number): Promise<Credentials> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && !instance.exited) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const apiKey = SECRET('API key', 'klk_api_').exec(text)?.[1];
    const applicationKey = SECRET('Application key', 'klk_app_').exec(text)?.[1];
    if (apiKey !== undefined && applicationKey !== undefined) return { apiKey, applicationKey };
    await sleep(50);
  }
  const why = instance.exited ? `it ${await instance.ended} first` : `not within ${timeoutMs} ms`;
  throw new Error(`fleet instance ${instance.name} did not write the admin's keys to ${file} (${why}); its output:\n${instance.logs()}`);
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (!Number.isInteger(options.size) || options.size < 1) throw new Error(`a fleet has at least one instance (size ${options.size})`);
  const pgUrl = options.pgUrl ?? DEFAULT_PG_URL;
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const id = randomBytes(4).toString('hex');
  const eventSchema = `kl_fleet_${id}_events`;
  const readSchema = `kl_fleet_${id}_reads`;
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-fleet-'));
  const keysFile = join(dir, 'first-run-keys.txt');
  const instances: Spawned[] = [];
  /** Every process started, ready or not: close() ends them all. */
  const spawned = new Set<Spawned>();
  // Should this process exit without close(), its gateways do not outlive it.
  const killAll = () => {
    for (const instance of spawned) instance.killNow();
  };
  process.on('exit', killAll);
  let admin: Credentials | null = null;
  let closing: Promise<void> | null = null;

  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.all([...spawned].map((instance) => instance.stop(STOP_GRACE_MS)));
      process.off('exit', killAll);
      let problem: Error | null = null;
      try {
        await withClient(pgUrl, async (client) => {
          for (const schema of [eventSchema, readSchema]) await client.query(`drop schema if exists "${schema}" cascade`);
        });
      } catch (error) {
        problem = new Error(`could not drop the fleet's schemas ${eventSchema} and ${readSchema}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      rmSync(dir, { recursive: true, force: true });
      if (problem) throw problem;
    })();
    return closing;
  };

  const start = async (name?: string, env: Record<string, string> = {}): Promise<FleetInstance> => {
    if (closing) throw new Error('the fleet is closed');
    const taken = new Set([...spawned].map((i) => i.name));
    let instanceName = name ?? '';
    for (let n = 0; instanceName === ''; n++) if (!taken.has(defaultName(n))) instanceName = defaultName(n);
    if (taken.has(instanceName)) throw new Error(`the fleet already has an instance named ${instanceName}`);
    const instanceId = `kl-fleet-${id}-${instanceName}`;
    const first = admin === null;
    const instanceEnv: Record<string, string> = {
      KEYLEDGER_EVENT_STORE: withParams(pgUrl, { schema: eventSchema, application_name: instanceId }),
      KEYLEDGER_READ_STORE: withParams(pgUrl, { schema: readSchema, application_name: instanceId }),
      KEYLEDGER_INSTANCE_ID: instanceId,
      // Only the first one makes the organization: the others start on a store that has it.
      KEYLEDGER_BOOTSTRAP: first ? 'true' : 'false',
      KEYLEDGER_FIRST_RUN_KEYS_FILE: keysFile,
      // Info would log a line per request: a fleet under load would spend its time on it.
      LOG_LEVEL: 'warn',
      ...options.env,
      ...env,
    };
    // A port found free may be taken before the instance binds it: then another port, twice at most.
    for (let attempt = 1; ; attempt++) {
      const instance = spawnInstance(instanceName, instanceId, await freePort(), instanceEnv);
      spawned.add(instance);
      try {
        await waitReady(instance, readyTimeoutMs);
        if (first) admin = await readFirstRunKeys(keysFile, instance, readyTimeoutMs);
        instances.push(instance);
        return instance;
      } catch (error) {
        await instance.stop(0);
        spawned.delete(instance);
        if (attempt < 3 && instance.logs().includes('EADDRINUSE')) continue;
        throw error;
      }
    }
  };

  const graphql = async <T>(instance: FleetInstance, query: string, variables: Record<string, unknown> = {}, credentials?: Credentials): Promise<GraphQLAnswer<T>> => {
    const keys = credentials ?? admin;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (keys) {
      headers['x-api-key'] = keys.apiKey;
      headers['x-application-key'] = keys.applicationKey;
    }
    const response = await fetch(`${instance.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as GraphQLAnswer<T>['body'] };
    } catch {
      throw new Error(`fleet instance ${instance.name} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 500)}`);
    }
  };

  try {
    await withClient(pgUrl, async (client) => {
      for (const schema of [eventSchema, readSchema]) await client.query(`create schema "${schema}"`);
    });
    await start();
    // The others at once; every start settles before a failure closes the fleet.
    const rest = await Promise.allSettled(Array.from({ length: options.size - 1 }, (_, n) => start(defaultName(n + 1))));
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  if (admin === null) throw new Error('the first instance gave no admin keys');
  return { instances, admin, eventSchema, readSchema, pgUrl, start, graphql, close };
}
