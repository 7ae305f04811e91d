// The change feeds (R26) under load, the gateway in-process on the embedded store (one SQLite
// file), its subscribers in a child process of their own (SUBSCRIBERS below, plain JavaScript with
// the real `graphql-sse` client in distinct-connections mode, i.e. yoga's SSE on /graphql), so
// that the gateway's event loop, heap and RSS are its own.
//
// (1) feeds-fanout: 1,000 concurrent `credentialEvents` subscribers (no `after`) on one instance,
// with the admin's credentials spread over 125 application keys of the admin (a feed cap of 8 per
// application key, 1,000 per instance: src/feeds/feeds.ts), both caps probed once they are full.
// Then 100 `renameApiKey` mutations, one at a time, from the child: for each, from the mutation's
// answer (and from its sending) to its payload's delivery to the last subscriber, and to the
// median one. The answer comes after the deliveries (a mutation is answered once its audit entry
// is durable, and it waits behind the fan-out's work on the gateway's one event loop), so the
// answer-based figures are negative; the send-based ones are the end-to-end latency. Reference, in
// the same run and the same way: one subscriber. Also the mutation's own round trip, `{ __typename
// }` one request at a time with no feed and with the 1,000 idle feeds (every request's audit entry
// is an event every feed reads), the gateway's heap and RSS (after a GC) before and after the
// 1,000 subscribers open, divided by 1,000, and how busy the gateway's event loop is while the
// 1,000 feeds are idle.
//
// (2) feeds-replay: N `ApiKeyRenamed` events of one organization's API key appended straight to
// the event store (batches of 1,000; the projections apply them), as many as fit the seeding
// budget (at most 1M), then a `credentialEvents(after:)` subscription from the cursor right before
// them consumes the N payloads over SSE (child process), beside `store.readAll` of the same events
// (the reference), and beside the Feed iterator read in-process (no GraphQL, no transport).
// Nothing here asserts on time.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { DomainError } from '../src/domain/errors.js';
import type { NewEvent, Position } from '../src/eventstore/port.js';
import { encodeCursor } from '../src/feeds/cursor.js';
import { authenticateApi, type PresentedCredentials } from '../src/gateway/authenticate.js';
import { type BenchGateway, type Benchmark, type Figure, type Row, fmtMs, fmtRate, log, perSecond, postGraphQL, quantile, startBenchGateway, toMicros } from './lib.js';

// ---------------------------------------------------------------- sizes

const SUBSCRIBERS_TOTAL = 1_000;
/** The caps of src/feeds/feeds.ts (the defaults the gateway runs with). */
const FEEDS_PER_KEY = 8;
const APPLICATION_KEYS = Math.ceil(SUBSCRIBERS_TOTAL / FEEDS_PER_KEY);
const MUTATIONS = 100;
const WARM_UP_MUTATIONS = 10;
/** With 1,000 subscribers each mutation takes most of a second: fewer. */
const WARM_UP_MUTATIONS_MANY = 3;
/** Subscriptions being opened at once. */
const OPEN_CONCURRENCY = 50;
/** A pause after each delivery, so that the next mutation finds the gateway idle (the mutation's own audit entry woke every feed too). */
const GAP_MS = 20;
/** A mutation whose payload has not reached every subscriber by then counts as missed. */
const DELIVERY_TIMEOUT_MS = 10_000;
const IDLE_MS = 2_000;
const PING_MS = 1_500;
const P99_TARGET_MS = 250;

const REPLAY_MAX = 1_000_000;
/** Seeding (appends and the projections' catch-up) stops at the first round that would go past this. */
const SEED_BUDGET_MS = 50_000;
const SEED_ROUND = 50_000;
const APPEND_BATCH = 1_000;
const REPLAY_TIMEOUT_MS = 120_000;

const CREDENTIAL_FEED = 'subscription FanOut { credentialEvents { cursor type credential { ... on ApiKey { id name } } } }';
const REPLAY_FEED = 'subscription Replay($after: String) { credentialEvents(after: $after) { cursor type credential { ... on ApiKey { id name } } } }';
const RENAME = 'mutation Rename($id: ID!, $name: String!) { renameApiKey(id: $id, name: $name) { apiKey { id name } } }';
const CREATE_APPLICATION_KEY = 'mutation($name: String!) { createApplicationKey(name: $name) { secret applicationKey { id } } }';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the subscribers' process

