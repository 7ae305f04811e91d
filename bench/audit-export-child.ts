// The child process of the `audit` benchmark (bench/audit.ts): exports one organization's audit
// log from a SQLite file to a sink that only counts bytes, in a process of its own, so that its
// peak memory is the export's and not the parent's (which seeded a million rows).
//
//   node --import tsx bench/audit-export-child.ts <sqlite file> <org id> <csv | ndjson | raw>
//
// csv and ndjson run `exportAudit` (src/audit/export.ts) through the read store, as the gateway
// does; raw is the reference: `select * … order by seq` iterated with better-sqlite3, writing
// nothing. Prints one JSON line (ChildReport) on stdout.

import { Writable } from 'node:stream';
import type { ReadModels } from '../projections/read-models.js';
import { openReadStore } from '../projections/core/read-store.js';
import { exportAudit } from '../src/audit/export.js';
import { openSqliteFile } from '../src/sqlite/database.js';

export interface ChildReport {
  readonly mode: 'csv' | 'ndjson' | 'raw';
  readonly entries: number;
  /** Bytes written to the sink (0 for raw). */
  readonly bytes: number;
  /** The export (or the iteration) alone, not the process's start. */
  readonly ms: number;
  /** process.resourceUsage().maxRSS, in bytes: the process's peak resident set, start-up included. */
  readonly maxRss: number;
  /** maxRSS right before the export started (start-up, module loading, opening the file), in bytes. */
  readonly maxRssBefore: number;
  /** RSS and heap used right before the export started. */
  readonly rssBefore: number;
  readonly heapBefore: number;
  /** The highest RSS seen at a write (one sample per write, i.e. per page of 1000 entries). */
  readonly peakRss: number;
  /** The highest heap used seen at a write (one sample per write, i.e. per page of 1000 entries). */
  readonly peakHeap: number;
  /** heap used at the end, after the export. */
  readonly heapAfter: number;
  /** [entries written so far (by pages), RSS] every 100,000 entries, and at the end. */
  readonly rssSamples: readonly (readonly [number, number])[];
}

const [path, orgId, mode] = process.argv.slice(2);
if (path === undefined || orgId === undefined || (mode !== 'csv' && mode !== 'ndjson' && mode !== 'raw')) {
  console.error('usage: audit-export-child.ts <sqlite file> <org id> <csv | ndjson | raw>');
  process.exit(2);
}

const PAGE = 1000;
/** An RSS sample every this many writes (pages of PAGE entries): every 100,000 entries. */
const SAMPLE_EVERY = 100;

let peakHeap = 0;
let peakRss = 0;
const rssSamples: [number, number][] = [];
let writes = 0;
let bytes = 0;

function sample(entriesSoFar: number, force = false): void {
  const memory = process.memoryUsage();
  if (memory.heapUsed > peakHeap) peakHeap = memory.heapUsed;
  if (memory.rss > peakRss) peakRss = memory.rss;
  if (force || writes % SAMPLE_EVERY === 0) rssSamples.push([entriesSoFar, memory.rss]);
}

const before = process.memoryUsage();
const maxRssBefore = process.resourceUsage().maxRSS * 1024;
let entries = 0;
let ms = 0;

if (mode === 'raw') {
  const db = openSqliteFile(path);
  try {
    const statement = db.prepare('select * from audit_log where org_id = ? order by seq');
    const t0 = performance.now();
    for (const row of statement.iterate(orgId)) {
      void row;
      entries++;
      if (entries % PAGE === 0) {
        writes++;
        sample(entries);
      }
    }
    ms = performance.now() - t0;
  } finally {
    db.close();
  }
} else {
  const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
  try {
    // A sink that keeps nothing: counts bytes, and samples memory once per write (exportAudit writes once per page).
    const sink = new Writable({
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, callback) {
        bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        writes++;
        // The CSV header is the first write; every other write is one page.
        sample((mode === 'csv' ? writes - 1 : writes) * PAGE);
        callback();
      },
    });
    const t0 = performance.now();
    const result = await exportAudit(readStore.db, { orgId, format: mode }, sink);
    ms = performance.now() - t0;
    entries = result.entries;
  } finally {
    await readStore.close();
  }
}
sample(entries, true);

const report: ChildReport = {
  mode,
  entries,
  bytes,
  ms,
  maxRss: process.resourceUsage().maxRSS * 1024,
  maxRssBefore,
  rssBefore: before.rss,
  heapBefore: before.heapUsed,
  peakRss,
  peakHeap,
  heapAfter: process.memoryUsage().heapUsed,
  rssSamples,
};
console.log(JSON.stringify(report));
