// keyledger on PostgreSQL, as a fleet would run it.
//
// (1) fleet-validate-postgres: `GET /api/v1/validate` with a valid API key, durable audit on, at
// 64 keep-alive connections, the gateway on PostgreSQL (event store and read store in fresh
// schemas) beside the same gateway on SQLite, in the same run and the same way as bench/verify.ts
// runs it (in process, one load worker thread), in alternating rounds after a warm-up of each;
// after each run the gateway's projections catch up (the audit log's entries) before the next run
// starts, so that neither side's catch-up falls into the other's round. Figure: the PostgreSQL
// rate over the SQLite rate (target ≥ 0.5), with each side's audit entries counted against its
// 200 answers.
//
// (2) fleet-revocation: two `keyledger serve` processes (a and b) on one PostgreSQL
// (test/support/fleet.ts). A background load of validate requests at about half the fleet's
// measured validate rate, spread on both; meanwhile, 200 times: create an API key on a, wait until
// b validates it, revoke it on a, and poll b's `GET /api/v1/validate` with it back to back. Figure:
// the time from a's answer to the revocation to b's first refusal (p50, p99, max; target p99 <
// 100 ms). Beside it, the time from sending the revocation to b's first refusal, b being polled
// meanwhile on another connection: a answers only once its own read models hold the event, so b
// may refuse the key before a answers; and the time from the event's `recorded_at` (its append
// transaction's start, read from the store afterwards) to that first refusal. Four keys live at once (four lanes, each revoking its key
// before it makes the next), so that the run stays short while a's mutations wait for its read
// models under load; the organization stays far below its 50 active API keys (R2). Nothing here
// asserts on time.

import { Agent, request } from 'node:http';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { startFleet, type Fleet, type FleetInstance } from '../test/support/fleet.js';
import {
  type BenchGateway,
  type Benchmark,
  type Figure,
  type LoadRun,
  type LoadSpec,
  type Row,
  dropSchemas,
  fmtMs,
  fmtRate,
  freshSchemaName,
  HttpLoad,
  log,
  PG_URL,
  pgReachable,
  pgSkipped,
  quantile,
  startBenchGateway,
  summarize,
  toMicros,
} from './lib.js';
import { auditEntries, batchSizes, busyRun, describe, describeBusy, newBusy, streamLength } from './verify.js';

const CONCURRENCY = 64;
/** Rounds of each store, alternating which goes first. */
const ROUNDS = 4;
const ROUND_MS = 3_000;
const WARM_UP_MS = 2_000;
/** The target of PostgreSQL's validate rate against SQLite's. */
const PG_TARGET = 0.5;

const ITERATIONS = 200;
/** Keys in their life at once (each revoked before its lane makes the next): the run stays short, the org far below its 50 active API keys (R2). */
const LANES = 4;
/** No key is started past this (a loaded, shared machine): the figures then say over how many keys they are. */
const LOOP_BUDGET_MS = 60_000;
/** The target of the revocation's propagation to the other instance, at p99. */
const PROPAGATION_TARGET_MS = 100;
/** Past this, a key that b neither learns of nor refuses fails the benchmark. */
const PROPAGATION_TIMEOUT_MS = 10_000;
const RATE_WARM_UP_MS = 1_500;
const RATE_MS = 3_000;

const VALIDATE = '/api/v1/validate';
const VALID = JSON.stringify({ valid: true });
const fmtMsFine = (ms: number): string => `${ms.toFixed(2)} ms`;

