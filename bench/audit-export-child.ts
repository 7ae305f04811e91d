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
import type { ReadModels } from '../projections/index.js';
import { openReadStore } from '../projections/read-store.js';
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
  /** RSS and heap used right before the export started. */
  readonly rssBefore: number;
  readonly heapBefore: number;
  /** The highest heap used seen at a write (one sample per write, i.e. per page of 1000 entries). */
  readonly peakHeap: number;
  /** heap used at the end, after the export. */
  readonly heapAfter: number;
  /** [entries written so far (approx., by pages), RSS] at about every tenth of the export. */
  readonly rssSamples: readonly (readonly [number, number])[];
}

const [path, orgId, mode] = process.argv.slice(2);
if (path === undefined || orgId === undefined || (mode !== 'csv' && mode !== 'ndjson' && mode !== 'raw')) {
  console.error('usage: audit-export-child.ts <sqlite file> <org id> <csv | ndjson | raw>');
  process.exit(2);
}

/** Entries in the org, for the sampling interval only (not timed). */
function countEntries(): number {
  const db = openSqliteFile(path!);
  try {
    return (db.prepare('select count(*) as n from audit_log where org_id = ?').get(orgId) as { n: number }).n;
  } finally {
    db.close();
  }
}

const expected = countEntries();
const PAGE = 1000;
const pages = Math.ceil(expected / PAGE);
const sampleEvery = Math.max(1, Math.round(pages / 10));

let peakHeap = 0;
const rssSamples: [number, number][] = [];
let writes = 0;
let bytes = 0;

function sample(entriesSoFar: number, force = false): void {
  const memory = process.memoryUsage();
  if (memory.heapUsed > peakHeap) peakHeap = memory.heapUsed;
  if (force || writes % sampleEvery === 0) rssSamples.push([entriesSoFar, memory.rss]);
}

const before = process.memoryUsage();
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
        sample(Math.min(expected, (mode === 'csv' ? writes - 1 : writes) * PAGE));
        callback();
      },
    });
    const t0 = performance.now();
    const result = await exportAudit(readStore.db, readStore.kind, { orgId, format: mode }, sink);
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
  rssBefore: before.rss,
  heapBefore: before.heapUsed,
  peakHeap,
  heapAfter: process.memoryUsage().heapUsed,
  rssSamples,
};
console.log(JSON.stringify(report));
