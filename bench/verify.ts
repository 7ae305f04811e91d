// Credential verification over HTTP, the gateway in-process on the embedded store (one SQLite
// file), durable audit on (the default): (1) `GET /api/v1/validate` with a valid API key,
// (2) `verifyCredentials` over GraphQL with no credential headers, each at 64 keep-alive
// connections. Reference: a bare node:http server in the same process (so it shares the gateway's
// CPU situation) that looks up the SHA-256 hex digest of the presented key in a Map and writes the
// same JSON; same load generator (HttpLoad, one worker thread, one keep-alive connection per loop),
// same concurrency, same duration, interleaved in rounds after a warm-up of each.
//
// Beside the rates: how many audit entries the gateway wrote during its measured runs (the
// `requests-<orgId>` stream's growth), which must equal the 200 answers it gave, the mean
// group-commit batch size (from /metrics), and how busy each side kept the server thread and the
// load worker (event-loop utilization): with few cores the reference is bounded by the load
// generator, so its server-thread time per request is the cleaner comparison of the two servers.
// Nothing here asserts on time.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { requestStream } from '../src/domain/requests.js';
import { digestSecret } from '../src/domain/secrets.js';
import type { App } from '../src/gateway/app.js';
import {
  type Benchmark,
  type Figure,
  type LoadRun,
  type LoadSpec,
  type LoadSummary,
  type Row,
  fmtMs,
  fmtRate,
  HttpLoad,
  log,
  summarize,
  toMicros,
  startBenchGateway,
} from './lib.js';

const CONCURRENCY = 64;
/** Rounds of the reference and the subject, alternating which goes first. */
const ROUNDS = 3;
const ROUND_MS = 3_000;
/** Warm-up of each side before the rounds; yoga takes a few seconds to reach its pace. */
const WARM_UP_MS = { validate: 2_000, graphql: 3_000, reference: 1_500 } as const;
/** The issue's target for `GET /api/v1/validate` against the bare reference. */
const VALIDATE_TARGET = 0.6;

const VERIFY_QUERY = 'query($k: String){ verifyCredentials(usage: AGENT_INTAKE, apiKey: $k) { valid } }';
const REFERENCE = 'bare node:http + Map';
const fmtMsFine = (ms: number): string => `${ms.toFixed(2)} ms`;

const NOTE_CPU =
  'the machine has few cores: the load generator (a worker thread of this process), the gateway and the reference server ' +
  'share them; both sides are measured the same way (same worker, same connections, same duration, alternating rounds)';

// ---------------------------------------------------------------- the reference server

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // The gateway's sendJson (src/gateway/app.ts): same headers, same JSON.
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === 'string' ? value.trim() || null : null;
}

