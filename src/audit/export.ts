// Exports an organization's audit log as CSV or NDJSON, streaming: keyset pages by seq, each
// written once the output has drained, so memory stays flat however long the log is. Values are
// exported as stored (root_fields and details as their JSON text), so that an exported entry
// can be checked against its hash with projections/audit/chain.ts: NDJSON always, CSV with `raw`.
// By default a CSV field that a spreadsheet would run as a formula (a user agent of
// `=HYPERLINK(…)`) gets a leading single quote (OWASP's advice on CSV injection).

import { once } from 'node:events';
import type { Kysely } from 'kysely';
import { AUDIT_LOG_COLUMNS } from '../../projections/audit/projection.js';
import { auditEntryPages, type AuditEntryRow } from '../../projections/audit/queries.js';
import type { AuditTables } from '../../projections/audit/tables.js';

type AuditExportFormat = 'csv' | 'ndjson';

export interface AuditExportOptions {
  readonly orgId: string;
  /** Entries at or after this time. */
  readonly from?: Date;
  /** Entries before this time. */
  readonly to?: Date;
  readonly format: AuditExportFormat;
  /** CSV: every field exactly as stored, formulas included (default false: neutralised). */
  readonly raw?: boolean;
  /** Entries per read (default 1000). */
  readonly pageSize?: number;
}

/** The columns, in the order of the table (and of the CSV header). */
const AUDIT_EXPORT_COLUMNS = AUDIT_LOG_COLUMNS;

type Row = AuditEntryRow;
type Value = string | number | null;

function values(row: Row): Value[] {
  return AUDIT_EXPORT_COLUMNS.map((column) => (column === 'seq' || column === 'org_seq' ? Number(row[column]) : row[column]));
}

/** What a spreadsheet takes for the start of a formula (OWASP, CSV injection): = + - @, a tab or a CR. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, with its quotes
 * doubled; records end in CRLF. (No CSV library is installed; this is all the writing needs.)
 * Null is an empty field. Unless `raw`, a text that would start a formula is prefixed with `'`,
 * which spreadsheets show as text and do not display.
 */
function csvField(value: Value, raw: boolean): string {
  if (value === null) return '';
  const text = typeof value === 'string' && !raw && FORMULA_START.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRecord(fields: readonly Value[], raw: boolean): string {
  return `${fields.map((field) => csvField(field, raw)).join(',')}\r\n`;
}

function ndjsonRecord(row: Row): string {
  const out: Record<string, Value> = {};
  const fields = values(row);
  AUDIT_EXPORT_COLUMNS.forEach((column, i) => {
    out[column] = fields[i]!;
  });
  return `${JSON.stringify(out)}\n`;
}

async function write(out: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out as NodeJS.EventEmitter, 'drain');
}

/** Writes the org's entries of [from, to) in seq order to `out` and resolves with their count (it does not end `out`). */
export async function exportAudit(db: Kysely<AuditTables>, options: AuditExportOptions, out: NodeJS.WritableStream): Promise<{ entries: number }> {
  const raw = options.raw ?? false;
  if (options.format === 'csv') await write(out, csvRecord(AUDIT_EXPORT_COLUMNS, raw));
  let entries = 0;
  const range = { orgId: options.orgId, pageSize: options.pageSize ?? 1000, ...(options.from ? { from: options.from } : {}), ...(options.to ? { to: options.to } : {}) };
  for await (const rows of auditEntryPages(db, range)) {
    await write(out, rows.map((row) => (options.format === 'csv' ? csvRecord(values(row), raw) : ndjsonRecord(row))).join(''));
    entries += rows.length;
  }
  return { entries };
}
