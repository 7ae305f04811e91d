// Checks an organization's audit chain (R24): recomputes each entry's hash from the previous one,
// in org_seq order, a page at a time, and names the first entry where the chain breaks.
//
// On SQLite the store makes the text each hash covers as it reads the row (chain.ts:
// SQLITE_HASHED_TEXT), so a page is four values a row (org_seq, the two hashes, that text) and
// one SHA-256 each: at ten million entries, materialising every column and building the canonical
// JSON in JavaScript cost as much again as reading the rows. Where the entry is (seq, event id,
// time) is read only for the entry that breaks the chain. PostgreSQL reads the rows whole and
// hashes them with entryHash.

import { sql, type Kysely } from 'kysely';
import { setImmediate as turn } from 'node:timers/promises';
import { readStoreDialect } from '../core/read-store.js';
import { GENESIS_HASH, SQLITE_HASHED_TEXT, entryHash, sha256Hex } from './chain.js';
import type { AuditTables } from './tables.js';

/**
 * - `hash mismatch`: the entry's content is not what its hash covers (the row was changed);
 * - `broken link`: its prev_hash is not the previous entry's hash (an entry before it was
 *   replaced, hash and all), or the chain head does not link to it;
 * - `gap`: org_seq does not follow on from the previous entry (entries are missing before it,
 *   or, at the end of the chain, after it).
 */
type ChainBreakReason = 'hash mismatch' | 'broken link' | 'gap';

export interface ChainBreak {
  readonly seq: number;
  readonly orgSeq: number;
  readonly eventId: string;
  readonly at: string;
  readonly reason: ChainBreakReason;
}

export interface ChainVerification {
  readonly ok: boolean;
  /** Entries checked, up to and including the first broken one. */
  readonly checked: number;
  readonly firstBroken: ChainBreak | null;
}

export interface ChainRange {
  /** Entries at or after this time. */
  readonly from?: Date;
  /** Entries before this time. */
  readonly to?: Date;
}

/** Entries per read: a page of the SQLite path is some 5 MB of text. */
const PAGE_SIZE = 5000;

/** What the check reads of an entry: its place in the chain, its links, and on SQLite the text its hash covers (elsewhere, every column). */
interface Row {
  readonly org_seq: number | string;
  readonly prev_hash: string;
  readonly hash: string;
  readonly hashed?: string;
  readonly seq?: number | string;
  readonly event_id?: string;
  readonly at?: string;
}

/**
 * Verifies the org's chain, or the segment of it that holds the entries of [from, to). Entry
 * times need not grow with org_seq (a request's time is when it arrived), so the segment runs
 * from the lowest to the highest org_seq of the entries in range, every entry between them
 * included; its first entry must link to the entry before it.
 */