function pgStoreUrl(schema: string): string {
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

// ---------------------------------------------------------------- (1) validate on PostgreSQL beside SQLite

interface Side {
  readonly label: string;
  readonly gateway: BenchGateway;
  readonly spec: LoadSpec;
  readonly runs: LoadRun[];
  readonly busy: ReturnType<typeof newBusy>;
  /** The length of the org's request stream before the next measured run. */
  from: number;
  entries: number;
  allowed: number;
  batchSum: number;
  batchCount: number;
  /** Time its projections took to catch up after its measured runs. */
  catchUpMs: number;
}

function side(label: string, gateway: BenchGateway): Side {
  const spec: LoadSpec = { method: 'GET', url: `${gateway.url}${VALIDATE}`, headers: { 'x-api-key': gateway.org.apiKey.secret }, total: Number.MAX_SAFE_INTEGER, maxMs: ROUND_MS };
  return { label, gateway, spec, runs: [], busy: newBusy(), from: 0, entries: 0, allowed: 0, batchSum: 0, batchCount: 0, catchUpMs: 0 };
}

/** One measured run of a side: its answers, the audit entries it wrote, its group-commit batches. */
async function measuredRun(load: HttpLoad, s: Side): Promise<LoadRun> {
  const { app, url, org } = s.gateway;
  const before = await batchSizes(url);
  const run = await busyRun(load, s.spec, s.busy);
  const after = await batchSizes(url);
  // Every answer was sent once its entry was appended: the stream holds them all by now.
  const audited = await auditEntries(app, org.organization.id, s.from, (data) => data.operationName === `GET ${VALIDATE}`);
  s.from += audited.count;
  s.entries += audited.count;
  s.allowed += audited.allowed;
  s.batchSum += after.sum - before.sum;
  s.batchCount += after.count - before.count;
  s.runs.push(run);
  // Its projections catch up before anything else runs: in this one process, that work would
  // otherwise fall into the other store's next round.
  const behind = performance.now();
  await app.runner.waitFor(await app.store.headPosition(), { timeoutMs: 120_000 });
  s.catchUpMs += performance.now() - behind;
  return run;
}

async function validatePostgres(): Promise<Row[]> {
  const bench = 'fleet-validate-postgres';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  const eventSchema = freshSchemaName('kl_bench_fleet_events');
  const readSchema = freshSchemaName('kl_bench_fleet_reads');
  const gateways: BenchGateway[] = [];
  let load: HttpLoad | null = null;
  try {
    gateways.push(await startBenchGateway('fleet-validate-sqlite'));
    gateways.push(await startBenchGateway('fleet-validate-pg', { KEYLEDGER_EVENT_STORE: pgStoreUrl(eventSchema), KEYLEDGER_READ_STORE: pgStoreUrl(readSchema) }));
    const sqlite = side('SQLite', gateways[0]!);
    const postgres = side('PostgreSQL', gateways[1]!);
    log(`PostgreSQL: ${PG_URL}, schemas ${eventSchema} (events) and ${readSchema} (read models)`);
    load = await HttpLoad.open({ url: sqlite.gateway.url, headers: {}, concurrency: CONCURRENCY });

    // The load checks the status and the absence of `errors` only: first see that both answer `{"valid":true}`.
    for (const s of [sqlite, postgres]) {
      const response = await fetch(`${s.gateway.url}${VALIDATE}`, { headers: { 'x-api-key': s.gateway.org.apiKey.secret } });
      const body = await response.text();
      if (response.status !== 200 || body !== VALID) throw new Error(`${s.label} answered HTTP ${response.status} ${body.slice(0, 300)}, expected 200 ${VALID}`);
    }
    log(`both gateways answer 200 ${VALID}`);
    for (const s of [sqlite, postgres]) {
      await load.run({ ...s.spec, maxMs: WARM_UP_MS });
      await s.gateway.app.runner.waitFor(await s.gateway.app.store.headPosition(), { timeoutMs: 120_000 });
    }
    log(`warm-up: ${fmtMs(WARM_UP_MS)} each`);
    for (const s of [sqlite, postgres]) s.from = await streamLength(s.gateway.app, s.gateway.org.organization.id);

    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [sqlite, postgres] : [postgres, sqlite];
      const runs = new Map<Side, LoadRun>();
      for (const s of order) runs.set(s, await measuredRun(load, s));
      log(`round ${round + 1} (${order[0]!.label} first): ${order.map((s) => describe(s.label, summarize([runs.get(s)!]))).join('; ')}`);
    }

    const sq = summarize(sqlite.runs);
    const pg = summarize(postgres.runs);
    const ratio = pg.rate / sq.rate;
    const met = `target ratio ≥ ${PG_TARGET}: ${ratio >= PG_TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)})`;
    for (const [s, summary] of [
      [sqlite, sq],
      [postgres, pg],
    ] as const) {
      log(`${describe(`${s.label}, ${CONCURRENCY} conns`, summary)}; ${describeBusy(s.busy, summary.done)}`);
      log(`${s.label}: its projections took ${fmtMs(s.catchUpMs)} in all to catch up after its ${ROUNDS} rounds (not in the rates; waited for before the next run)`);
    }
    log(`throughput ratio PostgreSQL / SQLite ${ratio.toFixed(2)}; ${met}`);
    const rows: Row[] = [];
    const figure = (f: Omit<Figure, 'bench'>): Figure => ({ bench, ...f });
    const busyPerRequest = (s: Side, done: number) => (s.busy.serverActive * 1000) / Math.max(1, done);
    rows.push(
      figure({
        case: `GET ${VALIDATE}, PostgreSQL, ${CONCURRENCY} conns`,
        value: pg.rate,
        unit: 'req/s',
        refLabel: `same, SQLite, ${CONCURRENCY} conns`,
        refValue: sq.rate,
        refUnit: 'req/s',
        note: `${pg.done} vs ${sq.done} requests, ${ROUNDS}×${fmtMs(ROUND_MS)} rounds each; ${met}`,
      }),
      figure({
        case: 'PostgreSQL, p50 latency',
        value: toMicros(pg.p50Ms),
        unit: 'µs',
        refLabel: 'SQLite, p50',
        refValue: toMicros(sq.p50Ms),
        refUnit: 'µs',
        note: 'lower is better',
      }),
      figure({
        case: 'PostgreSQL, p99 latency',
        value: toMicros(pg.p99Ms),
        unit: 'µs',
        refLabel: 'SQLite, p99',
        refValue: toMicros(sq.p99Ms),
        refUnit: 'µs',
        note: 'lower is better',
      }),
      figure({
        case: 'server-thread busy time per request',
        value: busyPerRequest(postgres, pg.done),
        unit: 'µs',
        refLabel: 'SQLite',
        refValue: busyPerRequest(sqlite, sq.done),
        refUnit: 'µs',
        note: 'lower is better; the gateway thread (PostgreSQL itself runs in other processes)',
      }),
    );
    for (const [s, summary] of [
      [postgres, pg],
      [sqlite, sq],
    ] as const) {
      const ok = s.entries === summary.done && s.allowed === summary.done;
      const meanBatch = s.batchCount > 0 ? s.batchSum / s.batchCount : Number.NaN;
      log(
        `${s.label} audit: ${s.entries} request events written during the measured runs (${s.allowed} allowed validations), ${summary.done} answers 200 → ` +
          `${ok ? 'equal: every answered request was audited' : 'MISMATCH'}; group commit: ${s.batchCount} appends, mean batch ${meanBatch.toFixed(1)} entries`,
      );
      rows.push(
        figure({
          case: `${s.label}: audit entries written`,
          value: s.entries,
          unit: 'entries',
          refLabel: '200 answers',
          refValue: summary.done,
          refUnit: 'answers',
          note: ok ? 'equal: every answered request was audited' : `MISMATCH (${s.allowed} allowed entries)`,
        }),
      );
      if (!ok) {
        rows.push({ bench, remark: `${s.label} audit check failed: ${s.entries} entries (${s.allowed} allowed) for ${summary.done} answers 200` });
        process.exitCode = 1;
      }
    }
    const batch = (s: Side) => (s.batchCount > 0 ? s.batchSum / s.batchCount : Number.NaN);
    rows.push(
      figure({
        case: 'PostgreSQL: group-commit batch, mean',
        value: batch(postgres),
        unit: 'entries',
        refLabel: 'SQLite',
        refValue: batch(sqlite),
        refUnit: 'entries',
        note: `${batch(postgres).toFixed(1)} vs ${batch(sqlite).toFixed(1)} entries/append (at most ${CONCURRENCY}: one per connection)`,
      }),
    );
    return rows;
  } finally {
    await load?.close();
    for (const gateway of gateways.reverse()) await gateway.close();
    await dropSchemas([eventSchema, readSchema]);
  }
}

