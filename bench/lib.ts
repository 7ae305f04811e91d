// Shared helpers of the benchmarks: result rows, a table printer, temp files, concurrent
// writer loops, the PostgreSQL probe and fresh schemas, and an HTTP load generator (GraphQL POSTs, GETs).
// Nothing here asserts on time.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { InitializedOrg } from '../src/commands/keyledger.js';
import { loadConfig } from '../src/platform/config.js';
import { buildApp, type App } from '../src/gateway/app.js';
import { silentLogger } from '../src/platform/logger.js';
import { join } from 'node:path';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import pg from 'pg';

/** One figure, measured beside its reference in the same run. */
export interface Figure {
  readonly bench: string;
  readonly case: string;
  readonly value: number;
  readonly unit: string;
  readonly refLabel: string;
  readonly refValue: number;
  readonly refUnit: string;
  readonly note?: string;
}

/** A line of the summary that is not a figure (a skipped or failed benchmark). */
export interface Remark {
  readonly bench: string;
  readonly remark: string;
}

export type Row = Figure | Remark;

export function isFigure(row: Row): row is Figure {
  return 'value' in row;
}

export interface Benchmark {
  readonly name: string;
  readonly title: string;
  run(): Promise<Row[]>;
}

// ---------------------------------------------------------------- formatting

export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

function fmtRatio(value: number, reference: number): string {
  if (!(reference > 0) || !Number.isFinite(value)) return '-';
  return (value / reference).toFixed(2);
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** A plain text table; columns whose header starts with a space are right-aligned. */
function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = headers.map((h) => h.startsWith(' '));
  const heads = headers.map((h) => h.trim());
  const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(heads), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The figures as a table, then one line for each remark (skipped or failed). */
export function figuresTable(rows: readonly Row[], withBench: boolean): string {
  const headers = [...(withBench ? ['benchmark'] : []), 'case', ' figure', 'unit', 'reference', ' ref figure', 'ref unit', ' ratio', 'note'];
  const figures = rows.filter(isFigure);
  const body = figures.map((row) => {
    const cells = [row.case, fmtRate(row.value), row.unit, row.refLabel, fmtRate(row.refValue), row.refUnit, fmtRatio(row.value, row.refValue), row.note ?? ''];
    return withBench ? [row.bench, ...cells] : cells;
  });
  const remarks = rows.filter((row): row is Remark => !isFigure(row)).map((row) => `${row.bench}: ${row.remark}`);
  return [...(figures.length > 0 ? [table(headers, body)] : []), ...remarks].join('\n');
}

export function log(message: string): void {
  console.log(`  · ${message}`);
}

// ---------------------------------------------------------------- timing and load

export interface Timed<T> {
  readonly result: T;
  readonly ms: number;
}

export async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const t0 = performance.now();
  const result = await work();
  return { result, ms: performance.now() - t0 };
}

export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.NaN;
}

/**
 * Runs `writers` async loops at once (Promise.all); loop `w` calls `step(w, i)` for
 * i = 0, 1, … while `claim()` grants work. Returns how many steps completed and the time.
 */