export async function verifyAuditChain(db: Kysely<AuditTables>, orgId: string, range: ChainRange = {}): Promise<ChainVerification> {
  let low = 1;
  let high = Number.POSITIVE_INFINITY;
  if (range.from || range.to) {
    let bounds = db
      .selectFrom('audit_log')
      .select((eb) => [eb.fn.min('org_seq').as('low'), eb.fn.max('org_seq').as('high')])
      .where('org_id', '=', orgId);
    if (range.from) bounds = bounds.where('at', '>=', range.from.toISOString());
    if (range.to) bounds = bounds.where('at', '<', range.to.toISOString());
    const found = await bounds.executeTakeFirst();
    if (found?.low === null || found?.low === undefined) return { ok: true, checked: 0, firstBroken: null };
    if (range.from) low = Number(found.low);
    if (range.to) high = Number(found.high);
  }
  // Read before the entries: entries only ever follow it, so a concurrent append cannot look like a loss.
  const head = range.to ? undefined : await db.selectFrom('audit_chain_heads').select(['last_org_seq', 'last_hash']).where('org_id', '=', orgId).executeTakeFirst();

  let expectedSeq = low;
  let expectedPrev = GENESIS_HASH;
  let checked = 0;
  let last: Row | undefined;
  let previousMissing = false;
  if (low > 1) {
    const previous = await db
      .selectFrom('audit_log')
      .select('hash')
      .where('org_id', '=', orgId)
      .where('org_seq', '=', low - 1)
      .executeTakeFirst();
    if (previous) expectedPrev = previous.hash;
    else previousMissing = true;
  }
  const headSeq = head ? Number(head.last_org_seq) : null;

  const sqlite = readStoreDialect(db) === 'sqlite';
  /** The break at this entry, with where it is (read now if the page did not). */
  const broken = async (row: Row, reason: ChainBreakReason): Promise<ChainBreak> => {
    const where =
      row.seq !== undefined && row.event_id !== undefined && row.at !== undefined
        ? { seq: row.seq, event_id: row.event_id, at: row.at }
        : await db.selectFrom('audit_log').select(['seq', 'event_id', 'at']).where('org_id', '=', orgId).where('org_seq', '=', row.org_seq).executeTakeFirstOrThrow();
    return { seq: Number(where.seq), orgSeq: Number(row.org_seq), eventId: where.event_id, at: where.at, reason };
  };
  /** Whether the entry is what its hash covers: on SQLite by the store's text, and when that does not match, by the whole row. */
  const holds = (row: Row): boolean => (row.hashed === undefined ? entryHash(row.prev_hash, row as Row & Parameters<typeof entryHash>[1]) : sha256Hex(row.hashed)) === row.hash;
  const wholeHolds = async (row: Row): Promise<boolean> => {
    if (row.hashed === undefined) return false;
    const whole = await db.selectFrom('audit_log').selectAll().where('org_id', '=', orgId).where('org_seq', '=', row.org_seq).executeTakeFirstOrThrow();
    return entryHash(whole.prev_hash, whole) === row.hash;
  };

  for (let after = low - 1; ; ) {
    const from = db.selectFrom('audit_log').where('org_id', '=', orgId).where('org_seq', '>', after);
    let page = sqlite ? from.select(['org_seq', 'prev_hash', 'hash', sql.raw<string>(SQLITE_HASHED_TEXT).as('hashed')]).$castTo<Row>() : from.selectAll().$castTo<Row>();
    if (Number.isFinite(high)) page = page.where('org_seq', '<=', high);
    const rows: Row[] = await page.orderBy('org_seq').limit(PAGE_SIZE).execute();
    for (const row of rows) {
      checked++;
      const orgSeq = Number(row.org_seq);
      if (orgSeq !== expectedSeq || previousMissing) return { ok: false, checked, firstBroken: await broken(row, 'gap') };
      if (row.prev_hash !== expectedPrev) return { ok: false, checked, firstBroken: await broken(row, 'broken link') };
      if (!holds(row) && !(await wholeHolds(row))) return { ok: false, checked, firstBroken: await broken(row, 'hash mismatch') };
      // The last entry the head knows must be the one it links to (catches a replaced last entry).
      if (head && orgSeq === headSeq && row.hash !== head.last_hash) return { ok: false, checked, firstBroken: await broken(row, 'broken link') };
      expectedSeq = orgSeq + 1;
      expectedPrev = row.hash;
      last = row;
    }
    if (rows.length < PAGE_SIZE) break;
    after = Number(rows[rows.length - 1]!.org_seq);
    // Between pages, what else waits (other requests) gets its turn: a long chain is checked over many.
    await turn();
  }

  // Entries missing at the end of the chain: the head records more than there are.
  if (headSeq !== null && (last === undefined ? 0 : Number(last.org_seq)) < headSeq && low <= headSeq) {
    if (last) return { ok: false, checked, firstBroken: await broken(last, 'gap') };
    return { ok: false, checked, firstBroken: { seq: 0, orgSeq: low, eventId: '', at: '', reason: 'gap' } };
  }
  return { ok: true, checked, firstBroken: null };
}