// ---------------------------------------------------------------- (2) revocation from one instance to the other

/**
 * A paced load in a worker thread: `rate` GET requests a second, spread in turn on `urls`, each on
 * a keep-alive connection, at most `maxInFlight` at once (a request due while that many are in
 * flight is skipped and counted). Plain JavaScript, evaluated: no TypeScript loader in the worker.
 */
const PACED_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { Agent, request } = require('node:http');
const { performance } = require('node:perf_hooks');
const { urls, headers, rate, maxInFlight } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: maxInFlight, maxFreeSockets: maxInFlight });
const targets = urls.map((u) => new URL(u));
let due = 0, sent = 0, done = 0, skipped = 0, inFlight = 0, stopped = false;
const statuses = {};
let errors = 0, lastError = null;
let latencies = new Float64Array(65536);
const t0 = performance.now();
function send(target) {
  inFlight++;
  const started = performance.now();
  const finish = (status) => {
    inFlight--;
    statuses[status] = (statuses[status] || 0) + 1;
    if (done === latencies.length) { const grown = new Float64Array(latencies.length * 2); grown.set(latencies); latencies = grown; }
    latencies[done++] = performance.now() - started;
  };
  const req = request({ agent, hostname: target.hostname, port: target.port, path: target.pathname, method: 'GET', headers }, (res) => {
    res.resume();
    res.on('end', () => finish(res.statusCode));
    res.on('error', (error) => { errors++; lastError = error.message; inFlight--; });
  });
  req.on('error', (error) => { errors++; lastError = error.message; inFlight--; });
  req.end();
}
function tick() {
  if (stopped) return;
  const target = Math.floor(((performance.now() - t0) * rate) / 1000);
  for (; due < target; due++) {
    if (inFlight >= maxInFlight) { skipped++; continue; }
    send(targets[due % targets.length]);
    sent++;
  }
  setTimeout(tick, 2);
}
tick();
parentPort.on('message', () => {
  stopped = true;
  const ms = performance.now() - t0;
  const finish = () => {
    if (inFlight > 0) return setTimeout(finish, 5);
    const sorted = latencies.slice(0, done).sort();
    const q = (p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]);
    parentPort.postMessage({ ms, sent, done, skipped, statuses, errors, lastError, p50: q(0.5), p99: q(0.99) });
  };
  finish();
});
`;

interface PacedResult {
  readonly ms: number;
  readonly sent: number;
  readonly done: number;
  readonly skipped: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly lastError: string | null;
  readonly p50: number;
  readonly p99: number;
}

/** Starts the paced load; `stop()` ends it once the requests in flight are answered, with what it did. */
async function pacedLoad(options: { urls: string[]; headers: Record<string, string>; rate: number; maxInFlight: number }): Promise<{ stop(): Promise<PacedResult> }> {
  const worker = new Worker(PACED_WORKER, { eval: true, workerData: options, execArgv: [] });
  await new Promise<void>((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
  });
  let stopped: Promise<PacedResult> | null = null;
  return {
    stop() {
      stopped ??= (async () => {
        try {
          return await new Promise<PacedResult>((resolve, reject) => {
            worker.once('message', (result: PacedResult) => resolve(result));
            worker.once('error', reject);
            worker.postMessage('stop');
          });
        } finally {
          await worker.terminate();
        }
      })();
      return stopped;
    },
  };
}

/** One GET of validate on b with `apiKey`, on a keep-alive connection of its own: its status. */
function validateStatus(agent: Agent, url: URL, apiKey: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, hostname: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers: { 'x-api-key': apiKey } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Poll {
  /** performance.now() when the awaited status arrived. */
  readonly at: number;
  readonly polls: number;
  /** Each request's round trip, ms. */
  readonly roundTrips: number[];
  /** Statuses that were neither the awaited one nor the one before it (e.g. 503). */
  readonly unexpected: number[];
}

/** Polls b back to back until it answers `want`; `before` is what it answers until then. */
async function pollUntil(agent: Agent, url: URL, apiKey: string, want: number, before: number): Promise<Poll> {
  const deadline = performance.now() + PROPAGATION_TIMEOUT_MS;
  const roundTrips: number[] = [];
  const unexpected: number[] = [];
  for (let polls = 1; ; polls++) {
    const started = performance.now();
    const status = await validateStatus(agent, url, apiKey);
    const at = performance.now();
    roundTrips.push(at - started);
    if (status === want) return { at, polls, roundTrips, unexpected };
    if (status !== before) unexpected.push(status);
    if (at > deadline) throw new Error(`b did not answer ${want} within ${PROPAGATION_TIMEOUT_MS} ms (${polls} polls, last status ${status})`);
  }
}

/** The fleet's validate rate, saturated: 32 connections on each instance at once, after a warm-up. */
async function fleetValidateRate(fleet: Fleet, instances: readonly FleetInstance[]): Promise<number> {
  const loads = await Promise.all(
    instances.map((i) => HttpLoad.open({ url: `${i.url}${VALIDATE}`, headers: { 'x-api-key': fleet.admin.apiKey }, concurrency: CONCURRENCY / instances.length })),
  );
  try {
    const spec = (maxMs: number): LoadSpec => ({ method: 'GET', total: Number.MAX_SAFE_INTEGER, maxMs });
    await Promise.all(loads.map((load) => load.run(spec(RATE_WARM_UP_MS))));
    const runs = await Promise.all(loads.map((load) => load.run(spec(RATE_MS))));
    const rates = runs.map((run) => summarize([run]).rate);
    log(`fleet validate rate, ${CONCURRENCY} conns (${CONCURRENCY / instances.length} on each): ${instances.map((i, n) => `${i.name} ${fmtRate(rates[n]!)}`).join(' + ')} req/s`);
    return rates.reduce((sum, rate) => sum + rate, 0);
  } finally {
    await Promise.all(loads.map((load) => load.close()));
  }
}

const CREATE = 'mutation($name: String!) { createApiKey(name: $name) { secret apiKey { id } } }';
const REVOKE = 'mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { status } } }';

async function graphqlData<T>(fleet: Fleet, instance: FleetInstance, query: string, variables: Record<string, unknown>): Promise<T> {
  const { status, body } = await fleet.graphql<T>(instance, query, variables);
  if (status !== 200 || body.errors !== undefined || body.data === undefined) throw new Error(`${instance.name} answered HTTP ${status}: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data;
}

