// A million keys: a SQLite store seeded with 1M credentials in 10k orgs, and one more org whose
// service account owns 100k application keys (the realistic shape of a big org: its org stream
// holds API keys, limited to 50 active by R2, and client tokens; a fleet of machines each given
// an application key of one service account is where keys run to the hundred thousand). The
// events are appended directly, shaped exactly as the deciders make them; the read models are
// built as `keyledger projections rebuild` builds them. Then, each beside its reference:
//   (a) the CredentialIndex's memory per credential (a child process, `--expose-gc`: heap and
//       array buffers after a full GC, before and after `load`), beside the target of 300 bytes;
//   (b) start-up to ready (buildApp, start, GET /ready until 200) on that store, beside an empty one;
//   (c) the dashboard page's p99 in a 10-key org and in the 100k-key org, beside `{ __typename }`;
//   (d) one mutation (createApplicationKey) for the 100k-key service account, beside the same in
//       the 10-key org: no work proportional to the org's keys, so a ratio near 1.
// KEYLEDGER_BENCH_SCALE_ORGS (default 10000: the full million) and KEYLEDGER_BENCH_SCALE_BIG (default
// 100000) size it; the size used is printed. The store is made by scale-seed.ts. Nothing here asserts on time.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CredentialIndex } from '../projections/credentials/credential-index.js';
import { openReadStore } from '../projections/core/read-store.js';
import type { CheckpointTables } from '../projections/core/projection.js';
import type { CredentialsTables } from '../projections/credentials/tables.js';
import type { PrincipalsTables } from '../projections/principals/tables.js';
import { buildApp, type App } from '../src/gateway/app.js';
import { globalId } from '../src/graphql/core/ids.js';
import { loadConfig } from '../src/platform/config.js';
import { silentLogger } from '../src/platform/logger.js';
import { type Benchmark, type Figure, type Row, fmtMs, HttpLoad, log, postGraphQL, summarize, tempDir, timed, toMicros } from './lib.js';
import { BIG_KEYS, buildReadModels, CREDENTIALS_PER_ORG, ORGS, seed, type SpeakingOrg } from './scale-seed.js';

const INDEX_TARGET_BYTES = 300;
const CONCURRENCY = 4;
const PAGE_MS = 4_000;
const MUTATIONS = 300;

/** The dashboard's query, as bench/api.ts has it: API keys and application keys, with their creators and owners. */
function dashboardQuery(first: number): string {
  return (
    `query { apiKeys(first: ${first}) { totalCount edges { node { id name last4 status createdBy { id name role } } } } ` +
    `applicationKeys(first: ${first}) { totalCount edges { node { id name scopes owner { id name role } createdBy { id name } } } } }`
  );
}
const CREATE_APP_KEY = 'mutation($name: String!, $ownerId: ID) { createApplicationKey(name: $name, ownerId: $ownerId) { secret applicationKey { id } } }';

// ---------------------------------------------------------------- the gateway