/**
 * The child process: subscribers with graphql-sse (one client each, distinct connections, as a
 * fleet of separate consumers would be), the mutations (fetch), and the replay consumer. Times are
 * its own performance.now(), so that every interval is read on one clock. It answers the parent's
 * messages `{ id, type, ... }` with `{ id, result }` or `{ id, error }`.
 */
const SUBSCRIBERS = `
import { createClient } from 'graphql-sse';
import { performance } from 'node:perf_hooks';

const open = [];
const pending = new Map();
let strays = 0;

/** A refusal: the HTTP status and the first error's code and message when the answer has them, else the error's message. */
async function reasonOf(error) {
  const response = error?.response;
  if (!response?.status) return String(error?.message ?? error);
  const first = await response.json().then((body) => body?.errors?.[0], () => undefined);
  return 'HTTP ' + response.status + (first ? ' ' + first.extensions?.code + ': ' + first.message : '');
}

/** One subscription: resolves with it once connected, or with why it was refused. */
function subscribe(url, headers, query, variables, onResult) {
  const client = createClient({ url, headers, retryAttempts: 0 });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome) => { if (!settled) { settled = true; resolve(outcome); } };
    const sub = { ended: null, dispose: () => undefined };
    const end = (why) => { sub.ended ??= why; settle({ refused: why }); };
    sub.dispose = client.subscribe({ query, variables }, {
      next(result) {
        if (result.errors) return end(String(result.errors[0]?.extensions?.code ?? result.errors[0]?.message));
        onResult(result);
      },
      error: (error) => void reasonOf(error).then(end),
      complete: () => end('complete'),
    }, { connected: () => settle({ sub }) });
  });
}

function onPayload(result) {
  const at = performance.now();
  const name = result.data?.credentialEvents?.credential?.name;
  const waiting = name === undefined ? undefined : pending.get(name);
  if (waiting === undefined) { strays++; return; }
  waiting.times.push(at);
  if (waiting.times.length === waiting.need) waiting.resolve();
}

const handlers = {
  async open({ url, credentials, query, concurrency }) {
    const t0 = performance.now();
    const refused = {};
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < credentials.length) {
        const outcome = await subscribe(url, credentials[next++], query, {}, onPayload);
        if (outcome.sub) open.push(outcome.sub);
        else refused[outcome.refused] = (refused[outcome.refused] ?? 0) + 1;
      }
    }));
    return { open: open.length, refused, ms: performance.now() - t0 };
  },

  /** One more subscription: how it stands after settleMs (open, or the refusal), then dropped. */
  async probe({ url, headers, query, settleMs }) {
    const outcome = await subscribe(url, headers, query, {}, () => undefined);
    if (!outcome.sub) return outcome.refused;
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    outcome.sub.dispose();
    return outcome.sub.ended ?? 'open';
  },

  /** Mutations one at a time; for each, when it was sent and answered and when each subscriber got its payload. */
  async mutate({ url, headers, keyId, prefix, count, gapMs, timeoutMs }) {
    const live = open.filter((s) => s.ended === null);
    const need = live.length;
    const rows = [];
    strays = 0;
    const elu = performance.eventLoopUtilization();
    for (let i = 0; i < count; i++) {
      const name = prefix + ' ' + i;
      let resolve;
      const delivered = new Promise((r) => { resolve = r; });
      const waiting = { times: [], need, resolve };
      pending.set(name, waiting);
      const sent = performance.now();
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query: ${JSON.stringify(RENAME)}, variables: { id: keyId, name } }),
      });
      const body = await response.json();
      const answered = performance.now();
      if (response.status !== 200 || body.errors) throw new Error('the mutation failed: ' + JSON.stringify(body).slice(0, 300));
      let timer;
      await Promise.race([delivered, new Promise((r) => { timer = setTimeout(r, timeoutMs); })]);
      clearTimeout(timer);
      pending.delete(name);
      const times = waiting.times.slice().sort((a, b) => a - b);
      const n = times.length;
      rows.push({ sent, answered, received: n, need, first: times[0] ?? NaN, median: n ? times[Math.ceil(n / 2) - 1] : NaN, last: n === need ? times[n - 1] : NaN });
      await new Promise((r) => setTimeout(r, gapMs));
    }
    return { rows, strays, ended: live.filter((s) => s.ended !== null).map((s) => s.ended).slice(0, 5), elu: performance.eventLoopUtilization(elu).utilization };
  },

  /** { __typename } one request at a time for ms: how many, and the median round trip. */
  async ping({ url, headers, ms }) {
    const times = [];
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t0 = performance.now();
      const response = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' }, body: '{"query":"{ __typename }"}' });
      const text = await response.text();
      if (response.status !== 200) throw new Error('{ __typename } answered ' + response.status + ': ' + text.slice(0, 300));
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { count: times.length, ms, p50: times[Math.ceil(times.length / 2) - 1] };
  },

  async closeAll() {
    const n = open.length;
    for (const sub of open.splice(0)) sub.dispose();
    return n;
  },

  /** One subscription that consumes expect payloads: how long from subscribing to the last one. */
  async replay({ url, headers, query, after, expect, timeoutMs }) {
    const client = createClient({ url, headers, retryAttempts: 0 });
    const elu = performance.eventLoopUtilization();
    const t0 = performance.now();
    let count = 0, first = NaN, last = NaN, lastCursor = null, error = null, done = false;
    await new Promise((resolve) => {
      const finish = (why) => { if (done) return; done = true; error = why; clearTimeout(timer); dispose(); resolve(); };
      const timer = setTimeout(() => finish('timed out after ' + count + ' payloads'), timeoutMs);
      const dispose = client.subscribe({ query, variables: { after } }, {
        next(result) {
          if (done) return;
          if (result.errors) return finish(JSON.stringify(result.errors).slice(0, 300));
          const now = performance.now();
          if (count === 0) first = now;
          count++;
          if (count === expect) { last = now; lastCursor = result.data.credentialEvents.cursor; finish(null); }
        },
        error: (e) => void reasonOf(e).then(finish),
        complete: () => finish('completed after ' + count + ' payloads'),
      });
    });
    return { count, ms: last - t0, firstMs: first - t0, lastCursor, error, elu: performance.eventLoopUtilization(elu).utilization };
  },
};

process.on('message', async (message) => {
  if (message.type === 'exit') { process.disconnect(); return; }
  try {
    process.send({ id: message.id, result: await handlers[message.type](message) });
  } catch (error) {
    process.send({ id: message.id, error: String(error?.stack ?? error) });
  }
});
process.send({ ready: true });
`;