interface Reference {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The minimal server: `GET /api/v1/validate` (DD-API-KEY or X-API-Key) and `POST /graphql` (the
 * key in `variables.k`) answer by a Map lookup of the key's SHA-256 hex digest, nothing else.
 */
async function startReference(apiKeys: readonly string[]): Promise<Reference> {
  const known = new Map<string, { readonly valid: true }>(apiKeys.map((key) => [digestSecret(key), { valid: true }]));
  const isKnown = (key: unknown): boolean => typeof key === 'string' && key.trim() !== '' && known.has(digestSecret(key.trim()));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api/v1/validate' && req.method === 'GET') {
      if (isKnown(header(req, 'dd-api-key') ?? header(req, 'x-api-key'))) sendJson(res, 200, { valid: true });
      else sendJson(res, 403, { errors: ['Forbidden'] });
      return;
    }
    if (path === '/graphql' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        let key: unknown;
        try {
          key = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { variables?: { k?: unknown } }).variables?.k;
        } catch {
          sendJson(res, 400, { errors: [{ message: 'malformed JSON' }] });
          return;
        }
        sendJson(res, 200, { data: { verifyCredentials: { valid: isKnown(key) } } });
      });
      return;
    }
    sendJson(res, 404, { errors: ['Not Found'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------- the gateway, the reference, the load

interface Setup {
  readonly app: App;
  readonly url: string;
  readonly orgId: string;
  readonly apiKey: string;
  readonly reference: Reference;
  readonly load: HttpLoad;
  close(): Promise<void>;
}

/** A gateway on a fresh SQLite file with one org (its API key), the reference knowing that key, and one load generator for both. */
async function setUp(prefix: string): Promise<Setup> {
  const gateway = await startBenchGateway(prefix);
  try {
    const apiKey = gateway.org.apiKey.secret;
    const reference = await startReference([apiKey]);
    gateway.onClose(() => reference.close());
    // No headers of its own: each run says what it presents.
    const load = await HttpLoad.open({ url: gateway.url, headers: {}, concurrency: CONCURRENCY });
    // Closed before the servers stop, so that its keep-alive connections are gone.
    gateway.onClose(() => load.close());
    return { app: gateway.app, url: gateway.url, orgId: gateway.org.organization.id, apiKey, reference, load, close: () => gateway.close() };
  } catch (error) {
    await gateway.close();
    throw error;
  }
}

/** The request events of the org after `from` (a revision), and how many of them are allowed `operation`s. */
export async function auditEntries(app: App, orgId: string, from: number, isOperation: (data: Record<string, unknown>) => boolean): Promise<{ count: number; allowed: number }> {
  const events = await app.store.readStream(requestStream(orgId), { fromRevision: BigInt(from) });
  let allowed = 0;
  for (const event of events) {
    const data = event.data as Record<string, unknown>;
    if (event.type === 'RequestAuthenticated' && data.outcome === 'ALLOWED' && isOperation(data)) allowed++;
  }
  return { count: events.length, allowed };
}

export async function streamLength(app: App, orgId: string): Promise<number> {
  return (await app.store.readStream(requestStream(orgId))).length;
}

/** The group-commit histogram's sum and count, from the gateway's /metrics. */
export async function batchSizes(url: string): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  };
  return { sum: value('keyledger_audit_append_batch_size_sum'), count: value('keyledger_audit_append_batch_size_count') };
}

export function describe(label: string, s: LoadSummary): string {
  return `${label}: ${s.done} in ${fmtMs(s.ms)} = ${fmtRate(s.rate)} req/s, p50 ${fmtMsFine(s.p50Ms)}, p99 ${fmtMsFine(s.p99Ms)}`;
}

interface Case {
  readonly bench: string;
  /** The subject's label in logs and the table. */
  readonly label: string;
  readonly subject: LoadSpec;
  readonly reference: LoadSpec;
  readonly warmUpMs: number;
  /** Whether an audit entry's data is this case's operation. */
  isOperation(data: Record<string, unknown>): boolean;
  /** A line for the table's note of the rate, given the ratio. */
  rateNote?(ratio: number): string;
  /** One request to `url` (the gateway or the reference), outside the load: status and body. */
  probe(url: string): Promise<{ status: number; body: string }>;
  /** The body a valid key gets, from both servers. */
  readonly expected: string;
}

/** Busy time of a side's runs: this thread's event loop (the server), the load worker's, and the process's CPU. */
interface Busy {
  serverActive: number;
  loadActive: number;
  wall: number;
  cpuMicros: number;
}

export const newBusy = (): Busy => ({ serverActive: 0, loadActive: 0, wall: 0, cpuMicros: 0 });
const pct = (part: number, whole: number): string => `${whole > 0 ? Math.round((100 * part) / whole) : 0}%`;

/** One load run, and how busy the server thread, the load worker and the process were meanwhile (added to `busy`). */
export async function busyRun(load: HttpLoad, spec: LoadSpec, busy: Busy): Promise<LoadRun> {
  const server0 = performance.eventLoopUtilization();
  const load0 = load.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const run = await load.run(spec);
  busy.wall += performance.now() - t0;
  busy.serverActive += performance.eventLoopUtilization(server0).active;
  busy.loadActive += load.eventLoopUtilization(load0).active;
  const cpu = process.cpuUsage(cpu0);
  busy.cpuMicros += cpu.user + cpu.system;
  return run;
}

export function describeBusy(busy: Busy, done: number): string {
  return (
    `server thread busy ${pct(busy.serverActive, busy.wall)} (${Math.round((busy.serverActive * 1000) / Math.max(1, done))} µs/request), ` +
    `load worker busy ${pct(busy.loadActive, busy.wall)}, ` +
    `process CPU ${Math.round(busy.cpuMicros / Math.max(1, done))} µs/request (${(busy.cpuMicros / 1000 / busy.wall).toFixed(2)} cores)`
  );
}

/**
 * Warm-up of both sides, then ROUNDS rounds in ABBA order (the reference first in even rounds),
 * counting the audit entries and group-commit batches of the gateway's measured runs only.
 */
async function measure(setup: Setup, c: Case): Promise<Row[]> {
  const { app, url, orgId, load } = setup;
  const timedSpec = (spec: LoadSpec, maxMs: number): LoadSpec => ({ ...spec, total: Number.MAX_SAFE_INTEGER, maxMs });

  // The load checks status 200 and the absence of `errors` only: first see that both answer `valid: true`, byte for byte.
  for (const [side, base] of [
    ['gateway', url],
    ['reference', setup.reference.url],
  ] as const) {
    const { status, body } = await c.probe(base);
    if (status !== 200 || body !== c.expected) throw new Error(`${side} answered HTTP ${status} ${body.slice(0, 300)}, expected 200 ${c.expected}`);
  }
  log(`both servers answer 200 ${c.expected}`);

  const warm = performance.now();
  await load.run(timedSpec(c.reference, WARM_UP_MS.reference));
  await load.run(timedSpec(c.subject, c.warmUpMs));
  log(`warm-up: ${fmtMs(WARM_UP_MS.reference)} reference, ${fmtMs(c.warmUpMs)} gateway (took ${fmtMs(performance.now() - warm)})`);

  const references: LoadRun[] = [];
  const subjects: LoadRun[] = [];
  const referenceBusy = newBusy();
  const subjectBusy = newBusy();
  let entries = 0;
  let allowed = 0;
  let batchSum = 0;
  let batchCount = 0;
  const gatewayRun = async (): Promise<LoadRun> => {
    const from = await streamLength(app, orgId);
    const before = await batchSizes(url);
    const run = await busyRun(load, timedSpec(c.subject, ROUND_MS), subjectBusy);
    const after = await batchSizes(url);
    const audited = await auditEntries(app, orgId, from, (data) => c.isOperation(data));
    entries += audited.count;
    allowed += audited.allowed;
    batchSum += after.sum - before.sum;
    batchCount += after.count - before.count;
    return run;
  };
  const referenceRun = () => busyRun(load, timedSpec(c.reference, ROUND_MS), referenceBusy);
  for (let round = 0; round < ROUNDS; round++) {
    let r: LoadRun;
    let s: LoadRun;
    if (round % 2 === 0) {
      r = await referenceRun();
      s = await gatewayRun();
    } else {
      s = await gatewayRun();
      r = await referenceRun();
    }
    references.push(r);
    subjects.push(s);
    log(`round ${round + 1} (${round % 2 === 0 ? 'reference first' : 'gateway first'}): ${describe(REFERENCE, summarize([r]))}; ${describe(c.label, summarize([s]))}`);
  }

  const reference = summarize(references);
  const subject = summarize(subjects);
  const ratio = subject.rate / reference.rate;
  const meanBatch = batchCount > 0 ? batchSum / batchCount : Number.NaN;
  const auditOk = entries === subject.done && allowed === subject.done;
  log(`${describe(REFERENCE, reference)}; ${describeBusy(referenceBusy, reference.done)}`);
  log(`${describe(c.label, subject)}; ${describeBusy(subjectBusy, subject.done)}`);
  log(`throughput ratio ${ratio.toFixed(2)}${c.rateNote ? `; ${c.rateNote(ratio)}` : ''}`);
  log(
    `audit: ${entries} request events written during the gateway's measured runs (${allowed} allowed ${c.label}), ` +
      `${subject.done} answers 200 → ${auditOk ? 'equal: every answered request was audited' : 'MISMATCH'}`,
  );
  log(`group commit: ${batchCount} appends, mean batch ${meanBatch.toFixed(1)} entries (at most ${CONCURRENCY}: one per connection)`);
  log(`note: ${NOTE_CPU}`);
  log(
    'note: "server thread busy" is this thread\'s event-loop utilization (the gateway or the reference server runs on it), ' +
      '"load worker busy" the generator\'s; a side whose server thread is far from 100% is bounded by the generator, not by its server',
  );

  const rows: Row[] = [];
  const figure = (f: Omit<Figure, 'bench'>): Figure => ({ bench: c.bench, ...f });
  rows.push(
    figure({
      case: `${c.label}, ${CONCURRENCY} conns`,
      value: subject.rate,
      unit: 'req/s',
      refLabel: `${REFERENCE}, ${CONCURRENCY} conns`,
      refValue: reference.rate,
      refUnit: 'req/s',
      note: `${subject.done} vs ${reference.done} requests, ${ROUNDS}×${fmtMs(ROUND_MS)} rounds${c.rateNote ? `; ${c.rateNote(ratio)}` : ''}`,
    }),
    figure({
      case: `${c.label}, p50 latency`,
      value: toMicros(subject.p50Ms),
      unit: 'µs',
      refLabel: `${REFERENCE}, p50`,
      refValue: toMicros(reference.p50Ms),
      refUnit: 'µs',
      note: 'lower is better',
    }),
    figure({
      case: `${c.label}, p99 latency`,
      value: toMicros(subject.p99Ms),
      unit: 'µs',
      refLabel: `${REFERENCE}, p99`,
      refValue: toMicros(reference.p99Ms),
      refUnit: 'µs',
      note: 'lower is better',
    }),
    figure({
      case: 'server-thread busy time per request',
      value: (subjectBusy.serverActive * 1000) / Math.max(1, subject.done),
      unit: 'µs',
      refLabel: REFERENCE,
      refValue: (referenceBusy.serverActive * 1000) / Math.max(1, reference.done),
      refUnit: 'µs',
      note: "lower is better; the server's own cost, whichever side bounds the rate",
    }),
    figure({
      case: 'process CPU per request',
      value: subjectBusy.cpuMicros / Math.max(1, subject.done),
      unit: 'µs',
      refLabel: REFERENCE,
      refValue: referenceBusy.cpuMicros / Math.max(1, reference.done),
      refUnit: 'µs',
      note: `server thread busy ${pct(subjectBusy.serverActive, subjectBusy.wall)} vs ${pct(referenceBusy.serverActive, referenceBusy.wall)}; load worker ${pct(subjectBusy.loadActive, subjectBusy.wall)} vs ${pct(referenceBusy.loadActive, referenceBusy.wall)}`,
    }),
    figure({
      case: 'audit entries written',
      value: entries,
      unit: 'entries',
      refLabel: '200 answers',
      refValue: subject.done,
      refUnit: 'answers',
      note: auditOk ? 'equal: every answered request was audited' : `MISMATCH (${allowed} allowed entries)`,
    }),
    figure({
      case: 'group-commit batch, mean',
      value: meanBatch,
      unit: 'entries',
      refLabel: 'connections (upper bound)',
      refValue: CONCURRENCY,
      refUnit: 'conns',
      note: `${meanBatch.toFixed(1)} entries/append over ${batchCount} appends`,
    }),
  );
  if (!auditOk) {
    rows.push({ bench: c.bench, remark: `audit check failed: ${entries} entries (${allowed} allowed) for ${subject.done} answers 200` });
    process.exitCode = 1;
  }
  return rows;
}

// ---------------------------------------------------------------- the benchmarks

async function verifyValidate(): Promise<Row[]> {
  const setup = await setUp('verify-validate');
  try {
    const get = (url: string): LoadSpec => ({ method: 'GET', url: `${url}/api/v1/validate`, headers: { 'dd-api-key': setup.apiKey }, total: 0, maxMs: 0 });
    return await measure(setup, {
      bench: 'verify-validate',
      label: 'GET /api/v1/validate',
      subject: get(setup.url),
      reference: get(setup.reference.url),
      warmUpMs: WARM_UP_MS.validate,
      isOperation: (data) => data.operationName === 'GET /api/v1/validate',
      rateNote: (ratio) => `target ratio ≥ ${VALIDATE_TARGET}: ${ratio >= VALIDATE_TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)})`,
      probe: async (url) => {
        const response = await fetch(`${url}/api/v1/validate`, { headers: { 'dd-api-key': setup.apiKey } });
        return { status: response.status, body: await response.text() };
      },
      expected: JSON.stringify({ valid: true }),
    });
  } finally {
    await setup.close();
  }
}

async function verifyGraphQL(): Promise<Row[]> {
  const setup = await setUp('verify-graphql');
  try {
    const post = (url: string): LoadSpec => ({ url: `${url}/graphql`, query: VERIFY_QUERY, variables: { k: setup.apiKey }, total: 0, maxMs: 0 });
    return await measure(setup, {
      bench: 'verify-graphql',
      label: 'verifyCredentials (GraphQL)',
      subject: post(setup.url),
      reference: post(setup.reference.url),
      warmUpMs: WARM_UP_MS.graphql,
      isOperation: (data) => Array.isArray(data.rootFields) && data.rootFields.includes('verifyCredentials'),
      probe: async (url) => {
        const response = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ query: VERIFY_QUERY, variables: { k: setup.apiKey } }),
        });
        return { status: response.status, body: await response.text() };
      },
      expected: JSON.stringify({ data: { verifyCredentials: { valid: true } } }),
    });
  } finally {
    await setup.close();
  }
}

export const verifyBenchmarks: Benchmark[] = [
  {
    name: 'verify-validate',
    title: `GET /api/v1/validate with a valid API key, durable audit (SQLite), ${CONCURRENCY} keep-alive connections, vs a bare node:http Map lookup`,
    run: verifyValidate,
  },
  {
    name: 'verify-graphql',
    title: `verifyCredentials over GraphQL (no credential headers), durable audit (SQLite), ${CONCURRENCY} keep-alive connections, vs a bare node:http Map lookup`,
    run: verifyGraphQL,
  },
];
