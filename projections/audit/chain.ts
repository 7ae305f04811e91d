// The audit log's hash chain (R24), defined once: the projection that writes the chain and the
// verifier that checks it both use these functions, so they cannot drift apart.
//
//   hash = sha256_hex(prev_hash + '\n' + canonical(entry))
//
// `canonical` is JSON with every object's keys sorted (by UTF-16 code units) at every depth and
// no white space: for the values the log holds (strings, integers, null) it is RFC 8785 (JCS).
// It covers every column of an entry except `seq` and `position` (so the chain does not depend
// on the log's global numbering or on the event store's position format) and the two hashes.

import * as crypto from 'node:crypto';

/** The `prev_hash` of an organization's first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The columns a hash covers, by their column names. */
export const CHAINED_COLUMNS = [
  'org_id',
  'org_seq',
  'event_id',
  'at',
  'kind',
  'event_type',
  'request_id',
  'api_key_id',
  'application_key_id',
  'client_token_id',
  'principal_id',
  'operation_type',
  'operation_name',
  'root_fields',
  'outcome',
  'error_code',
  'client_ip',
  'user_agent',
  'subject_id',
  'details',
] as const;

export type ChainedColumn = (typeof CHAINED_COLUMNS)[number];

/**
 * An entry as the chain sees it: `org_seq` a number (PostgreSQL returns a bigint as text),
 * every other column text or null.
 */
export type ChainedEntry = { readonly org_seq: number } & { readonly [C in Exclude<ChainedColumn, 'org_seq'>]: string | null };

/** JSON with sorted keys at every depth and no white space. Refuses what JSON cannot say exactly. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no representation for ${value}`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
    }
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      break;
  }
  throw new TypeError(`canonical JSON has no representation for a ${typeof value}`);
}

/** A column's value as text: the log holds text and integers. */
function columnText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  throw new TypeError(`an audit column holds a ${typeof value}`);
}

/** The chained columns of a row (as written, or as read back from either store). */
export function chainedEntry(row: { readonly [C in ChainedColumn]: unknown }): ChainedEntry {
  const entry: Record<string, string | number | null> = {};
  for (const column of CHAINED_COLUMNS) {
    const value = row[column];
    if (column === 'org_seq') entry[column] = Number(value);
    else entry[column] = value === null || value === undefined ? null : columnText(value);
  }
  return entry as ChainedEntry;
}

/** SHA-256 of the UTF-8 text, in hex (one-shot `crypto.hash` where Node has it: 20.12 and later). */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** The chained columns in canonical (sorted) order, each with its JSON key and separator. */
const SORTED_KEYS = [...CHAINED_COLUMNS].sort().map((column, i) => ({ column, prefix: `${i === 0 ? '{' : ','}${JSON.stringify(column)}:` }));

/** Strings that JSON.stringify leaves as they are: no quote, backslash, control character or surrogate. */
// oxlint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** `JSON.stringify(text)`, without its work for the texts it leaves as they are (most of a log's). */
export function jsonString(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

/**
 * `canonicalJson(chainedEntry(row))`, written out directly: an entry is a flat object of known
 * keys, and a rebuild hashes a million of them (the general function spends most of its time
 * listing and sorting keys, and JSON.stringify most of the rest). A test holds the two equal.
 */
export function canonicalEntry(row: { readonly [C in ChainedColumn]: unknown }): string {
  let out = '';
  for (const { column, prefix } of SORTED_KEYS) {
    const value = row[column];
    out += prefix;
    if (column === 'org_seq') out += canonicalJson(Number(value));
    else if (value === null || value === undefined) out += 'null';
    else {
      out += jsonString(columnText(value));
    }
  }
  return `${out}}`;
}

/** The hash of an entry that follows `prevHash`. */
export function entryHash(prevHash: string, row: { readonly [C in ChainedColumn]: unknown }): string {
  return sha256Hex(`${prevHash}\n${canonicalEntry(row)}`);
}

/**
 * `prev_hash || '\n' || canonicalEntry(row)` as a SQLite expression over audit_log's columns: what
 * the hash of a stored row covers, made by the store as it reads the row (so that a verifier
 * over millions of rows neither materialises every column nor builds the text in JavaScript).
 * `json_object` with the keys in canonical order writes exactly that object: no white space, a
 * text as `JSON.stringify` writes it (a test holds the two texts equal), an integer as its digits,
 * null as null. A verifier that finds a mismatch this way still recomputes the entry with
 * canonicalEntry before it names it: this text is a fast path, canonicalEntry the definition.
 */
export const SQLITE_HASHED_TEXT = `"prev_hash" || char(10) || json_object(${SORTED_KEYS.map(({ column }) => `'${column}', "${column}"`).join(', ')})`;