export async function concurrentLoops(
  writers: number,
  budget: { readonly total: number; readonly maxMs: number },
  step: (writer: number, i: number) => Promise<void>,
): Promise<{ done: number; ms: number }> {
  let claimed = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + budget.maxMs;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; claimed < budget.total && performance.now() < deadline; i++) {
        claimed++;
        await step(w, i);
        done++;
      }
    }),
  );
  return { done, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------- temp files

/** A fresh temp directory, removed (with every file in it) by `remove()`. */
export function tempDir(prefix: string): { dir: string; file(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `keyledger-bench-${prefix}-`));
  return {
    dir,
    file: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A gateway on a fresh SQLite file (or the stores `env` names) with one organization made by the operator. */
export interface BenchGateway {
  readonly app: App;
  readonly url: string;
  readonly org: InitializedOrg;
  /** Runs at close, last added first (a load generator before the gateway it talks to). */
  onClose(cleanup: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** `env` may name other stores (PostgreSQL schemas, which the caller makes and drops). */
export async function startBenchGateway(prefix: string, env: Readonly<Record<string, string>> = {}): Promise<BenchGateway> {
  const tmp = tempDir(prefix);
  const cleanups: (() => Promise<void> | void)[] = [() => tmp.remove()];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    // KEYLEDGER_PROJECTION_THREAD=main measures the projections on the event loop that serves requests, as before the worker thread.
    const thread = process.env.KEYLEDGER_PROJECTION_THREAD;
    // KEYLEDGER_BENCH_READ_FILE=separate keeps the read models in a file of their own, beside the events'.
    const separate = process.env.KEYLEDGER_BENCH_READ_FILE === 'separate';
    const config = loadConfig({
      KEYLEDGER_EVENT_STORE: `sqlite:${tmp.file('keyledger.db')}`,
      ...(separate ? { KEYLEDGER_READ_STORE: `sqlite:${tmp.file('keyledger-read.db')}` } : {}),
      ...(thread === undefined ? {} : { KEYLEDGER_PROJECTION_THREAD: thread }),
      ...env,
      PORT: '0',
      HOST: '127.0.0.1',
      KEYLEDGER_BOOTSTRAP: 'false',
    });
    const app = await buildApp(config, { logger: silentLogger() });
    cleanups.push(() => app.stop());
    const { url } = await app.start();
    const org = await app.keyledger.initOrg({ name: 'Bench org', adminEmail: 'admin@example.test', adminName: 'Ada Admin' });
    return { app, url, org, onClose: (cleanup) => cleanups.push(cleanup), close };
  } catch (error) {
    await close();
    throw error;
  }
}

// ---------------------------------------------------------------- PostgreSQL

export const PG_URL = process.env.KEYLEDGER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | undefined;
/** Why the probe failed, shown beside "skipped". */
let unreachableBecause = '';

export function pgReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (error) {
      unreachableBecause = error instanceof Error ? error.message : String(error);
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

export function pgSkipped(bench: string): Remark {
  const remark = `skipped: PostgreSQL not reachable (${PG_URL}${unreachableBecause ? `: ${unreachableBecause}` : ''})`;
  console.log(remark);
  return { bench, remark };
}

/** A fresh, lower-case schema name; `dropSchemas` removes it at the end. */
export function freshSchemaName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- HTTP load (GraphQL and GET)

/** What one load run measured: completed requests, the wall time, and each request's latency. */
export interface LoadRun {
  readonly done: number;
  readonly ms: number;
  /** Milliseconds, one per completed request, in completion order. */
  readonly latencies: Float64Array;
}

export interface LoadSummary {
  readonly done: number;
  readonly ms: number;
  /** Requests per second. */
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

interface LoadLimits {
  /** Stops after this many requests or past `maxMs`, whichever comes first. */
  readonly total: number;
  readonly maxMs: number;
  /** Another target for this run than the generator's URL (another server, another route). */
  readonly url?: string;
  /** Headers added to (or replacing) the generator's for this run. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A GraphQL POST: `{ query, variables }` as the JSON body. */
interface GraphQLLoadSpec extends LoadLimits {
  readonly method?: 'POST';
  readonly query: string;
  readonly variables?: Readonly<Record<string, unknown>>;
  /** A string variable made unique per request: `prefix` followed by a sequence number. */
  readonly unique?: { readonly variable: string; readonly prefix: string };
}

/** A plain GET of the URL, no body. */
interface GetLoadSpec extends LoadLimits {
  readonly method: 'GET';
}

export type LoadSpec = GraphQLLoadSpec | GetLoadSpec;

/** The `q`-quantile (0 < q ≤ 1) of ascending values, nearest rank; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Several runs as one: summed requests and time, their latencies pooled (in run order). */
export function mergeRuns(runs: readonly LoadRun[]): LoadRun {
  const done = runs.reduce((n, r) => n + r.done, 0);
  const latencies = new Float64Array(done);
  let at = 0;
  for (const run of runs) {
    latencies.set(run.latencies.subarray(0, run.done), at);
    at += run.done;
  }
  return { done, ms: runs.reduce((n, r) => n + r.ms, 0), latencies };
}

/** Several runs of one case (rounds) as one: summed requests and time, pooled latencies. */
export function summarize(runs: readonly LoadRun[]): LoadSummary {
  const { done, ms, latencies } = mergeRuns(runs);
  const all = latencies.sort();
  return { done, ms, rate: perSecond(done, ms), p50Ms: quantile(all, 0.5), p99Ms: quantile(all, 0.99) };
}

/** Milliseconds as microseconds, so that the integer figures of the tables keep their precision. */
export const toMicros = (ms: number): number => ms * 1000;

interface LoadReply {
  readonly done: number;
  readonly ms: number;
  readonly latencies: Float64Array;
  readonly failure: string | null;
}

/**
 * An HTTP load generator: `concurrency` loops, each sending one request at a time (a GraphQL
 * POST, or a GET) over a keep-alive connection of its own (node:http Agent, maxSockets =
 * concurrency per target). It runs in a worker thread (http-load-worker.mjs), so that making
 * requests and parsing answers does not share the event loop of an in-process gateway. Every
 * run, benchmark and reference alike, goes through the same loop with the same headers (a run
 * may name another URL, e.g. a reference server, and add headers); a run fails on the first
 * non-200 answer or an answer with `errors`.
 */
export class HttpLoad {
  readonly #worker: Worker;
  /** The run under way, if any. */
  #pending: { resolve(run: LoadRun): void; reject(error: Error): void } | null = null;
  /** Why the worker is gone (it failed or exited), once it is. */
  #gone: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: LoadReply) => {
      const pending = this.#pending;
      this.#pending = null;
      if (!pending) return;
      if (reply.failure !== null) pending.reject(new Error(`load run failed after ${reply.done} requests: ${reply.failure}`));
      else pending.resolve({ done: reply.done, ms: reply.ms, latencies: reply.latencies });
    });
    const fail = (error: Error) => {
      this.#gone ??= error;
      this.#pending?.reject(error);
      this.#pending = null;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the load worker exited (code ${code})`)));
  }

  static async open(options: { readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly concurrency: number }): Promise<HttpLoad> {
    const worker = new Worker(new URL('./http-load-worker.mjs', import.meta.url), {
      workerData: { url: options.url, headers: options.headers, concurrency: options.concurrency },
      // The worker is plain JavaScript: no TypeScript loader (nor --cpu-prof) for it.
      execArgv: [],
    });
    const load = new HttpLoad(worker);
    await new Promise<void>((resolve, reject) => {
      worker.once('online', resolve);
      worker.once('error', reject);
    });
    return load;
  }

  run(spec: LoadSpec): Promise<LoadRun> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (this.#pending) return Promise.reject(new Error('HttpLoad runs one load at a time'));
    return new Promise<LoadRun>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage(spec);
    });
  }

  /**
   * The worker's event-loop utilization so far (or since `since`): how busy the load generator
   * is, to tell a run bounded by the server from one bounded by the generator.
   */
  eventLoopUtilization(since?: EventLoopUtilization): EventLoopUtilization {
    return since ? this.#worker.performance.eventLoopUtilization(since) : this.#worker.performance.eventLoopUtilization();
  }

  async close(): Promise<void> {
    this.#gone ??= new Error('the load generator is closed');
    await this.#worker.terminate();
  }
}

/** One GraphQL request (for seeding and checks, not for load); throws on a non-200 answer or errors. */
export async function postGraphQL<T = Record<string, unknown>>(
  url: string,
  headers: Readonly<Record<string, string>>,
  query: string,
  variables: Readonly<Record<string, unknown>> = {},
): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  const body = JSON.parse(text) as { data?: T; errors?: unknown[] };
  if (response.status !== 200 || body.errors !== undefined || body.data === undefined) {
    throw new Error(`GraphQL request failed (HTTP ${response.status}): ${text.slice(0, 500)}`);
  }
  return body.data;
}