const sortedOf = (values: readonly number[]): Float64Array => Float64Array.from(values).sort();
const quantiles = (sorted: Float64Array) => ({ p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN });

interface Lifecycle {
  /** a's createApiKey, sent to answered. */
  readonly createMs: number;
  /** a's answer to the creation → b's first 200. */
  readonly creationMs: number;
  /** a's revokeApiKey, sent to answered. */
  readonly revokeMs: number;
  /** a's answer to the revocation → b's first refusal (polls sent after the answer). */
  readonly revocationMs: number;
  /** The revocation sent to a → b's first refusal (polls from the moment it is sent). */
  readonly sinceSentMs: number;
  /** The key's name, and when b first refused it (ms since the epoch, from polls since the revocation was sent). */
  readonly name: string;
  readonly firstRefusalEpochMs: number;
  /** Polls of b after a's answer to the revocation, and their round trips. */
  readonly polls: number;
  readonly roundTrips: number[];
  readonly unexpected: number[];
}

/** One key's life: created on a, validated on b, revoked on a, refused on b; `agents` are this lane's connections to b. */
async function lifecycle(fleet: Fleet, a: FleetInstance, bUrl: URL, agents: { after: Agent; during: Agent }, n: number): Promise<Lifecycle> {
  const name = `revocation ${n}`;
  const creating = performance.now();
  const created = await graphqlData<{ createApiKey: { secret: string; apiKey: { id: string } } }>(fleet, a, CREATE, { name });
  const createdAt = performance.now();
  const secret = created.createApiKey.secret;
  const known = await pollUntil(agents.after, bUrl, secret, 200, 403);

  const revoking = performance.now();
  // b polled back to back from the moment the revocation is sent, on a connection of its own.
  const during = pollUntil(agents.during, bUrl, secret, 403, 200);
  const revoked = await graphqlData<{ revokeApiKey: { apiKey: { status: string } } }>(fleet, a, REVOKE, { id: created.createApiKey.apiKey.id });
  const revokedAt = performance.now();
  if (revoked.revokeApiKey.apiKey.status !== 'REVOKED') throw new Error(`a revoked the key, but says its status is ${revoked.revokeApiKey.apiKey.status}`);
  const [refused, firstRefusal] = await Promise.all([pollUntil(agents.after, bUrl, secret, 403, 200), during]);
  return {
    createMs: createdAt - creating,
    creationMs: known.at - createdAt,
    revokeMs: revokedAt - revoking,
    revocationMs: refused.at - revokedAt,
    sinceSentMs: firstRefusal.at - revoking,
    name,
    firstRefusalEpochMs: performance.timeOrigin + firstRefusal.at,
    polls: refused.polls,
    roundTrips: refused.roundTrips,
    unexpected: [...known.unexpected, ...refused.unexpected, ...firstRefusal.unexpected],
  };
}

