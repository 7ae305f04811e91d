// The inserting half of the `audit` benchmark's seeding (bench/audit.ts), in a worker thread: the
// main thread builds the entries and their hash chain (projections/audit/chain.ts), this thread
// writes them, so that the two halves use both cores. Plain JavaScript, so that the worker needs
// no TypeScript loader.
//
// workerData: { path, columns, perTransaction }. Messages in: { rows } (a JSON array of arrays of
// values in `columns` order), then { head: { orgId, orgSeq, hash }, counts: [[dimension, id, entries]…] } to
// finish. Messages out: { inserted } after each { rows }, { done: true, insertMs, indexMs } after
// the head, { failure } on an error.
//
// The file is the benchmark's own, the gateway stopped: no journal and no syncing while seeding
// (a crash costs nothing), WAL again before the worker closes it. better-sqlite3 opens
// connections in SQLite's defensive mode, which refuses `journal_mode = OFF` without a word (the
// file stayed in WAL, every page written twice): unsafe mode lifts it for the seeding. audit_log's secondary indexes
// (all but its primary key and the unique event_id) are dropped before the first row and made
// again, from their own `create index` text, after the last: one sort per index instead of ten
// million scattered B-tree inserts each.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, columns, perTransaction } = workerData;
const db = new Database(path);
db.pragma('busy_timeout = 5000');
db.unsafeMode(true);
// Out of WAL first (OFF is not reachable from WAL directly).
db.pragma('journal_mode = DELETE');
if (db.pragma('journal_mode = OFF', { simple: true }) !== 'off') throw new Error('the seeding worker could not turn the journal off');
db.pragma('synchronous = OFF');
db.pragma('cache_size = -1048576');
// CREATE INDEX sorts with helper threads.
db.pragma('threads = 2');
db.pragma('temp_store = MEMORY');
const indexes = db.prepare("select name, sql from sqlite_master where type = 'index' and tbl_name = 'audit_log' and sql is not null").all();
for (const { name } of indexes) db.exec(`drop index "${name}"`);
const insert = db.prepare(`insert into audit_log (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`);
const upsertHead = db.prepare(
  'insert into audit_chain_heads (org_id, last_org_seq, last_hash) values (?, ?, ?) on conflict (org_id) do update set last_org_seq = excluded.last_org_seq, last_hash = excluded.last_hash',
);
const addCount = db.prepare(
  'insert into audit_counts (org_id, dimension, id, entries) values (?, ?, ?, ?) on conflict (org_id, dimension, id) do update set entries = audit_counts.entries + excluded.entries',
);
let inTransaction = 0;
const t0 = performance.now();

function handle(message) {
  if (message.rows) {
    const rows = JSON.parse(message.rows);
    for (const row of rows) {
      if (inTransaction === 0) db.exec('begin');
      insert.run(row);
      if (++inTransaction === perTransaction) {
        db.exec('commit');
        inTransaction = 0;
      }
    }
    parentPort.postMessage({ inserted: rows.length });
    return;
  }
  const { orgId, orgSeq, hash } = message.head;
  if (inTransaction === 0) db.exec('begin');
  upsertHead.run(orgId, orgSeq, hash);
  for (const [dimension, id, entries] of message.counts) addCount.run(orgId, dimension, id, entries);
  db.exec('commit');
  const insertMs = performance.now() - t0;
  for (const { sql } of indexes) db.exec(sql);
  const indexMs = performance.now() - t0 - insertMs;
  db.unsafeMode(false);
  db.pragma('journal_mode = WAL');
  db.close();
  parentPort.postMessage({ done: true, insertMs, indexMs });
}

parentPort.on('message', (message) => {
  try {
    handle(message);
  } catch (error) {
    parentPort.postMessage({ failure: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
