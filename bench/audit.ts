// The audit log at ten million entries, on the embedded store (one SQLite file):
// (1) seeding: an org with 20 API keys and 20 application keys made through GraphQL, then
//     10,000,000 request entries written straight into `audit_log` with their hash chain
//     (projections/audit/chain.ts) and their counts (`audit_counts`), and `verifyAuditChain`
//     over the whole chain, timed;
// (2) `auditLog(first: 50, filter: { credentialId })` over HTTP, the gateway in-process, pages 1,
//     100 and 1000 of one API key's 500,000 entries (cursors collected by walking the list),
//     p50/p99 at 1 and 8 concurrent loops; reference: the resolver's statement (the keyset page,
//     its totalCount read from audit_counts) as a raw better-sqlite3 call on the same file, and
//     beside it what counting the key's entries would cost;
// (3) `exportAudit` of the whole org to a sink that only counts bytes, CSV and NDJSON, each in a
//     child process (bench/audit-export-child.ts) that reports its time and peak RSS; references:
//     the same child exporting an org with no entries (memory), and a raw `select *` iterated with
//     better-sqlite3, writing nothing (time).
// Nothing here asserts on time.
//
// KEYLEDGER_BENCH_AUDIT_ENTRIES makes a smaller log for a quick try. KEYLEDGER_BENCH_AUDIT_FILE
// keeps the seeded file at that path (and what the run needs to know of it beside it, in
// <file>.json), and a later run with the same path measures it again without seeding.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { v7 as uuidv7 } from 'uuid';
import { GENESIS_HASH, SQLITE_HASHED_TEXT, entryHash } from '../projections/audit/chain.js';
import { AUDIT_LOG_COLUMNS } from '../projections/audit/projection.js';
import type { ReadModels } from '../projections/read-models.js';
import { openReadStore } from '../projections/core/read-store.js';
import { verifyAuditChain } from '../projections/audit/integrity.js';
import { loadConfig } from '../src/platform/config.js';
import { buildApp, type App } from '../src/gateway/app.js';
import { silentLogger } from '../src/platform/logger.js';
import { openSqliteFile, type SqliteDatabase } from '../src/sqlite/database.js';
import type { ChildReport } from './audit-export-child.js';
import {
  type Benchmark,
  type Figure,
  type LoadRun,
  type LoadSpec,
  type LoadSummary,
  type Row,
  type Timed,
  fmtMs,
  fmtRate,
  HttpLoad,
  log,
  perSecond,
  postGraphQL,
  quantile,
  summarize,
  tempDir,
  timed,
  toMicros,
} from './lib.js';

const BENCH = 'audit';

/** KEYLEDGER_BENCH_AUDIT_ENTRIES makes a smaller log for a quick try; the figures are for the default. */
const ENTRIES = Number(process.env.KEYLEDGER_BENCH_AUDIT_ENTRIES ?? 10_000_000);
/** A file to seed into and keep, or to measure again (see the header). */
const KEEP_FILE = process.env.KEYLEDGER_BENCH_AUDIT_FILE;
const SIZES = {
  entries: ENTRIES,
  apiKeys: 20,
  serviceAccounts: 4,
  appKeysPerAccount: 5,
  /** Entries per seeding transaction. */
  perTransaction: 100_000,
  pageSize: 50,
  /** Pages measured (1-based); those past the credential's last page are left out. */
  pages: [1, 100, 1000],
  /** Requests per measured run, after `warmUp` of the same. */
  requests: 300,
  warmUp: 30,
  concurrency: [1, 8],
} as const;

/** Requests, one at a time, whose read-store statements are counted. */
const STATEMENT_PROBES = 10;

/** The API key whose entries the pages list (not the admin's: the admin's own requests add entries to the admin's keys). */
const FILTERED_KEY = 3;

const fmtMsFine = (ms: number): string => `${ms.toFixed(2)} ms`;
/** The machine's load average (1, 5, 15 minutes): other work on the same cores moves every figure. */
const fmtLoad = (): string =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
const mb = (bytes: number): number => bytes / (1024 * 1024);
const fmtMb = (bytes: number): string => `${mb(bytes).toFixed(1)} MB`;

// ---------------------------------------------------------------- the selection of schema/operations/audit.graphql

/** `query AuditLog` of schema/operations/audit.graphql, with its fragment: what a client sends. */
const AUDIT_LOG_QUERY = `
query AuditLog($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...AuditEntryFields } }
  }
}
fragment AuditEntryFields on AuditEntry {
  seq orgSeq at kind eventType requestId apiKeyId applicationKeyId clientTokenId
  principal { id name }
  operationType operationName rootFields outcome errorCode clientIp userAgent subjectId details prevHash hash
}`;

/** Walks the list (largest pages) to collect cursors and check the order; not measured. */
const WALK_QUERY = `query($filter: AuditLogFilter, $after: String) {
  auditLog(filter: $filter, first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { seq } } }
}`;

interface AuditPage {
  auditLog: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: { cursor: string; node: { seq: number; apiKeyId: string | null } }[];
  };
}

// ---------------------------------------------------------------- seeding through the API

interface Credential {
  /** The global id (what the API takes). */
  readonly globalId: string;
  /** The UUID (what audit_log holds). */
  readonly id: string;
}

interface AppKey extends Credential {
  readonly ownerId: string;
}

