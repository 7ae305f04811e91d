// `npm run bench [-- filter…]`: runs every benchmark (or those whose name contains a filter) in
// sequence, prints each one's table as it finishes and a summary of all figures at the end.

import { availableParallelism } from 'node:os';
import { apiBenchmarks } from './api.js';
import { appendBenchmarks } from './append.js';
import { auditBenchmarks } from './audit.js';
import { feedsBenchmarks } from './feeds.js';
import { fleetBenchmarks } from './fleet.js';
import { type Benchmark, type Row, figuresTable, fmtMs, isFigure, PG_URL, pgReachable } from './lib.js';
import { rebuildBenchmarks } from './rebuild.js';
import { scaleBenchmarks } from './scale.js';
import { threadBenchmarks } from './thread.js';
import { verifyBenchmarks } from './verify.js';

const benchmarks: Benchmark[] = [
  ...appendBenchmarks,
  ...rebuildBenchmarks,
  ...apiBenchmarks,
  ...verifyBenchmarks,
  ...threadBenchmarks,
  ...auditBenchmarks,
  ...fleetBenchmarks,
  ...feedsBenchmarks,
  ...scaleBenchmarks,
];

const filters = process.argv.slice(2).map((f) => f.toLowerCase());
const selected = filters.length === 0 ? benchmarks : benchmarks.filter((b) => filters.some((f) => b.name.includes(f)));
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

console.log(
  `keyledger benchmarks: node ${process.version}, ${availableParallelism()} cores, ` + `PostgreSQL ${(await pgReachable()) ? 'reachable' : 'not reachable'} at ${PG_URL}`,
);
console.log('Every figure is printed beside a reference measured in the same run; ratio = figure / reference.');

const started = performance.now();
const rows: Row[] = [];
let failed = false;
for (const benchmark of selected) {
  console.log(`\n== ${benchmark.name}: ${benchmark.title}`);
  const t0 = performance.now();
  try {
    const result = await benchmark.run();
    rows.push(...result);
    if (result.some(isFigure)) console.log(`\n${figuresTable(result.filter(isFigure), false)}`);
  } catch (error) {
    failed = true;
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.log(`FAILED: ${message}`);
    rows.push({ bench: benchmark.name, remark: `failed: ${error instanceof Error ? error.message : String(error)}` });
  }
  console.log(`(${benchmark.name} took ${fmtMs(performance.now() - t0)})`);
}

console.log(`\n== Summary (${fmtMs(performance.now() - started)} in all)\n`);
console.log(figuresTable(rows, true));
if (failed) process.exitCode = 1;