/**
 * When each key's revocation was recorded, by the key's name (ms since the epoch): the
 * `ApiKeyRevoked` event's `recorded_at`, its append transaction's start on PostgreSQL's clock
 * (this machine's).
 */
async function recordedRevocations(fleet: Fleet): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: fleet.pgUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const events = `"${fleet.eventSchema}".events`;
    const { rows } = await client.query<{ name: string; ms: number }>(
      `select c.data->>'name' as name, (extract(epoch from r.recorded_at) * 1000)::float8 as ms
         from ${events} c join ${events} r on r.type = 'ApiKeyRevoked' and r.data->>'keyId' = c.data->>'keyId'
        where c.type = 'ApiKeyCreated'`,
    );
    return new Map(rows.map((row) => [row.name, row.ms]));
  } finally {
    await client.end();
  }
}

async function revocation(): Promise<Row[]> {
  const bench = 'fleet-revocation';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  const fleet = await startFleet({ size: 2 });
  let background: Awaited<ReturnType<typeof pacedLoad>> | null = null;
  try {
    const [a, b] = fleet.instances as [FleetInstance, FleetInstance];
    log(`fleet: ${fleet.instances.map((i) => `${i.name} ${i.url} (pid ${i.pid})`).join(', ')} on ${fleet.pgUrl}, schemas ${fleet.eventSchema}, ${fleet.readSchema}`);

    const measured = await fleetValidateRate(fleet, [a, b]);
    const rate = Math.max(1, Math.round(measured / 2));
    background = await pacedLoad({ urls: [a, b].map((i) => `${i.url}${VALIDATE}`), headers: { 'x-api-key': fleet.admin.apiKey }, rate, maxInFlight: CONCURRENCY });
    log(`background load: ${fmtRate(rate)} validate req/s (half of ${fmtRate(measured)}), alternately on a and b`);
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const bUrl = new URL(`${b.url}${VALIDATE}`);
    const cycles: Lifecycle[] = [];
    let claimed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        const agents = { after: new Agent({ keepAlive: true, maxSockets: 1 }), during: new Agent({ keepAlive: true, maxSockets: 1 }) };
        try {
          while (claimed < ITERATIONS && performance.now() - started < LOOP_BUDGET_MS) cycles.push(await lifecycle(fleet, a, bUrl, agents, claimed++));
        } finally {
          agents.after.destroy();
          agents.during.destroy();
        }
      }),
    );
    const loopMs = performance.now() - started;
    const bg = await background.stop();
    background = null;
    const recorded = await recordedRevocations(fleet);
    const fromRecord = cycles.map((c) => {
      const at = recorded.get(c.name);
      if (at === undefined) throw new Error(`no ApiKeyRevoked event in the store for the key "${c.name}"`);
      return c.firstRefusalEpochMs - at;
    });

    const keys = cycles.length;
    const short = keys < ITERATIONS ? ` (stopped at ${keys} of ${ITERATIONS}: the ${fmtMs(LOOP_BUDGET_MS)} budget ran out)` : '';
    const revocations = cycles.map((c) => c.revocationMs);
    const roundTrips = cycles.flatMap((c) => c.roundTrips);
    const unexpected = cycles.flatMap((c) => c.unexpected);
    const polls = cycles.reduce((n, c) => n + c.polls, 0);
    const refusedFirst = cycles.filter((c) => c.polls === 1).length;
    const rev = quantiles(sortedOf(revocations));
    const cre = quantiles(sortedOf(cycles.map((c) => c.creationMs)));
    const rtt = quantiles(sortedOf(roundTrips));
    const met = `target p99 < ${PROPAGATION_TARGET_MS} ms: ${rev.p99 < PROPAGATION_TARGET_MS ? 'met' : 'NOT met'}`;
    const bgOk = (bg.statuses['200'] ?? 0) === bg.done && bg.errors === 0;
    const bgStatuses = Object.entries(bg.statuses)
      .map(([status, n]) => `${n}×${status}`)
      .join(', ');
    log(`${keys} times create on a → validated on b → revoke on a → refused on b, ${LANES} keys at a time, in ${fmtMs(loopMs)}${short}`);
    log(`revocation a → b (a's answer to b's first refusal): p50 ${fmtMsFine(rev.p50)}, p99 ${fmtMsFine(rev.p99)}, max ${fmtMsFine(rev.max)}; ${met}`);
    log(`creation a → b (a's answer to b's first 200): p50 ${fmtMsFine(cre.p50)}, p99 ${fmtMsFine(cre.p99)}, max ${fmtMsFine(cre.max)}`);
    log(
      `b's validate round trip while polling: p50 ${fmtMsFine(rtt.p50)}, p99 ${fmtMsFine(rtt.p99)} (${polls} polls after the revocations, ${(polls / keys).toFixed(1)} a revocation)`,
    );
    const cr = quantiles(sortedOf(cycles.map((c) => c.createMs)));
    const rv = quantiles(sortedOf(cycles.map((c) => c.revokeMs)));
    const sent = quantiles(sortedOf(cycles.map((c) => c.sinceSentMs)));
    const rec = quantiles(sortedOf(fromRecord));
    log(
      `on a: createApiKey p50 ${fmtMsFine(cr.p50)}, p99 ${fmtMsFine(cr.p99)}; revokeApiKey p50 ${fmtMsFine(rv.p50)}, p99 ${fmtMsFine(rv.p99)} (each answers once a's read models hold its event)`,
    );
    log(`b refused at its first poll after a's answer in ${refusedFirst} of ${keys} revocations (it had the revocation before a answered)`);
    log(
      `revocation sent to a → b's first refusal (b polled from the moment the mutation is sent): p50 ${fmtMsFine(sent.p50)}, p99 ${fmtMsFine(sent.p99)}, max ${fmtMsFine(sent.max)}`,
    );
    log(
      `revocation recorded (the event's recorded_at) → b's first refusal (same polls): p50 ${fmtMsFine(rec.p50)}, p99 ${fmtMsFine(rec.p99)}, max ${fmtMsFine(rec.max)}; ` +
        "b's index learns of the event from PostgreSQL's notification, whatever a's read models do",
    );
    if (unexpected.length > 0) {
      const counts = new Map<number, number>();
      for (const status of unexpected) counts.set(status, (counts.get(status) ?? 0) + 1);
      log(`b also answered: ${[...counts].map(([status, n]) => `${n}×${status}`).join(', ')}`);
    }
    log(
      `background: ${bg.done} requests in ${fmtMs(bg.ms)} = ${fmtRate((bg.done * 1000) / bg.ms)} req/s of ${fmtRate(rate)} asked (${bg.skipped} skipped at ${CONCURRENCY} in flight), ` +
        `${bgStatuses || 'no answers'}${bg.errors > 0 ? `, ${bg.errors} errors (${bg.lastError ?? ''})` : ''}, p50 ${fmtMsFine(bg.p50)}, p99 ${fmtMsFine(bg.p99)}`,
    );

    const figure = (f: Omit<Figure, 'bench'>): Figure => ({ bench, ...f });
    const rows: Row[] = [
      figure({
        case: 'revocation a → b, p50',
        value: toMicros(rev.p50),
        unit: 'µs',
        refLabel: "b's validate round trip, p50",
        refValue: toMicros(rtt.p50),
        refUnit: 'µs',
        note: `${keys} revocations under load; the round trip bounds how soon a refusal can be seen`,
      }),
      figure({ case: 'revocation a → b, p99', value: toMicros(rev.p99), unit: 'µs', refLabel: 'target', refValue: toMicros(PROPAGATION_TARGET_MS), refUnit: 'µs', note: met }),
      figure({
        case: 'revocation sent to a → b refuses, p99',
        value: toMicros(sent.p99),
        unit: 'µs',
        refLabel: "a's revokeApiKey, p99",
        refValue: toMicros(rv.p99),
        refUnit: 'µs',
        note: `p50 ${fmtMsFine(sent.p50)}, max ${fmtMsFine(sent.max)}; b polled while a works`,
      }),
      figure({
        case: 'revocation recorded → b refuses, p99',
        value: toMicros(rec.p99),
        unit: 'µs',
        refLabel: 'target',
        refValue: toMicros(PROPAGATION_TARGET_MS),
        refUnit: 'µs',
        note: `p50 ${fmtMsFine(rec.p50)}, max ${fmtMsFine(rec.max)}; from the event's recorded_at`,
      }),
      figure({
        case: 'revocation a → b, max',
        value: toMicros(rev.max),
        unit: 'µs',
        refLabel: 'target (p99)',
        refValue: toMicros(PROPAGATION_TARGET_MS),
        refUnit: 'µs',
        note: `of ${keys}`,
      }),
      figure({
        case: 'creation a → b, p99',
        value: toMicros(cre.p99),
        unit: 'µs',
        refLabel: 'creation, p50',
        refValue: toMicros(cre.p50),
        refUnit: 'µs',
        note: `max ${fmtMsFine(cre.max)}`,
      }),
      figure({
        case: 'background validate load (a + b)',
        value: (bg.done * 1000) / bg.ms,
        unit: 'req/s',
        refLabel: 'half the fleet rate',
        refValue: rate,
        refUnit: 'req/s',
        note: `${bgStatuses || 'no answers'}; p99 ${fmtMsFine(bg.p99)}`,
      }),
    ];
    if (keys < ITERATIONS) rows.push({ bench, remark: `only ${keys} of ${ITERATIONS} keys within the ${fmtMs(LOOP_BUDGET_MS)} budget` });
    if (!bgOk) rows.push({ bench, remark: `the background load got answers other than 200: ${bgStatuses}${bg.errors > 0 ? `, ${bg.errors} errors (${bg.lastError ?? ''})` : ''}` });
    return rows;
  } finally {
    await background?.stop().catch(() => undefined);
    await fleet.close();
  }
}

