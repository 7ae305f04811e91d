// Exports an organization's audit log as CSV or NDJSON, streaming: keyset pages by seq, each
// written once the output has drained, so memory stays flat however long the log is. Values are
// exported as stored (root_fields and details as their JSON text), so that an exported entry
// can be checked against its hash with projections/audit/chain.ts: NDJSON always, CSV with `raw`.
// By default a CSV field that a spreadsheet would run as a formula (a user agent of
// `=HYPERLINK(…)`) gets a leading single quote (OWASP's advice on CSV injection).

import { once } from 'node:events';
import type { Kysely } from 'kysely';
import { jsonString } from '../../projections/audit/chain.js';
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

/** A column's value as exported: the two sequence numbers as numbers (PostgreSQL returns a bigint as text), the rest as stored. */
function valueOf(row: Row, column: (typeof AUDIT_EXPORT_COLUMNS)[number]): Value {
  return column === 'seq' || column === 'org_seq' ? Number(row[column]) : row[column];
}

/** What a spreadsheet takes for the start of a formula (OWASP, CSV injection): = + - @, a tab or a CR. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** What makes a CSV field need quotes. */
const CSV_SPECIAL = /[",\r\n]/;

/**
 * RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, with its quotes
 * doubled; records end in CRLF. (No CSV library is installed; this is all the writing needs.)
 * Null is an empty field. Unless `raw`, a text that would start a formula is prefixed with `'`,
 * which spreadsheets show as text and do not display.
 */
function csvField(value: Value, raw: boolean): string {
  if (value === null) return '';
  const text = typeof value === 'string' && !raw && FORMULA_START.test(value) ? `'${value}` : String(value);
  return CSV_SPECIAL.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV header. */
function csvHeader(raw: boolean): string {
  return `${AUDIT_EXPORT_COLUMNS.map((column) => csvField(column, raw)).join(',')}\r\n`;
}

/** One entry as a CSV record, built as one string (a page is a thousand of them). */
function csvRecord(row: Row, raw: boolean): string {
  let out = '';
  for (let i = 0; i < AUDIT_EXPORT_COLUMNS.length; i++) {
    if (i > 0) out += ',';
    out += csvField(valueOf(row, AUDIT_EXPORT_COLUMNS[i]!), raw);
  }
  return `${out}\r\n`;
}

/** Each column's key in an NDJSON record, with the separator before it. */
const NDJSON_KEYS = AUDIT_EXPORT_COLUMNS.map((column, i) => `${i === 0 ? '{' : ','}${JSON.stringify(column)}:`);

/** `JSON.stringify` of the entry's columns in table order, written out directly (keys known, most values plain). */
function ndjsonRecord(row: Row): string {
  let out = '';
  for (let i = 0; i < AUDIT_EXPORT_COLUMNS.length; i++) {
    const value = valueOf(row, AUDIT_EXPORT_COLUMNS[i]!);
    out += NDJSON_KEYS[i]!;
    out += typeof value === 'string' ? jsonString(value) : JSON.stringify(value);
  }
  return `${out}}\n`;
}

async function write(out: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out as NodeJS.EventEmitter, 'drain');
}

/** Writes the org's entries of [from, to) in seq order to `out` and resolves with their count (it does not end `out`). */
export async function exportAudit(db: Kysely<AuditTables>, options: AuditExportOptions, out: NodeJS.WritableStream): Promise<{ entries: number }> {
  const raw = options.raw ?? false;
  if (options.format === 'csv') await write(out, csvHeader(raw));
  let entries = 0;
  const range = { orgId: options.orgId, pageSize: options.pageSize ?? 1000, ...(options.from ? { from: options.from } : {}), ...(options.to ? { to: options.to } : {}) };
  for await (const rows of auditEntryPages(db, range)) {
    let chunk = '';
    if (options.format === 'csv') for (const row of rows) chunk += csvRecord(row, raw);
    else for (const row of rows) chunk += ndjsonRecord(row);
    await write(out, chunk);
    entries += rows.length;
  }
  return { entries };
}
