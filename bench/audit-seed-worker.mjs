// The inserting half of the `audit` benchmark's seeding (bench/audit.ts), in a worker thread: the
// main thread builds the entries and their hash chain (projections/audit-chain.ts), this thread
// writes them, so that the two halves use both cores. Plain JavaScript, so that the worker needs
// no TypeScript loader.
//
// workerData: { path, columns, perTransaction }. Messages in: { rows } (arrays of values in
// `columns` order), then { head: { orgId, orgSeq, hash } } to finish. Messages out: { inserted }
// after each { rows }, { done: true } after the head, { failure } on an error.
//
// The file is the benchmark's own, the gateway stopped: no journal and no syncing while seeding
// (a crash costs nothing), WAL again before the worker closes it.

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, columns, perTransaction } = workerData;
const db = new Database(path);
db.pragma('busy_timeout = 5000');
db.pragma('journal_mode = OFF');
db.pragma('synchronous = OFF');
db.pragma('cache_size = -262144');
const insert = db.prepare(`insert into audit_log (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`);
const upsertHead = db.prepare(
  'insert into audit_chain_heads (org_id, last_org_seq, last_hash) values (?, ?, ?) on conflict (org_id) do update set last_org_seq = excluded.last_org_seq, last_hash = excluded.last_hash',
);
let inTransaction = 0;

function handle(message) {
  if (message.rows) {
    for (const row of message.rows) {
      if (inTransaction === 0) db.exec('begin');
      insert.run(row);
      if (++inTransaction === perTransaction) {
        db.exec('commit');
        inTransaction = 0;
      }
    }
    parentPort.postMessage({ inserted: message.rows.length });
    return;
  }
  const { orgId, orgSeq, hash } = message.head;
  if (inTransaction === 0) db.exec('begin');
  upsertHead.run(orgId, orgSeq, hash);
  db.exec('commit');
  db.pragma('journal_mode = WAL');
  db.close();
  parentPort.postMessage({ done: true });
}

parentPort.on('message', (message) => {
  try {
    handle(message);
  } catch (error) {
    parentPort.postMessage({ failure: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