function configFor(path: string) {
  return loadConfig({ KEYLEDGER_EVENT_STORE: `sqlite:${path}`, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false' });
}

/** buildApp, start, then GET /ready until it answers 200: the time from nothing to serving. */
async function startUntilReady(path: string, timeoutMs: number): Promise<{ app: App; url: string; ms: number }> {
  const t0 = performance.now();
  const app = await buildApp(configFor(path), { logger: silentLogger() });
  try {
    const { url } = await app.start();
    for (;;) {
      const response = await fetch(`${url}/ready`);
      await response.arrayBuffer();
      if (response.status === 200) break;
      if (performance.now() - t0 > timeoutMs) throw new Error(`not ready within ${fmtMs(timeoutMs)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { app, url, ms: performance.now() - t0 };
  } catch (error) {
    await app.stop();
    throw error;
  }
}

/** The better of `rounds` start-ups (each stopped but the last, which is returned when `keep`). */
async function bestStart(path: string, rounds: number): Promise<{ ms: number; all: number[] }> {
  const all: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = await startUntilReady(path, 600_000);
    all.push(started.ms);
    await started.app.stop();
  }
  return { ms: Math.min(...all), all };
}

// ---------------------------------------------------------------- (a) the index's memory, in a child process

interface IndexMeasure {
  readonly credentials: number;
  readonly bytes: number;
  readonly heapBytes: number;
  readonly loadMs: number;
}

const CHILD_ENV = 'KEYLEDGER_BENCH_SCALE_INDEX_OF';

function gcFully(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) gc();
}

/** In the child: heap and array buffers after a full GC, before and after loading the index from the read store. */
async function measureIndexHere(path: string): Promise<IndexMeasure> {
  const readStore = await openReadStore<CheckpointTables & CredentialsTables & PrincipalsTables>({ kind: 'sqlite', path });
  try {
    gcFully();
    const before = process.memoryUsage();
    const index = new CredentialIndex();
    const loaded = await timed(() => index.load(readStore.db));
    gcFully();
    const after = process.memoryUsage();
    const credentials = index.size;
    const heapBytes = after.heapUsed - before.heapUsed;
    return { credentials, heapBytes, bytes: heapBytes + (after.arrayBuffers - before.arrayBuffers), loadMs: loaded.ms };
  } finally {
    await readStore.close();
  }
}

function measureIndex(path: string): Promise<IndexMeasure> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: path },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`the index child exited with ${code}: ${out.slice(0, 500)}`));
      else resolve(JSON.parse(line) as IndexMeasure);
    });
  });
}

if (process.env[CHILD_ENV] !== undefined) {
  console.log(JSON.stringify(await measureIndexHere(process.env[CHILD_ENV])));
}

// ---------------------------------------------------------------- the benchmark

async function scale(): Promise<Row[]> {
  const tmp = tempDir('scale');
  const empty = tempDir('scale-empty');
  const rows: Figure[] = [];
  try {
    const path = tmp.file('keyledger.db');
    const seeded = await seed(path);
    const size = `${seeded.credentials.toLocaleString('en-US')} credentials, ${ORGS.toLocaleString('en-US')} orgs + a ${seeded.big.keys.toLocaleString('en-US')}-key org`;
    log(`size used: ${size}, ${seeded.events.toLocaleString('en-US')} events`);

    // The read models, built as `keyledger projections rebuild` builds them (faster than a first start's catch-up).
    await buildReadModels(path);

    // (a)
    const index = await measureIndex(path);
    log(
      `CredentialIndex: ${index.credentials} credentials, ${(index.bytes / 2 ** 20).toFixed(1)} MiB (heap ${(index.heapBytes / 2 ** 20).toFixed(1)} MiB), ` +
        `${(index.bytes / index.credentials).toFixed(1)} bytes/credential, loaded in ${fmtMs(index.loadMs)}`,
    );
    rows.push({
      bench: 'scale-index',
      case: 'CredentialIndex memory',
      value: index.bytes / index.credentials,
      unit: 'bytes/credential',
      refLabel: 'target',
      refValue: INDEX_TARGET_BYTES,
      refUnit: 'bytes/credential',
      note: `${index.credentials} credentials; heap + array buffers after GC; load ${fmtMs(index.loadMs)}`,
    });

    // (b)
    const emptyStart = await bestStart(empty.file('keyledger.db'), 3);
    const seededStart = await bestStart(path, 2);
    log(`start-up to ready: seeded ${seededStart.all.map(fmtMs).join(', ')}; empty ${emptyStart.all.map(fmtMs).join(', ')}`);
    rows.push({
      bench: 'scale-start',
      case: 'start-up to ready, seeded store',
      value: seededStart.ms,
      unit: 'ms',
      refLabel: 'empty store',
      refValue: emptyStart.ms,
      refUnit: 'ms',
      note: `best of ${seededStart.all.length}; ${size}; target < 5 s`,
    });

    // (c) and (d), on one more gateway on the seeded store.
    const gateway = await startUntilReady(path, 600_000);
    try {
      const graphqlUrl = `${gateway.url}/graphql`;
      const { small, big } = seeded;
      const reads = await HttpLoad.open({ url: graphqlUrl, headers: small.headers, concurrency: CONCURRENCY });
      const writes = await HttpLoad.open({ url: graphqlUrl, headers: small.headers, concurrency: 1 });
      try {
        const typename = (headers: Readonly<Record<string, string>>) => ({ query: '{ __typename }', headers, total: Number.MAX_SAFE_INTEGER, maxMs: PAGE_MS });
        const page = (headers: Readonly<Record<string, string>>) => ({ query: dashboardQuery(50), headers, total: Number.MAX_SAFE_INTEGER, maxMs: PAGE_MS });
        for (const org of [small, big]) {
          const answer = await postGraphQL<{ apiKeys: { totalCount: number }; applicationKeys: { totalCount: number } }>(graphqlUrl, org.headers, dashboardQuery(50));
          log(`dashboard of the ${org.keys}-key org: ${answer.apiKeys.totalCount} API keys, ${answer.applicationKeys.totalCount} application keys`);
          await reads.run({ ...page(org.headers), maxMs: 1_000 });
        }
        await reads.run({ ...typename(small.headers), maxMs: 1_000 });
        const reference = summarize([await reads.run(typename(small.headers))]);
        const smallPage = summarize([await reads.run(page(small.headers))]);
        const bigPage = summarize([await reads.run(page(big.headers))]);
        log(`{ __typename }: p50 ${reference.p50Ms.toFixed(2)} ms, p99 ${reference.p99Ms.toFixed(2)} ms (${reference.done} requests)`);
        log(`dashboard, ${small.keys}-key org: p50 ${smallPage.p50Ms.toFixed(2)} ms, p99 ${smallPage.p99Ms.toFixed(2)} ms (${smallPage.done} requests)`);
        log(`dashboard, ${big.keys}-key org: p50 ${bigPage.p50Ms.toFixed(2)} ms, p99 ${bigPage.p99Ms.toFixed(2)} ms (${bigPage.done} requests)`);
        const pageNote = `first: 50, ${CONCURRENCY} concurrent, ${PAGE_MS / 1000} s each`;
        rows.push(
          {
            bench: 'scale-dashboard',
            case: `dashboard p99, ${small.keys}-key org`,
            value: toMicros(smallPage.p99Ms),
            unit: 'µs',
            refLabel: '{ __typename } p99',
            refValue: toMicros(reference.p99Ms),
            refUnit: 'µs',
            note: pageNote,
          },
          {
            bench: 'scale-dashboard',
            case: `dashboard p99, ${big.keys}-key org`,
            value: toMicros(bigPage.p99Ms),
            unit: 'µs',
            refLabel: '{ __typename } p99',
            refValue: toMicros(reference.p99Ms),
            refUnit: 'µs',
            note: pageNote,
          },
          {
            bench: 'scale-dashboard',
            case: `dashboard p99, ${big.keys}-key org`,
            value: toMicros(bigPage.p99Ms),
            unit: 'µs',
            refLabel: `${small.keys}-key org p99`,
            refValue: toMicros(smallPage.p99Ms),
            refUnit: 'µs',
            note: 'target ~1',
          },
        );

        // (d) The first command on a stream folds it (once: the handler caches the fold); then each one only appends.
        const mutation = (org: SpeakingOrg, total: number, prefix: string) => ({
          query: CREATE_APP_KEY,
          variables: { ownerId: globalId('ServiceAccount', org.serviceAccountId) },
          unique: { variable: 'name', prefix },
          headers: org.headers,
          total,
          maxMs: 120_000,
        });
        for (const org of [small, big]) {
          const first = await writes.run(mutation(org, 1, `first ${org.keys} `));
          log(`first createApplicationKey in the ${org.keys}-key org (folds its service account's stream): ${first.latencies[0]!.toFixed(1)} ms`);
          await writes.run(mutation(org, 50, `warm ${org.keys} `));
        }
        // Alternating rounds, so that both see the same machine.
        const smallRuns = [];
        const bigRuns = [];
        for (let round = 0; round < 3; round++) {
          smallRuns.push(await writes.run(mutation(small, MUTATIONS / 3, `small ${round} `)));
          bigRuns.push(await writes.run(mutation(big, MUTATIONS / 3, `big ${round} `)));
        }
        const smallWrite = summarize(smallRuns);
        const bigWrite = summarize(bigRuns);
        log(`createApplicationKey, ${small.keys}-key org: p50 ${smallWrite.p50Ms.toFixed(2)} ms, p99 ${smallWrite.p99Ms.toFixed(2)} ms (${smallWrite.done})`);
        log(`createApplicationKey, ${big.keys}-key org: p50 ${bigWrite.p50Ms.toFixed(2)} ms, p99 ${bigWrite.p99Ms.toFixed(2)} ms (${bigWrite.done})`);
        const writeNote = `createApplicationKey for the org's service account, one at a time, ${smallWrite.done} each; target ~1`;
        rows.push(
          {
            bench: 'scale-mutation',
            case: `mutation p50, ${big.keys}-key org`,
            value: toMicros(bigWrite.p50Ms),
            unit: 'µs',
            refLabel: `${small.keys}-key org p50`,
            refValue: toMicros(smallWrite.p50Ms),
            refUnit: 'µs',
            note: writeNote,
          },
          {
            bench: 'scale-mutation',
            case: `mutation p99, ${big.keys}-key org`,
            value: toMicros(bigWrite.p99Ms),
            unit: 'µs',
            refLabel: `${small.keys}-key org p99`,
            refValue: toMicros(smallWrite.p99Ms),
            refUnit: 'µs',
            note: writeNote,
          },
        );
      } finally {
        await writes.close();
        await reads.close();
      }
    } finally {
      await gateway.app.stop();
    }
    return rows;
  } finally {
    empty.remove();
    tmp.remove();
  }
}

export const scaleBenchmarks: Benchmark[] = [
  {
    name: 'scale-million',
    title: `A million keys: ${(ORGS * CREDENTIALS_PER_ORG).toLocaleString('en-US')} credentials in ${ORGS.toLocaleString('en-US')} orgs, and an org whose service account owns ${BIG_KEYS.toLocaleString('en-US')} application keys (SQLite)`,
    run: scale,
  },
];
