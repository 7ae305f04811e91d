// Shared helpers of the benchmarks: result rows, a table printer, temp files, concurrent
// writer loops, the PostgreSQL probe and fresh schemas. Nothing here asserts on time.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** One figure, measured beside its reference in the same run. */
export interface Figure {
  readonly bench: string;
  readonly case: string;
  readonly value: number;
  readonly unit: string;
  readonly refLabel: string;
  readonly refValue: number;
  readonly refUnit: string;
  readonly note?: string;
}

/** A line of the summary that is not a figure (a skipped or failed benchmark). */
export interface Remark {
  readonly bench: string;
  readonly remark: string;
}

export type Row = Figure | Remark;

export function isFigure(row: Row): row is Figure {
  return 'value' in row;
}

export interface Benchmark {
  readonly name: string;
  readonly title: string;
  run(): Promise<Row[]>;
}

// ---------------------------------------------------------------- formatting

export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRatio(value: number, reference: number): string {
  if (!(reference > 0) || !Number.isFinite(value)) return '-';
  return (value / reference).toFixed(2);
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** A plain text table; columns whose header starts with a space are right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = headers.map((h) => h.startsWith(' '));
  const heads = headers.map((h) => h.trim());
  const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(heads), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The figures as a table, then one line for each remark (skipped or failed). */
export function figuresTable(rows: readonly Row[], withBench: boolean): string {
  const headers = [...(withBench ? ['benchmark'] : []), 'case', ' figure', 'unit', 'reference', ' ref figure', 'ref unit', ' ratio', 'note'];
  const figures = rows.filter(isFigure);
  const body = figures.map((row) => {
    const cells = [row.case, fmtRate(row.value), row.unit, row.refLabel, fmtRate(row.refValue), row.refUnit, fmtRatio(row.value, row.refValue), row.note ?? ''];
    return withBench ? [row.bench, ...cells] : cells;
  });
  const remarks = rows.filter((row): row is Remark => !isFigure(row)).map((row) => `${row.bench}: ${row.remark}`);
  return [...(figures.length > 0 ? [table(headers, body)] : []), ...remarks].join('\n');
}

export function log(message: string): void {
  console.log(`  · ${message}`);
}

// ---------------------------------------------------------------- timing and load

export interface Timed<T> {
  readonly result: T;
  readonly ms: number;
}

export async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const t0 = performance.now();
  const result = await work();
  return { result, ms: performance.now() - t0 };
}

export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.NaN;
}

/**
 * Runs `writers` async loops at once (Promise.all); loop `w` calls `step(w, i)` for
 * i = 0, 1, … while `claim()` grants work. Returns how many steps completed and the time.
 */
export async function concurrentLoops(
  writers: number,
  budget: { readonly total: number; readonly maxMs: number },
  step: (writer: number, i: number) => Promise<void>,
): Promise<{ done: number; ms: number }> {
  let claimed = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + budget.maxMs;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; claimed < budget.total && performance.now() < deadline; i++) {
        claimed++;
        await step(w, i);
        done++;
      }
    }),
  );
  return { done, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------- temp files

/** A fresh temp directory, removed (with every file in it) by `remove()`. */
export function tempDir(prefix: string): { dir: string; file(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `keyledger-bench-${prefix}-`));
  return {
    dir,
    file: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------- PostgreSQL

export const PG_URL = process.env.KEYLEDGER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | undefined;
/** Why the probe failed, shown beside "skipped". */
let unreachableBecause = '';

export function pgReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (error) {
      unreachableBecause = error instanceof Error ? error.message : String(error);
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

export function pgSkipped(bench: string): Remark {
  const remark = `skipped: PostgreSQL not reachable (${PG_URL}${unreachableBecause ? `: ${unreachableBecause}` : ''})`;
  console.log(remark);
  return { bench, remark };
}

/** A fresh, lower-case schema name; `dropSchemas` removes it at the end. */
export function freshSchemaName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: PG_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}