const FAILOVERS = 5;

interface ReadyView {
  lease: { held: boolean; holder: string | null };
}

async function readyView(instance: FleetInstance): Promise<ReadyView | null> {
  try {
    return (await (await fetch(`${instance.url}/ready`)).json()) as ReadyView;
  } catch {
    return null;
  }
}

/** The instance that says it holds the lease, once one does (among `among`). */
async function holderOf(among: readonly FleetInstance[], timeoutMs: number): Promise<FleetInstance> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(among.map(readyView));
    const holder = among.find((_, i) => views[i]?.lease.held === true);
    if (holder !== undefined) return holder;
    if (performance.now() > deadline) throw new Error(`no lease holder among ${among.map((i) => i.name).join(', ')} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * SIGKILL of the lease holder, then at once a command on a survivor, which answers once the
 * read models hold its event: the time from the kill to that answer is the time the fleet's
 * projections stood still. Reference: the same command on a quiet fleet.
 */
async function failover(): Promise<Row[]> {
  const bench = 'fleet-failover';
  if (!(await pgReachable())) return [pgSkipped(bench)];
  const fleet = await startFleet({ size: 2, pgUrl: PG_URL });
  try {
    const quiet: number[] = [];
    const stalls: number[] = [];
    const takeovers: number[] = [];
    for (let round = 0; round < FAILOVERS; round++) {
      const living = fleet.instances.filter((i) => !i.exited);
      const holder = await holderOf(living, 10_000);
      const survivor = living.find((i) => i !== holder)!;
      const t0 = performance.now();
      const quietKey = await graphqlData<{ createApiKey: { apiKey: { id: string } } }>(fleet, survivor, CREATE, { name: `quiet-${round}` });
      quiet.push(performance.now() - t0);
      await graphqlData(fleet, survivor, REVOKE, { id: quietKey.createApiKey.apiKey.id });

      const killedAt = performance.now();
      const killed = holder.kill('SIGKILL');
      const created = await graphqlData<{ createApiKey: { apiKey: { id: string } } }>(fleet, survivor, CREATE, { name: `failover-${round}` });
      stalls.push(performance.now() - killedAt);
      await killed;
      await holderOf([survivor], 10_000);
      takeovers.push(performance.now() - killedAt);
      await graphqlData(fleet, survivor, REVOKE, { id: created.createApiKey.apiKey.id });
      log(`  · round ${round + 1}: the command on ${survivor.name} answered ${fmtMsFine(stalls[round]!)} after the SIGKILL of ${holder.name}`);
      // The next round's other instance.
      await fleet.start();
    }
    const stall = quantiles(sortedOf(stalls));
    const quietQ = quantiles(sortedOf(quiet));
    const takeover = quantiles(sortedOf(takeovers));
    return [
      {
        bench,
        case: `SIGKILL of the lease holder → a command on the survivor answers, p50 of ${FAILOVERS}`,
        value: stall.p50 * 1000,
        unit: 'µs',
        refLabel: 'the same command, no failover, p50',
        refValue: quietQ.p50 * 1000,
        refUnit: 'µs',
        note: `max ${fmtMsFine(stall.max)}; the command waits until the new holder applied its event (target: within 5 s)`,
      },
      {
        bench,
        case: `SIGKILL → the survivor's /ready says it holds the lease, max of ${FAILOVERS}`,
        value: takeover.max * 1000,
        unit: 'µs',
        refLabel: 'target',
        refValue: 5_000_000,
        refUnit: 'µs',
        note: `p50 ${fmtMsFine(takeover.p50)}`,
      },
    ];
  } finally {
    await fleet.close();
  }
}

export const fleetBenchmarks: Benchmark[] = [
  {
    name: 'fleet-validate-postgres',
    title: `GET /api/v1/validate with a valid API key, durable audit, ${CONCURRENCY} keep-alive connections: the gateway on PostgreSQL vs on SQLite`,
    run: validatePostgres,
  },
  {
    name: 'fleet-revocation',
    title: `two gateway processes on one PostgreSQL, under a validate load: from a revocation on one to the first refusal on the other (${ITERATIONS} keys)`,
    run: revocation,
  },
  {
    name: 'fleet-failover',
    title: `two gateway processes on one PostgreSQL: from SIGKILL of the projection lease's holder to the projections advancing on the other (${FAILOVERS} times)`,
    run: failover,
  },
];