interface Seeded {
  readonly orgId: string;
  readonly adminId: string;
  readonly admin: Readonly<Record<string, string>>;
  readonly apiKeys: readonly Credential[];
  readonly appKeys: readonly AppKey[];
  /** The event store's head when the gateway stopped: the synthetic entries follow it. */
  readonly position: string;
}

const rawId = (globalId: string): string => decodeGlobalID(globalId).id;

function gatewayConfig(path: string) {
  return loadConfig({ KEYLEDGER_EVENT_STORE: `sqlite:${path}`, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false' });
}

/** An org with its credentials, made through the gateway (so that they are real), then the gateway stopped. */
async function seedOrg(path: string): Promise<Seeded> {
  const app = await buildApp(gatewayConfig(path), { logger: silentLogger() });
  try {
    const { url } = await app.start();
    const graphqlUrl = `${url}/graphql`;
    const created = await app.keyledger.initOrg({ name: 'Audit bench org', adminEmail: 'admin@example.test', adminName: 'Ada Admin' });
    const admin = { 'x-api-key': created.apiKey.secret, 'x-application-key': created.applicationKey.secret };
    const call = <T>(query: string, variables: Record<string, unknown>) => postGraphQL<T>(graphqlUrl, admin, query, variables);

    const apiKeys: Credential[] = [];
    for (let k = 0; k < SIZES.apiKeys; k++) {
      const { createApiKey } = await call<{ createApiKey: { apiKey: { id: string } } }>('mutation($name: String!) { createApiKey(name: $name) { apiKey { id } } }', {
        name: `Service key ${k + 1}`,
      });
      apiKeys.push({ globalId: createApiKey.apiKey.id, id: rawId(createApiKey.apiKey.id) });
    }
    const appKeys: AppKey[] = [];
    for (let s = 0; s < SIZES.serviceAccounts; s++) {
      const { createServiceAccount } = await call<{ createServiceAccount: { principal: { id: string } } }>(
        'mutation($name: String!, $role: Role!) { createServiceAccount(name: $name, role: $role) { principal { id } } }',
        { name: `Integration ${s + 1}`, role: 'STANDARD' },
      );
      const ownerGlobalId = createServiceAccount.principal.id;
      for (let k = 0; k < SIZES.appKeysPerAccount; k++) {
        const { createApplicationKey } = await call<{ createApplicationKey: { applicationKey: { id: string } } }>(
          'mutation($name: String!, $ownerId: ID) { createApplicationKey(name: $name, ownerId: $ownerId) { applicationKey { id } } }',
          { name: `Integration ${s + 1} key ${k + 1}`, ownerId: ownerGlobalId },
        );
        appKeys.push({ globalId: createApplicationKey.applicationKey.id, id: rawId(createApplicationKey.applicationKey.id), ownerId: rawId(ownerGlobalId) });
      }
    }
    // Every event so far (lifecycle and request events) in the audit log before it stops.
    const position = await app.store.headPosition();
    await app.runner.waitFor(position, { timeoutMs: 30_000 });
    return { orgId: created.organization.id, adminId: created.admin.id, admin, apiKeys, appKeys, position };
  } finally {
    await app.stop();
  }
}

// ---------------------------------------------------------------- seeding straight into audit_log

/** A small deterministic PRNG (mulberry32), so that every run seeds the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Operation {
  readonly type: string;
  readonly name: string | null;
  readonly rootFields: string;
  /** A GraphQL request presents an application key too; a plain route only the API key. */
  readonly withAppKey: boolean;
  readonly weight: number;
}

const OPERATIONS: readonly Operation[] = [
  { type: 'http', name: 'GET /api/v1/validate', rootFields: '[]', withAppKey: false, weight: 0.3 },
  { type: 'query', name: 'Dashboard', rootFields: '["apiKeys","applicationKeys"]', withAppKey: true, weight: 0.3 },
  { type: 'query', name: 'AuditLog', rootFields: '["auditLog"]', withAppKey: true, weight: 0.15 },
  { type: 'query', name: null, rootFields: '["organization"]', withAppKey: true, weight: 0.15 },
  { type: 'mutation', name: 'CreateApplicationKey', rootFields: '["createApplicationKey"]', withAppKey: true, weight: 0.1 },
];

const USER_AGENTS = [
  'curl/8.5.0',
  'keyledger-sdk-node/1.4.2 (node v20.11.1)',
  'python-requests/2.31.0',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
];

type EntryRow = Record<(typeof AUDIT_LOG_COLUMNS)[number], string | number | null>;

interface SeedResult {
  readonly entries: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstOrgSeq: number;
  readonly ms: number;
  /** The main thread's share of `ms`: building and hashing the entries. */
  readonly buildMs: number;
  /** The worker's: inserting (the secondary indexes dropped), then making the indexes again. */
  readonly insertMs: number;
  readonly indexMs: number;
  /** Entries of each API key (by index), for the expected page contents. */
  readonly perApiKey: readonly number[];
}

/** Entries per message to the seeding worker, and messages in flight at most. */
const SEED_CHUNK = 5_000;
const SEED_IN_FLIGHT = 4;

/**
 * `entries` request entries for the org, appended after the log's last entry exactly as the
 * projection would: seq and org_seq follow on, each entry links to the previous one with
 * `entryHash`, and the chain head moves to the last. Every API key gets the same share (entry i
 * presents API key i mod 20); GraphQL requests present an application key too. Times run from
 * just after the org's last entry up to the moment seeding starts, so they grow with seq and
 * precede the entries the gateway writes next. This thread builds and hashes; a worker
 * (audit-seed-worker.mjs) inserts, `perTransaction` entries per transaction.
 */
async function seedEntries(path: string, seeded: Seeded, entries: number): Promise<SeedResult> {
  const db = openSqliteFile(path);
  let head: { last_org_seq: number; last_hash: string } | undefined;
  let top: { seq: number | null };
  let lastAt: { at: string | null };
  try {
    head = db.prepare('select last_org_seq, last_hash from audit_chain_heads where org_id = ?').get(seeded.orgId) as typeof head;
    top = db.prepare('select max(seq) as seq from audit_log').get() as typeof top;
    lastAt = db.prepare('select max(at) as at from audit_log where org_id = ?').get(seeded.orgId) as typeof lastAt;
  } finally {
    db.close();
  }
  let seq = top.seq ?? 0;
  let orgSeq = head?.last_org_seq ?? 0;
  let prevHash = head?.last_hash ?? GENESIS_HASH;
  const firstSeq = seq + 1;
  const firstOrgSeq = orgSeq + 1;
  const fromMs = Date.parse(lastAt.at ?? new Date().toISOString()) + 1;
  const spanMs = Math.max(1, Date.now() - fromMs);

  const random = prng(20240611);
  const cumulative = OPERATIONS.map((_, i) => OPERATIONS.slice(0, i + 1).reduce((n, o) => n + o.weight, 0));
  const perApiKey = Array.from({ length: seeded.apiKeys.length }, () => 0);
  /** What the entries add to audit_counts (as the projection would count them): by application key and by principal. */
  const perAppKey = new Map<string, number>();
  const perPrincipal = new Map<string, number>();

  /** Entry i as the values of AUDIT_LOG_COLUMNS, in order. */
  const entry = (i: number): (string | number | null)[] => {
    const r = random();
    const op = OPERATIONS[cumulative.findIndex((c) => r < c)] ?? OPERATIONS[0]!;
    const k = i % seeded.apiKeys.length;
    perApiKey[k]!++;
    const appKey = op.withAppKey ? seeded.appKeys[Math.floor(random() * seeded.appKeys.length)]! : null;
    if (appKey) {
      perAppKey.set(appKey.id, (perAppKey.get(appKey.id) ?? 0) + 1);
      perPrincipal.set(appKey.ownerId, (perPrincipal.get(appKey.ownerId) ?? 0) + 1);
    }
    const o = random();
    const outcome = o < 0.97 ? 'ALLOWED' : o < 0.99 ? 'DENIED' : 'FAILED';
    const net = Math.floor(random() * 4096);
    const row: EntryRow = {
      seq: ++seq,
      org_id: seeded.orgId,
      org_seq: ++orgSeq,
      // Time-ordered (UUIDv7): the unique index on event_id takes them at its end, as it takes
      // the gateway's in a log that grows over time; random ones would cost the seeding a
      // scattered B-tree insert each (the page, verification and export never read that index).
      event_id: uuidv7(),
      position: seeded.position,
      at: new Date(fromMs + Math.floor((i * spanMs) / entries)).toISOString(),
      kind: 'REQUEST',
      event_type: outcome === 'DENIED' ? 'RequestDenied' : 'RequestAuthenticated',
      request_id: randomUUID(),
      api_key_id: seeded.apiKeys[k]!.id,
      application_key_id: appKey?.id ?? null,
      client_token_id: null,
      principal_id: appKey?.ownerId ?? null,
      operation_type: op.type,
      operation_name: op.name,
      root_fields: op.rootFields,
      outcome,
      error_code: outcome === 'DENIED' ? 'FORBIDDEN' : outcome === 'FAILED' ? 'BAD_USER_INPUT' : null,
      client_ip: `10.0.${net >> 8}.${(net & 255) + 1}`,
      user_agent: USER_AGENTS[net % USER_AGENTS.length]!,
      subject_id: null,
      details: null,
      prev_hash: prevHash,
      hash: '',
    };
    row.hash = entryHash(prevHash, row);
    prevHash = row.hash;
    return AUDIT_LOG_COLUMNS.map((column) => row[column]);
  };

  const t0 = performance.now();
  let buildMs = 0;
  let insertMs = 0;
  let indexMs = 0;
  const worker = new Worker(new URL('./audit-seed-worker.mjs', import.meta.url), {
    workerData: { path, columns: AUDIT_LOG_COLUMNS, perTransaction: SIZES.perTransaction },
    execArgv: [],
  });
  try {
    let inFlight = 0;
    let wake: (() => void) | null = null;
    // Set by the worker's callbacks: declared wide, or control-flow analysis takes it for always null.
    let failure = null as Error | null;
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const fail = (error: Error) => {
      failure ??= error;
      wake?.();
      finished();
    };
    worker.on('message', (message: { inserted?: number; done?: true; insertMs?: number; indexMs?: number; failure?: string }) => {
      if (message.failure !== undefined) fail(new Error(`the seeding worker failed: ${message.failure}`));
      else if (message.done) {
        insertMs = message.insertMs ?? 0;
        indexMs = message.indexMs ?? 0;
        finished();
      } else {
        inFlight--;
        wake?.();
      }
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the seeding worker exited (code ${code})`)));
    for (let from = 0; from < entries && failure === null; from += SEED_CHUNK) {
      const b0 = performance.now();
      const rows: (string | number | null)[][] = [];
      for (let i = from; i < Math.min(entries, from + SEED_CHUNK); i++) rows.push(entry(i));
      buildMs += performance.now() - b0;
      while (inFlight >= SEED_IN_FLIGHT && failure === null) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      // As one JSON text: structured cloning 5,000 arrays of 24 values cost this thread more than building them.
      worker.postMessage({ rows: JSON.stringify(rows) });
      inFlight++;
    }
    const counts: [string, string, number][] = [
      ['ORG', '', entries],
      ...seeded.apiKeys.map((key, k): [string, string, number] => ['API_KEY', key.id, perApiKey[k]!]),
      ...[...perAppKey].map(([id, n]): [string, string, number] => ['APPLICATION_KEY', id, n]),
      ...[...perPrincipal].map(([id, n]): [string, string, number] => ['PRINCIPAL', id, n]),
    ];
    if (failure === null) worker.postMessage({ head: { orgId: seeded.orgId, orgSeq, hash: prevHash }, counts });
    await done;
    if (failure !== null) throw failure;
  } finally {
    await worker.terminate();
  }
  const ms = performance.now() - t0;
  return { entries, firstSeq, lastSeq: seq, firstOrgSeq, ms, buildMs, insertMs, indexMs, perApiKey };
}

// ---------------------------------------------------------------- raw SQL: the resolver's statements

/**
 * What `auditLog(filter: { credentialId: <an API key> }, first, after)` sends (NEWEST_FIRST), as
 * Kysely compiles it (projections/audit/queries.ts auditLogPage): the keyset page, its totalCount
 * read from audit_counts in the same statement. COUNT_SQL is what counting the key's entries
 * instead costs (what the page did before audit_counts), measured beside it.
 */
const COUNTED_TOTAL_SQL = '(select "entries" from "audit_counts" where "org_id" = ? and "dimension" = ? and "id" = ?) as "audit_counted_total"';
const PAGE_SQL = `select *, ${COUNTED_TOTAL_SQL} from "audit_log" where "org_id" = ? and "api_key_id" = ? order by "seq" desc limit ?`;
const PAGE_AFTER_SQL = `select *, ${COUNTED_TOTAL_SQL} from "audit_log" where "org_id" = ? and "api_key_id" = ? and ("seq") < (?) order by "seq" desc limit ?`;
const COUNT_SQL = 'select count(*) as "n" from "audit_log" where "org_id" = ? and "api_key_id" = ?';
/** The count of an unfiltered page. */
const COUNT_ALL_SQL = 'select count(*) as "n" from "audit_log" where "org_id" = ?';
/** exportAudit's page, and verifyAuditChain's (the columns it reads, and on SQLite the text each hash covers, made by the store). */
const EXPORT_PAGE_SQL = 'select * from "audit_log" where "org_id" = ? and "seq" > ? order by "seq" limit ?';
const VERIFY_PAGE_SQL = `select "org_seq", "prev_hash", "hash", ${SQLITE_HASHED_TEXT} as "hashed" from "audit_log" where "org_id" = ? and "org_seq" > ? order by "org_seq" limit ?`;

function queryPlan(db: SqliteDatabase, sqlText: string, params: readonly unknown[]): string {
  const rows = db.prepare(`explain query plan ${sqlText}`).all(...params) as { detail: string }[];
  return rows.map((r) => r.detail).join('; ');
}

interface RawTimes {
  /** The page's statement (its totalCount read from audit_counts): what one request costs the store. */
  readonly page: LoadSummary;
  /** What counting the key's entries would add to it, at p50. */
  readonly countP50Ms: number;
}

/** The page's statement through better-sqlite3, `requests` times after a warm-up, and the count it no longer makes; latencies per call. */
function rawPage(db: SqliteDatabase, orgId: string, apiKeyId: string, afterSeq: number | null): RawTimes {
  const page = db.prepare(afterSeq === null ? PAGE_SQL : PAGE_AFTER_SQL);
  const count = db.prepare(COUNT_SQL);
  const counted = [orgId, 'API_KEY', apiKeyId];
  const params = afterSeq === null ? [...counted, orgId, apiKeyId, SIZES.pageSize + 1] : [...counted, orgId, apiKeyId, afterSeq, SIZES.pageSize + 1];
  const pageOnly = new Float64Array(SIZES.requests);
  const countOnly = new Float64Array(Math.ceil(SIZES.requests / 10));
  for (let i = 0; i < SIZES.warmUp; i++) page.all(...params);
  const t0 = performance.now();
  for (let i = 0; i < SIZES.requests; i++) {
    const a = performance.now();
    page.all(...params);
    pageOnly[i] = performance.now() - a;
  }
  const ms = performance.now() - t0;
  count.get(orgId, apiKeyId);
  for (let i = 0; i < countOnly.length; i++) {
    const a = performance.now();
    count.get(orgId, apiKeyId);
    countOnly[i] = performance.now() - a;
  }
  return { page: summarize([{ done: SIZES.requests, ms, latencies: pageOnly }]), countP50Ms: quantile(countOnly.sort(), 0.5) };
}

// ---------------------------------------------------------------- the export children

function runChild(path: string, orgId: string, mode: ChildReport['mode']): Promise<ChildReport> {
  const script = fileURLToPath(new URL('./audit-export-child.ts', import.meta.url));
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve, reject) => {
    // Through a shell that forks node rather than exec'ing it: on Linux a process's maxRSS starts
    // at the RSS of the process that forked it (the kernel carries the peak across exec), and this
    // process holds far more than a fresh node does.
    const child = spawn('/bin/sh', ['-c', '"$0" "$@"; exit $?', process.execPath, '--import', 'tsx', script, path, orgId, mode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`export child (${mode}) exited with ${code}: ${err.slice(0, 1000)}`));
      try {
        resolve(JSON.parse(line) as ChildReport);
      } catch {
        reject(new Error(`export child (${mode}) printed no report: ${out.slice(0, 500)} ${err.slice(0, 500)}`));
      }
    });
  });
}

/** RSS once the export is under way (after its first 100k entries, when SQLite's page cache has filled), and its lowest and highest from there to the end. */
function rssRange(r: ChildReport): string {
  // The last sample is taken once the store is closed: not part of the export.
  const after = r.rssSamples
    .slice(0, -1)
    .filter(([n]) => n >= 100_000)
    .map(([, rss]) => mb(rss));
  if (after.length === 0) return 'no samples';
  return `${Math.round(after[0]!)} MB, then ${Math.round(Math.min(...after))}…${Math.round(Math.max(...after))} MB`;
}

function describeChild(label: string, r: ChildReport): string {
  // At most about twenty samples, evenly spread, and the last.
  const every = Math.max(1, Math.ceil(r.rssSamples.length / 20));
  const shown = r.rssSamples.filter((_, i) => i % every === 0 || i === r.rssSamples.length - 1);
  const samples = shown.map(([n, rss]) => `${n >= 1000 ? `${Math.round(n / 1000)}k` : n}: ${Math.round(mb(rss))}`).join(', ');
  return (
    `${label}: ${fmtRate(r.entries)} entries${r.bytes > 0 ? `, ${fmtMb(r.bytes)}` : ''} in ${fmtMs(r.ms)} (${fmtRate(perSecond(r.entries, r.ms))} entries/s); ` +
    `peak RSS ${fmtMb(r.maxRss)} (before the export: peak ${fmtMb(r.maxRssBefore)}, RSS ${fmtMb(r.rssBefore)}; highest RSS seen at a write ${fmtMb(r.peakRss)}), heap ${fmtMb(r.heapBefore)} before, peak ${fmtMb(r.peakHeap)}, ${fmtMb(r.heapAfter)} after` +
    (samples ? `; RSS MB by entries written: ${samples}` : '')
  );
}

// ---------------------------------------------------------------- the benchmark

interface PageTarget {
  readonly page: number;
  /** The `after` cursor (null for page 1) and the seq it stands for. */
  readonly after: string | null;
  readonly afterSeq: number | null;
  /** The seq of the page's first entry, to check the answers. */
  readonly firstSeq: number;
}

/** Walks the whole filtered list with the API (100 per request): checks its order and length, and collects the cursors of the measured pages. */
async function walk(url: string, admin: Readonly<Record<string, string>>, credentialId: string, expected: number): Promise<{ targets: PageTarget[]; requests: number }> {
  const seqs: number[] = [];
  const cursors: string[] = [];
  let after: string | null = null;
  let requests = 0;
  let total = -1;
  for (;;) {
    const data: { auditLog: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { cursor: string; node: { seq: number } }[] } } =
      await postGraphQL(url, admin, WALK_QUERY, { filter: { credentialId }, after });
    requests++;
    total = data.auditLog.totalCount;
    for (const edge of data.auditLog.edges) {
      if (seqs.length > 0 && edge.node.seq >= seqs[seqs.length - 1]!) throw new Error(`auditLog is not newest first at seq ${edge.node.seq}`);
      seqs.push(edge.node.seq);
      cursors.push(edge.cursor);
    }
    if (!data.auditLog.pageInfo.hasNextPage) break;
    after = data.auditLog.pageInfo.endCursor;
  }
  if (seqs.length !== expected || total !== expected) throw new Error(`the walk saw ${seqs.length} entries (totalCount ${total}); the seeding gave the key ${expected}`);
  const targets: PageTarget[] = [];
  for (const page of SIZES.pages) {
    const start = (page - 1) * SIZES.pageSize;
    if (start >= seqs.length) continue;
    targets.push({ page, after: page === 1 ? null : cursors[start - 1]!, afterSeq: page === 1 ? null : seqs[start - 1]!, firstSeq: seqs[start]! });
  }
  return { targets, requests };
}

/** What a kept file's run needs to know of its seeding (KEYLEDGER_BENCH_AUDIT_FILE). */
interface KeptSeeding {
  readonly seeded: Seeded;
  readonly seed: SeedResult;
}

async function seedFile(path: string): Promise<KeptSeeding> {
  const seededOrg = await timed(() => seedOrg(path));
  const seeded = seededOrg.result;
  log(
    `gateway: org, admin, ${seeded.apiKeys.length} API keys, ${SIZES.serviceAccounts} service accounts with ${seeded.appKeys.length} application keys ` +
      `made through GraphQL in ${fmtMs(seededOrg.ms)}; gateway stopped`,
  );
  const seed = await seedEntries(path, seeded, SIZES.entries);
  log(
    `seeded ${fmtRate(seed.entries)} request entries straight into audit_log (seq ${seed.firstSeq}…${seed.lastSeq}, org_seq from ${seed.firstOrgSeq}, ` +
      `hash chain by projections/audit/chain.ts entryHash, chain head moved, audit_counts added to) in ${fmtMs(seed.ms)} ` +
      `(${fmtRate(perSecond(seed.entries, seed.ms))} entries/s, ${SIZES.perTransaction.toLocaleString('en-US')} per transaction): ` +
      `building and hashing ${fmtMs(seed.buildMs)} (main thread), inserting ${fmtMs(seed.insertMs)} with the secondary indexes dropped, ` +
      `making them again ${fmtMs(seed.indexMs)} (worker); file ${fmtMb(statSync(path).size)}; ${fmtLoad()}`,
  );
  log(
    'note: the entries bypass the event store and the projection on purpose: ten million events through both would take a long time; ' +
      "the projection's own speed is what the rebuild benchmark measures",
  );
  return { seeded, seed };
}

async function audit(): Promise<Row[]> {
  const tmp = tempDir('audit');
  const path = KEEP_FILE ?? tmp.file('keyledger.db');
  const rows: Row[] = [];
  const figure = (f: Omit<Figure, 'bench'>) => rows.push({ bench: BENCH, ...f });
  try {
    // ---- (1) seed (or take the kept file as it is)
    let kept: KeptSeeding;
    if (KEEP_FILE !== undefined && existsSync(KEEP_FILE) && existsSync(`${KEEP_FILE}.json`)) {
      kept = JSON.parse(readFileSync(`${KEEP_FILE}.json`, 'utf8')) as KeptSeeding;
      log(`kept file ${KEEP_FILE} (${fmtMb(statSync(KEEP_FILE).size)}): ${fmtRate(kept.seed.entries)} entries seeded by an earlier run, not seeded again`);
    } else {
      kept = await seedFile(path);
      if (KEEP_FILE !== undefined) writeFileSync(`${KEEP_FILE}.json`, JSON.stringify(kept));
    }
    const { seeded, seed } = kept;

    // The whole chain, as auditIntegrity checks it (its reference, the raw read of the same rows, comes with the export's).
    const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
    let verified: Timed<Awaited<ReturnType<typeof verifyAuditChain>>>;
    try {
      verified = await timed(() => verifyAuditChain(readStore.db, seeded.orgId));
    } finally {
      await readStore.close();
    }
    {
      const { ok, checked, firstBroken } = verified.result;
      log(
        `verify ${fmtRate(checked)} entries (whole chain, verifyAuditChain): ${ok ? 'ok' : `BROKEN at ${JSON.stringify(firstBroken)}`} in ${fmtMs(verified.ms)} ` +
          `(${fmtRate(perSecond(checked, verified.ms))} entries/s); ${fmtLoad()}`,
      );
      if (!ok) throw new Error(`the seeded chain does not verify: ${JSON.stringify(firstBroken)}`);
    }

    // ---- (2) pages over HTTP
    const key = seeded.apiKeys[FILTERED_KEY]!;
    const expected = seed.perApiKey[FILTERED_KEY]!;
    const raw = openSqliteFile(path);
    let app: App | null = null;
    const loads: HttpLoad[] = [];
    try {
      app = await buildApp(gatewayConfig(path), { logger: silentLogger() });
      const { url } = await app.start();
      const graphqlUrl = `${url}/graphql`;
      const w0 = performance.now();
      const walked = await walk(graphqlUrl, seeded.admin, key.globalId, expected);
      log(
        `gateway restarted on the file; walked API key ${FILTERED_KEY + 1}'s ${fmtRate(expected)} entries, newest first, ${walked.requests} requests of 100 ` +
          `in ${fmtMs(performance.now() - w0)}: order and totalCount check out; pages measured: ${walked.targets.map((t) => t.page).join(', ')}`,
      );
      const samplePlanAfter = walked.targets.find((t) => t.afterSeq !== null)?.afterSeq ?? seed.lastSeq;
      log(`plan, page:   ${queryPlan(raw, PAGE_AFTER_SQL, [seeded.orgId, 'API_KEY', key.id, seeded.orgId, key.id, samplePlanAfter, SIZES.pageSize + 1])}`);
      log(`plan, count:  ${queryPlan(raw, COUNT_SQL, [seeded.orgId, key.id])}`);
      log(`plan, export: ${queryPlan(raw, EXPORT_PAGE_SQL, [seeded.orgId, 0, 1000])}`);
      log(`plan, verify: ${queryPlan(raw, VERIFY_PAGE_SQL, [seeded.orgId, 0, 1000])}`);

      let statements = 0;
      let requests = 0;
      /** p99 at one loop, by page. */
      const pageP99 = new Map<number, number>();
      for (const target of walked.targets) {
        const variables = { filter: { credentialId: key.globalId }, first: SIZES.pageSize, ...(target.after === null ? {} : { after: target.after }) };
        // One answer, checked: a full page of the key's entries, starting where the walk said.
        const check = await postGraphQL<AuditPage>(graphqlUrl, seeded.admin, AUDIT_LOG_QUERY, variables);
        const edges = check.auditLog.edges;
        const expectedLength = Math.min(SIZES.pageSize, expected - (target.page - 1) * SIZES.pageSize);
        if (edges.length !== expectedLength || edges[0]?.node.seq !== target.firstSeq || edges.some((e) => e.node.apiKeyId !== key.globalId)) {
          throw new Error(`page ${target.page}: ${edges.length} entries from seq ${edges[0]?.node.seq}, expected ${expectedLength} from ${target.firstSeq}, all of the key`);
        }
        const reference = rawPage(raw, seeded.orgId, key.id, target.afterSeq);
        const spec: LoadSpec = { query: AUDIT_LOG_QUERY, variables, total: SIZES.requests, maxMs: 60_000 };
        const runs: { concurrency: number; summary: LoadSummary }[] = [];
        for (const concurrency of SIZES.concurrency) {
          // A generator of its own for each run: a keep-alive connection left idle past the
          // server's keepAliveTimeout (5 s) while other runs go would be reset under the next one.
          const load = await HttpLoad.open({ url: graphqlUrl, headers: seeded.admin, concurrency });
          loads.push(load);
          await load.run({ ...spec, total: SIZES.warmUp });
          const before = app.readStore.statementCount();
          const run: LoadRun = await load.run(spec);
          statements += app.readStore.statementCount() - before;
          requests += run.done;
          runs.push({ concurrency, summary: summarize([run]) });
          if (concurrency === 1) pageP99.set(target.page, summarize([run]).p99Ms);
          await load.close();
          loads.splice(loads.indexOf(load), 1);
        }
        log(
          `page ${target.page} (${target.after === null ? 'no cursor' : `after seq ${target.afterSeq}`}): raw SQL page p50 ${fmtMsFine(reference.page.p50Ms)}, ` +
            `p99 ${fmtMsFine(reference.page.p99Ms)} (counting the key's ${fmtRate(expected)} entries instead of reading audit_counts would add ${fmtMsFine(reference.countP50Ms)} at p50); ` +
            runs.map(({ concurrency, summary: s }) => `HTTP ×${concurrency}: ${fmtRate(s.rate)} req/s, p50 ${fmtMsFine(s.p50Ms)}, p99 ${fmtMsFine(s.p99Ms)}`).join('; ') +
            `; ${fmtLoad()}`,
        );
        for (const { concurrency, summary: s } of runs) {
          const label = `page ${target.page}, ×${concurrency}`;
          if (concurrency === 1) {
            figure({
              case: `${label}, p50`,
              value: toMicros(s.p50Ms),
              unit: 'µs',
              refLabel: 'raw SQL page, p50',
              refValue: toMicros(reference.page.p50Ms),
              refUnit: 'µs',
              note: 'lower is better',
            });
          }
          figure({
            case: `${label}, p99`,
            value: toMicros(s.p99Ms),
            unit: 'µs',
            refLabel: 'raw SQL page, p99',
            refValue: toMicros(reference.page.p99Ms),
            refUnit: 'µs',
            note: `${fmtRate(s.rate)} req/s, p50 ${fmtMsFine(s.p50Ms)}${concurrency > 1 ? `; the reference is one loop (synchronous calls)` : ''}`,
          });
        }
      }
      // What any request costs the gateway at one loop, whatever it asks: authentication, its own
      // audit entry made durable (R25) and projected, yoga: `{ __typename }` reads no list.
      {
        const load = await HttpLoad.open({ url: graphqlUrl, headers: seeded.admin, concurrency: 1 });
        loads.push(load);
        const spec: LoadSpec = { query: '{ __typename }', variables: {}, total: SIZES.requests, maxMs: 60_000 };
        await load.run({ ...spec, total: SIZES.warmUp });
        const s = summarize([await load.run(spec)]);
        await load.close();
        loads.splice(loads.indexOf(load), 1);
        log(`{ __typename } over HTTP ×1 (any request's own cost, no list read): ${fmtRate(s.rate)} req/s, p50 ${fmtMsFine(s.p50Ms)}, p99 ${fmtMsFine(s.p99Ms)}`);
        const firstPage = pageP99.get(1);
        if (firstPage !== undefined) {
          figure({
            case: 'page 1, ×1, p99 beside { __typename }',
            value: toMicros(firstPage),
            unit: 'µs',
            refLabel: '{ __typename } ×1, p99',
            refValue: toMicros(s.p99Ms),
            refUnit: 'µs',
            note: `{ __typename } p50 ${fmtMsFine(s.p50Ms)}: what every request pays before its fields`,
          });
        }
      }
      const perRequest = statements / Math.max(1, requests);
      // One request at a time, each followed by the projection catching up on its own audit
      // entry: the statements of the gateway's read store for an auditLog page beside those of
      // `{ __typename }` (whatever every request costs that store), so that the difference is the
      // resolver's. Only this read store's statements count: where the projections run on a
      // connection of their own, their work is not in either figure.
      const perSingle = async (query: string, variables: Record<string, unknown>): Promise<number> => {
        const before = app!.readStore.statementCount();
        for (let i = 0; i < STATEMENT_PROBES; i++) {
          await postGraphQL(graphqlUrl, seeded.admin, query, variables);
          await app!.runner.waitFor(await app!.store.headPosition(), { timeoutMs: 30_000 });
        }
        return (app!.readStore.statementCount() - before) / STATEMENT_PROBES;
      };
      const perPage = await perSingle(AUDIT_LOG_QUERY, { filter: { credentialId: key.globalId }, first: SIZES.pageSize });
      const perTypename = await perSingle('{ __typename }', {});
      log(
        `read-store statements per request, one at a time with the projection caught up: ${perPage.toFixed(2)} (auditLog page), ` +
          `${perTypename.toFixed(2)} ({ __typename }: what every request costs this read store); ` +
          `under the load runs above ${perRequest.toFixed(2)} per auditLog request`,
      );
      figure({
        case: 'read-store statements per auditLog request',
        value: perPage,
        unit: 'stmts/req',
        refLabel: '{ __typename }',
        refValue: perTypename,
        refUnit: 'stmts/req',
        note: `${perPage.toFixed(1)} vs ${perTypename.toFixed(1)}: the resolver adds ${(perPage - perTypename).toFixed(1)}; ${perRequest.toFixed(1)} under load`,
      });

      // What an unfiltered page's totalCount would cost counted: it reads audit_counts (ORG) instead.
      {
        const countAll = raw.prepare(COUNT_ALL_SQL);
        countAll.get(seeded.orgId);
        const t0 = performance.now();
        for (let i = 0; i < 3; i++) countAll.get(seeded.orgId);
        const countAllMs = (performance.now() - t0) / 3;
        log(
          `note: an auditLog page without a filter reads its totalCount from audit_counts too; counting the whole org instead, raw ${COUNT_ALL_SQL.replace(/"/g, '')}, takes ${fmtMsFine(countAllMs)} ` +
            `at ${fmtRate(seed.entries)} entries (${queryPlan(raw, COUNT_ALL_SQL, [seeded.orgId])})`,
        );
      }
    } finally {
      for (const load of loads) await load.close();
      if (app) await app.stop();
      raw.close();
    }

    // ---- (3) export, each in a child process
    const empty = await runChild(path, randomUUID(), 'csv');
    log(describeChild('child, CSV export of an org with no entries (baseline)', empty));
    const reference = await runChild(path, seeded.orgId, 'raw');
    log(`${describeChild('child, raw select * … order by seq, iterate(), writing nothing (reference)', reference)}; ${fmtLoad()}`);
    figure({
      case: `verify ${fmtRate(verified.result.checked)} entries (verifyAuditChain)`,
      value: verified.ms,
      unit: 'ms',
      refLabel: 'raw select * iterate()',
      refValue: reference.ms,
      refUnit: 'ms',
      note: `chain ok, ${fmtRate(perSecond(verified.result.checked, verified.ms))} entries/s; the reference reads by seq, the same order here; lower is better`,
    });
    for (const format of ['csv', 'ndjson'] as const) {
      const r = await runChild(path, seeded.orgId, format);
      log(`${describeChild(`child, exportAudit ${format.toUpperCase()}`, r)}; ${fmtLoad()}`);
      if (r.entries !== reference.entries) throw new Error(`the ${format} export wrote ${r.entries} entries; the org has ${reference.entries}`);
      figure({
        case: `export ${format.toUpperCase()}, ${fmtRate(r.entries)} entries`,
        value: r.ms,
        unit: 'ms',
        refLabel: 'raw select * iterate()',
        refValue: reference.ms,
        refUnit: 'ms',
        note: `${fmtMb(r.bytes)} written, ${fmtRate(perSecond(r.entries, r.ms))} entries/s; lower is better`,
      });
      figure({
        case: `export ${format.toUpperCase()}, peak RSS`,
        value: mb(r.maxRss),
        unit: 'MB',
        refLabel: 'same child, 0 entries',
        refValue: mb(empty.maxRss),
        refUnit: 'MB',
        note: `raw iterate() child ${Math.round(mb(reference.maxRss))} MB; heap peak ${fmtMb(r.peakHeap)}; RSS after 100k, then its range to the end: ${rssRange(r)}`,
      });
      figure({
        case: `export ${format.toUpperCase()}, peak RSS beside a raw read`,
        value: mb(r.maxRss),
        unit: 'MB',
        refLabel: 'raw iterate() child, same rows',
        refValue: mb(reference.maxRss),
        refUnit: 'MB',
        note: `the raw read keeps nothing but fills SQLite's page cache as the export does; raw RSS after 100k, then to the end: ${rssRange(reference)}`,
      });
    }
    log(
      "note: a child's RSS rises within its first 100k entries by up to SQLite's page cache (cache_size = -65536 in openSqliteFile: 64 MiB) " +
        'plus a page of entries and its text, then stays flat to the end: the raw reference, which keeps nothing, rises the same way',
    );
    return rows;
  } finally {
    tmp.remove();
  }
}

export const auditBenchmarks: Benchmark[] = [
  {
    name: 'audit',
    title:
      `Audit log at ${fmtRate(SIZES.entries)} entries, embedded store (SQLite): verify the chain; auditLog(first: ${SIZES.pageSize}) filtered by one API key ` +
      `over HTTP at ${SIZES.concurrency.join(' and ')} loops; exportAudit CSV and NDJSON in a child process (time, peak RSS)`,
    run: audit,
  },
];