interface Reply {
  readonly id?: number;
  readonly ready?: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

interface MutationRow {
  readonly sent: number;
  readonly answered: number;
  readonly received: number;
  readonly need: number;
  readonly first: number;
  readonly median: number;
  /** NaN when some subscriber missed it. */
  readonly last: number;
}

interface MutateResult {
  readonly rows: readonly MutationRow[];
  /** Payloads that were no mutation's being timed (none expected). */
  readonly strays: number;
  /** How some feeds ended meanwhile (none expected). */
  readonly ended: readonly string[];
  /** The child's event-loop utilization over the run. */
  readonly elu: number;
}

interface Ping {
  readonly count: number;
  readonly ms: number;
  readonly p50: number;
}

interface ReplayResult {
  readonly count: number;
  readonly ms: number;
  readonly firstMs: number;
  readonly lastCursor: string | null;
  readonly error: string | null;
  readonly elu: number;
}

/** The subscribers' process (SUBSCRIBERS), spoken to by messages. */
class Subscribers {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #next = 0;
  #gone: Error | null = null;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (reply: Reply) => {
      if (reply.id === undefined) return;
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.error !== undefined) waiting?.reject(new Error(`subscribers' process: ${reply.error}`));
      else waiting?.resolve(reply.result);
    });
    child.on('exit', (code, signal) => {
      this.#gone = new Error(`the subscribers' process exited (${signal ?? code})`);
      for (const waiting of this.#waiting.values()) waiting.reject(this.#gone);
      this.#waiting.clear();
    });
  }

  static async start(): Promise<Subscribers> {
    // Plain JavaScript (no TypeScript loader), resolving graphql-sse from the repository.
    const child = spawn(process.execPath, ['--input-type=module', '-e', SUBSCRIBERS], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the subscribers' process exited at its start (${code})`)));
    });
    return new Subscribers(child);
  }

  call<T>(type: string, payload: Record<string, unknown> = {}): Promise<T> {
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: (value) => resolve(value as T), reject });
      this.#child.send({ ...payload, id, type });
    });
  }

  async close(): Promise<void> {
    if (this.#gone) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.send({ type: 'exit' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- measuring the gateway

/** The gateway process's GC: node's own when started with --expose-gc, else exposed now (npm run bench runs tsx without it). */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

interface Memory {
  readonly heapUsed: number;
  readonly rss: number;
}

async function settledMemory(gc: () => void): Promise<Memory> {
  await sleep(500);
  gc();
  await sleep(50);
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/** How busy the gateway's (this process's) event loop is over `ms` with nothing asked of it. */
async function idleUtilization(ms: number): Promise<number> {
  const start = performance.eventLoopUtilization();
  await sleep(ms);
  return performance.eventLoopUtilization(start).utilization;
}

async function waitForOpenFeeds(gateway: BenchGateway, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (gateway.app.feeds.open !== count) {
    if (performance.now() > deadline) throw new Error(`the gateway has ${gateway.app.feeds.open} feeds open, not ${count}`);
    await sleep(20);
  }
}

interface Latencies {
  /** Answer → delivery to the last subscriber, ms, ascending. */
  readonly last: Float64Array;
  /** Answer → delivery to the median subscriber. */
  readonly median: Float64Array;
  /** Send → delivery to the last subscriber. */
  readonly sentToLast: Float64Array;
  /** The mutation's round trip. */
  readonly roundTrip: Float64Array;
  readonly missed: number;
}

function latencies(rows: readonly MutationRow[]): Latencies {
  const sorted = (values: number[]) => Float64Array.from(values).sort();
  const complete = rows.filter((r) => !Number.isNaN(r.last));
  return {
    last: sorted(complete.map((r) => r.last - r.answered)),
    median: sorted(rows.map((r) => r.median - r.answered)),
    sentToLast: sorted(complete.map((r) => r.last - r.sent)),
    roundTrip: sorted(rows.map((r) => r.answered - r.sent)),
    missed: rows.length - complete.length,
  };
}

const ms2 = (ms: number) => `${ms.toFixed(2)} ms`;

function describeLatencies(label: string, l: Latencies): string {
  return (
    `${label}: answer → last subscriber p50 ${ms2(quantile(l.last, 0.5))}, p99 ${ms2(quantile(l.last, 0.99))}, max ${ms2(quantile(l.last, 1))}; ` +
    `answer → median subscriber p50 ${ms2(quantile(l.median, 0.5))}, p99 ${ms2(quantile(l.median, 0.99))}; ` +
    `send → last p50 ${ms2(quantile(l.sentToLast, 0.5))}, p99 ${ms2(quantile(l.sentToLast, 0.99))}; mutation round trip p50 ${ms2(quantile(l.roundTrip, 0.5))}, p99 ${ms2(quantile(l.roundTrip, 0.99))}` +
    (l.missed > 0 ? `; ${l.missed} mutations missed by some subscriber` : '')
  );
}

// ---------------------------------------------------------------- feeds-fanout

type Headers = Readonly<Record<string, string>>;

async function fanOut(): Promise<Row[]> {
  const bench = 'feeds-fanout';
  const gc = collector();
  const gateway = await startBenchGateway('feeds-fanout');
  let subscribers: Subscribers | undefined;
  try {
    const graphqlUrl = `${gateway.url}/graphql`;
    const apiKey = gateway.org.apiKey.secret;
    const admin: Headers = { 'x-api-key': apiKey, 'x-application-key': gateway.org.applicationKey.secret };
    const keyId = encodeGlobalID('ApiKey', gateway.org.apiKey.credential.id);

    // 125 application keys of the admin: 8 feeds each (the per-key cap) make the 1,000 (the instance's cap).
    const made = performance.now();
    const keys: Headers[] = [];
    for (let k = 0; k < APPLICATION_KEYS; k++) {
      const { createApplicationKey } = await postGraphQL<{ createApplicationKey: { secret: string } }>(graphqlUrl, admin, CREATE_APPLICATION_KEY, { name: `feed key ${k + 1}` });
      keys.push({ 'x-api-key': apiKey, 'x-application-key': createApplicationKey.secret });
    }
    log(`made ${APPLICATION_KEYS} application keys of the admin in ${fmtMs(performance.now() - made)}`);

    subscribers = await Subscribers.start();
    const mutate = (prefix: string, count: number) =>
      subscribers!.call<MutateResult>('mutate', { url: graphqlUrl, headers: admin, keyId, prefix, count, gapMs: GAP_MS, timeoutMs: DELIVERY_TIMEOUT_MS });
    const check = (what: string, run: MutateResult) => {
      const missed = run.rows.filter((r) => r.received !== r.need).length;
      if (missed > 0 || run.ended.length > 0 || run.strays > 0)
        throw new Error(`${what}: ${missed} mutations not delivered to every subscriber; feeds ended: ${JSON.stringify(run.ended)}; ${run.strays} stray payloads`);
    };

    // The reference: one subscriber, the same mutations, the same way.
    const one = await subscribers.call<{ open: number; refused: Record<string, number> }>('open', {
      url: graphqlUrl,
      credentials: [admin],
      query: CREDENTIAL_FEED,
      concurrency: 1,
    });
    if (one.open !== 1) throw new Error(`the reference subscriber was refused: ${JSON.stringify(one.refused)}`);
    await waitForOpenFeeds(gateway, 1);
    check('warm-up, 1 subscriber', await mutate('warm-up one', WARM_UP_MUTATIONS));
    const single = await mutate('one', MUTATIONS);
    check('1 subscriber', single);
    const reference = latencies(single.rows);
    log(describeLatencies('1 subscriber', reference));
    await subscribers.call('closeAll');
    await waitForOpenFeeds(gateway, 0);

    const before = await settledMemory(gc);
    const idleBefore = await idleUtilization(IDLE_MS);
    const ping = () => subscribers!.call<Ping>('ping', { url: graphqlUrl, headers: admin, ms: PING_MS });
    const pingBefore = await ping();

    const credentials = Array.from({ length: SUBSCRIBERS_TOTAL }, (_, i) => keys[i % APPLICATION_KEYS]!);
    const opened = await subscribers.call<{ open: number; refused: Record<string, number>; ms: number }>('open', {
      url: graphqlUrl,
      credentials,
      query: CREDENTIAL_FEED,
      concurrency: OPEN_CONCURRENCY,
    });
    if (opened.open !== SUBSCRIBERS_TOTAL) throw new Error(`${opened.open} subscribers of ${SUBSCRIBERS_TOTAL} open; refused: ${JSON.stringify(opened.refused)}`);
    await waitForOpenFeeds(gateway, SUBSCRIBERS_TOTAL);
    log(`opened ${SUBSCRIBERS_TOTAL} subscribers (${OPEN_CONCURRENCY} at a time) on ${APPLICATION_KEYS} application keys in ${fmtMs(opened.ms)}`);
    check(`warm-up, ${SUBSCRIBERS_TOTAL} subscribers`, await mutate('warm-up many', WARM_UP_MUTATIONS_MANY));

    const after = await settledMemory(gc);
    const idleAfter = await idleUtilization(IDLE_MS);
    const heapPer = (after.heapUsed - before.heapUsed) / SUBSCRIBERS_TOTAL;
    const rssPer = (after.rss - before.rss) / SUBSCRIBERS_TOTAL;
    log(
      `gateway after a GC: heap ${fmtMb(before.heapUsed)} → ${fmtMb(after.heapUsed)} (${fmtKb(heapPer)} per subscriber), ` +
        `RSS ${fmtMb(before.rss)} → ${fmtMb(after.rss)} (${fmtKb(rssPer)} per subscriber)`,
    );
    log(`gateway event loop busy while idle: ${pct(idleBefore)} with no feed, ${pct(idleAfter)} with ${SUBSCRIBERS_TOTAL} idle feeds`);
    const pingAfter = await ping();
    log(
      `{ __typename }, one at a time: ${fmtRate(perSecond(pingBefore.count, pingBefore.ms))} req/s (p50 ${ms2(pingBefore.p50)}) with no feed, ` +
        `${fmtRate(perSecond(pingAfter.count, pingAfter.ms))} req/s (p50 ${ms2(pingAfter.p50)}) with ${SUBSCRIBERS_TOTAL} idle feeds`,
    );

    // The caps, full: a ninth feed on one application key, then a feed on a key with none.
    const probe = (headers: Headers) => subscribers!.call<string>('probe', { url: graphqlUrl, headers, query: CREDENTIAL_FEED, settleMs: 500 });
    const perKey = await probe(keys[0]!);
    const perInstance = await probe(admin);
    log(`a 9th feed on one application key: ${perKey}; a 1,001st feed (on a key with none open): ${perInstance}`);
    await waitForOpenFeeds(gateway, SUBSCRIBERS_TOTAL);

    const many = await mutate('many', MUTATIONS);
    check(`${SUBSCRIBERS_TOTAL} subscribers`, many);
    const fanned = latencies(many.rows);
    log(describeLatencies(`${SUBSCRIBERS_TOTAL} subscribers`, fanned));
    log(`the subscribers' process was busy ${pct(many.elu)} of the fan-out run (${pct(single.elu)} with 1 subscriber)`);

    const closed = await subscribers.call<number>('closeAll');
    await waitForOpenFeeds(gateway, 0);
    log(`closed ${closed} subscribers; the gateway has ${gateway.app.feeds.open} feeds open`);

    const sentP99 = quantile(fanned.sentToLast, 0.99);
    const answeredP99 = quantile(fanned.last, 0.99);
    const case1k = `${SUBSCRIBERS_TOTAL.toLocaleString('en-US')} subscribers`;
    const target = (p99: number) => `target p99 < ${P99_TARGET_MS} ms: ${p99 < P99_TARGET_MS ? 'met' : 'MISSED'}`;
    return [
      latencyFigure(
        bench,
        `${case1k}: send → last subscriber, p50`,
        quantile(fanned.sentToLast, 0.5),
        quantile(reference.sentToLast, 0.5),
        `${MUTATIONS} renameApiKey, one at a time`,
      ),
      latencyFigure(bench, `${case1k}: send → last subscriber, p99`, sentP99, quantile(reference.sentToLast, 0.99), `${target(sentP99)} (${ms2(sentP99)})`),
      latencyFigure(
        bench,
        `${case1k}: answer → last subscriber, p50`,
        quantile(fanned.last, 0.5),
        quantile(reference.last, 0.5),
        'negative: every subscriber had its payload before the answer',
      ),
      latencyFigure(bench, `${case1k}: answer → last subscriber, p99`, answeredP99, quantile(reference.last, 0.99), `${target(answeredP99)} (${ms2(answeredP99)})`),
      latencyFigure(bench, `${case1k}: answer → median subscriber, p50`, quantile(fanned.median, 0.5), quantile(reference.median, 0.5), 'the median subscriber of each mutation'),
      latencyFigure(bench, `${case1k}: answer → median subscriber, p99`, quantile(fanned.median, 0.99), quantile(reference.median, 0.99), ''),
      {
        bench,
        case: `renameApiKey round trip, p50, ${case1k} open`,
        value: toMicros(quantile(fanned.roundTrip, 0.5)),
        unit: 'µs',
        refLabel: 'same, 1 subscriber open',
        refValue: toMicros(quantile(reference.roundTrip, 0.5)),
        refUnit: 'µs',
        note: `p99 ${ms2(quantile(fanned.roundTrip, 0.99))} vs ${ms2(quantile(reference.roundTrip, 0.99))}`,
      },
      {
        bench,
        case: `{ __typename } one at a time, ${case1k} idle`,
        value: perSecond(pingAfter.count, pingAfter.ms),
        unit: 'req/s',
        refLabel: 'same, no feed',
        refValue: perSecond(pingBefore.count, pingBefore.ms),
        refUnit: 'req/s',
        note: `p50 ${ms2(pingAfter.p50)} vs ${ms2(pingBefore.p50)}`,
      },
      {
        bench,
        case: 'gateway heap per idle subscriber',
        value: heapPer,
        unit: 'bytes',
        refLabel: 'heap with no feed ÷ 1,000',
        refValue: before.heapUsed / SUBSCRIBERS_TOTAL,
        refUnit: 'bytes',
        note: `after a GC; heap ${fmtMb(before.heapUsed)} → ${fmtMb(after.heapUsed)}`,
      },
      {
        bench,
        case: 'gateway RSS per idle subscriber',
        value: rssPer,
        unit: 'bytes',
        refLabel: 'RSS with no feed ÷ 1,000',
        refValue: before.rss / SUBSCRIBERS_TOTAL,
        refUnit: 'bytes',
        note: `RSS ${fmtMb(before.rss)} → ${fmtMb(after.rss)}`,
      },
      {
        bench,
        case: `gateway event loop busy, ${case1k} idle`,
        value: idleAfter * 1000,
        unit: '‰',
        refLabel: 'same, no feed',
        refValue: idleBefore * 1000,
        refUnit: '‰',
        note: `over ${fmtMs(IDLE_MS)} each: ${pct(idleAfter)} vs ${pct(idleBefore)}`,
      },
    ];
  } finally {
    await subscribers?.close();
    await gateway.close();
  }
}

function latencyFigure(bench: string, label: string, valueMs: number, referenceMs: number, note: string): Figure {
  return {
    bench,
    case: label,
    value: toMicros(valueMs),
    unit: 'µs',
    refLabel: `1 subscriber, same, ${label.includes('p99') ? 'p99' : 'p50'}`,
    refValue: toMicros(referenceMs),
    refUnit: 'µs',
    note: note ? `lower is better; ${note}` : 'lower is better',
  };
}

const fmtMb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const fmtKb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const pct = (utilization: number) => `${(utilization * 100).toFixed(1)}%`;

// ---------------------------------------------------------------- feeds-replay

/** The operator's metadata (as the CLI writes it): the audit projection reads the actor from it. */
function operatorMetadata(): NewEvent['metadata'] {
  return { actorPrincipalId: null, actorApiKeyId: null, actorAppKeyId: null, via: 'cli', requestId: randomUUID(), at: new Date().toISOString() };
}

/**
 * Renames of the organization's API key appended to its stream in batches, round by round, each
 * round waited on until the projections and the CredentialIndex hold it; stops at `REPLAY_MAX` or
 * at the first round that would go past the budget. The events' count and the last position.
 */
async function seedRenames(gateway: BenchGateway): Promise<{ count: number; last: Position; ms: number; rounds: number[] }> {
  const { app, org } = gateway;
  const orgId = org.organization.id;
  const keyId = org.apiKey.credential.id;
  const stream = `org-${orgId}`;
  let previousName = org.apiKey.credential.name;
  let count = 0;
  let last = await app.store.headPosition();
  const t0 = performance.now();
  let roundMs = 0;
  const rounds: number[] = [];
  while (count < REPLAY_MAX && performance.now() - t0 + roundMs <= SEED_BUDGET_MS) {
    const roundStart = performance.now();
    for (let i = 0; i < SEED_ROUND; i += APPEND_BATCH) {
      const batch: NewEvent[] = [];
      for (let j = 0; j < APPEND_BATCH; j++) {
        const name = `replayed name ${count++}`;
        batch.push({ id: randomUUID(), type: 'ApiKeyRenamed', data: { orgId, keyId, name, previousName }, metadata: operatorMetadata() });
        previousName = name;
      }
      last = (await app.store.append(stream, batch)).position;
    }
    await app.runner.waitFor(last, { timeoutMs: 120_000 });
    await app.index.waitFor(last, 120_000);
    roundMs = performance.now() - roundStart;
    rounds.push(roundMs);
  }
  return { count, last, ms: performance.now() - t0, rounds };
}

async function replay(): Promise<Row[]> {
  const bench = 'feeds-replay';
  const gateway = await startBenchGateway('feeds-replay');
  let subscribers: Subscribers | undefined;
  try {
    const { app, org } = gateway;
    const from = await app.store.headPosition();
    const seeded = await seedRenames(gateway);
    const n = seeded.count;
    log(
      `seeded ${n.toLocaleString('en-US')} ApiKeyRenamed events (appended in batches of ${APPEND_BATCH}, projected) in ${fmtMs(seeded.ms)} = ${fmtRate(perSecond(n, seeded.ms))} events/s` +
        (n < REPLAY_MAX ? ` (the ${fmtMs(SEED_BUDGET_MS)} seeding budget stopped it short of ${REPLAY_MAX.toLocaleString('en-US')})` : '') +
        `; rounds of ${SEED_ROUND.toLocaleString('en-US')}: ${seeded.rounds.map((ms) => fmtMs(ms)).join(', ')}`,
    );
    const after = encodeCursor(from);

    // The reference: the store's own reading of the same events.
    let read = 0;
    let lastRead: Position | null = null;
    const t0 = performance.now();
    for await (const page of app.store.readAll({ after: from, limit: n })) {
      read += page.length;
      lastRead = page[page.length - 1]!.position;
    }
    const readMs = performance.now() - t0;
    if (read !== n || lastRead !== seeded.last) throw new Error(`readAll read ${read} events up to ${lastRead}, not ${n} up to ${seeded.last}`);
    log(`store.readAll: ${n} events in ${fmtMs(readMs)} = ${fmtRate(perSecond(n, readMs))} events/s`);

    // The Feed read in-process: Feeds' batches, read-model reads and checks, with no GraphQL and no transport.
    const presented: PresentedCredentials = { apiKey: org.apiKey.secret, applicationKey: org.applicationKey.secret, foreignOrigin: null };
    const authenticated = authenticateApi(presented, app.index, new Date()).auth;
    if (!authenticated.ok) throw new Error(`the admin does not authenticate: ${authenticated.fault.code}`);
    const authorize = () => {
      const auth = authenticateApi(presented, app.index, new Date()).auth;
      return auth.ok ? auth.actor : new DomainError('UNAUTHENTICATED', auth.fault.reason);
    };
    let fed = 0;
    let lastFed: Position | null = null;
    const t1 = performance.now();
    const feed = await app.feeds.credentialEvents({ actor: authenticated.actor, after, authorize });
    for await (const item of feed) {
      lastFed = item.position;
      if (++fed === n) break;
    }
    const feedMs = performance.now() - t1;
    if (lastFed !== seeded.last) throw new Error(`the in-process feed ended at ${lastFed} after ${fed} items, not at ${seeded.last}`);
    log(`Feed in-process: ${n} items in ${fmtMs(feedMs)} = ${fmtRate(perSecond(n, feedMs))} events/s`);

    // The subscription over SSE, from the child process.
    subscribers = await Subscribers.start();
    const elu = performance.eventLoopUtilization();
    const rss0 = process.memoryUsage().rss;
    let peakRss = rss0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 250);
    let sse: ReplayResult;
    try {
      sse = await subscribers.call<ReplayResult>('replay', {
        url: `${gateway.url}/graphql`,
        headers: { 'x-api-key': org.apiKey.secret, 'x-application-key': org.applicationKey.secret },
        query: REPLAY_FEED,
        after,
        expect: n,
        timeoutMs: REPLAY_TIMEOUT_MS,
      });
    } finally {
      clearInterval(sampler);
    }
    const gatewayBusy = performance.eventLoopUtilization(elu).utilization;
    if (sse.error !== null || sse.count !== n) throw new Error(`the SSE replay failed after ${sse.count} payloads: ${sse.error}`);
    if (sse.lastCursor !== encodeCursor(seeded.last)) throw new Error(`the SSE replay's last cursor is ${sse.lastCursor}, not that of the last seeded event`);
    const sseRate = perSecond(n, sse.ms);
    log(
      `credentialEvents over SSE: ${n} payloads in ${fmtMs(sse.ms)} (first after ${ms2(sse.firstMs)}) = ${fmtRate(sseRate)} events/s; ` +
        `event loops busy: gateway ${pct(gatewayBusy)}, subscriber ${pct(sse.elu)}; gateway RSS ${fmtMb(rss0)} → peak ${fmtMb(peakRss)}`,
    );
    const size = `${n.toLocaleString('en-US')} events`;
    const sizeNote = n < REPLAY_MAX ? `${size} (seeding budget; ${REPLAY_MAX.toLocaleString('en-US')} asked)` : size;
    const readAllRate = perSecond(n, readMs);
    return [
      {
        bench,
        case: `credentialEvents(after) replay over SSE, ${size}`,
        value: sseRate,
        unit: 'events/s',
        refLabel: 'store.readAll, same events',
        refValue: readAllRate,
        refUnit: 'events/s',
        note: `${sizeNote}; ${fmtMs(sse.ms)} vs ${fmtMs(readMs)}; gateway loop ${pct(gatewayBusy)} busy`,
      },
      {
        bench,
        case: `Feed iterator in-process (no GraphQL, no SSE), ${size}`,
        value: perSecond(n, feedMs),
        unit: 'events/s',
        refLabel: 'store.readAll, same events',
        refValue: readAllRate,
        refUnit: 'events/s',
        note: `${fmtMs(feedMs)}; where the SSE replay's time goes`,
      },
    ];
  } finally {
    await subscribers?.close();
    await gateway.close();
  }
}

export const feedsBenchmarks: Benchmark[] = [
  {
    name: 'feeds-fanout',
    title: `credentialEvents fan-out: ${SUBSCRIBERS_TOTAL.toLocaleString('en-US')} SSE subscribers (graphql-sse, distinct connections, a child process) on one gateway (SQLite, in-process), ${MUTATIONS} renameApiKey one at a time`,
    run: fanOut,
  },
  {
    name: 'feeds-replay',
    title: `credentialEvents(after) replay over SSE of up to ${REPLAY_MAX.toLocaleString('en-US')} events, beside store.readAll (SQLite, in-process)`,
    run: replay,
  },
];
