// Reads of the audit log: the `auditLog` page (keyset on seq, filtered), the entries of a batch of
// events for the `auditEntries` feed (the same filter), and an organization's entries in pages for
// export. The chain check is integrity.ts.

import { type Kysely, sql, type Selectable, type SelectQueryBuilder } from 'kysely';
import type { CredentialKind } from '../../src/domain/events.js';
import { keysetConnection, type Connection, type Keyset, type PageArgs } from '../core/pagination.js';
import { readStoreDialect } from '../core/read-store.js';
import { AUDIT_COUNTED_COLUMNS } from './projection.js';
import type { AuditCountDimension, AuditTables, AuditLogTable } from './tables.js';

export type AuditEntryRow = Selectable<AuditLogTable>;

export type AuditOrder = 'NEWEST_FIRST' | 'OLDEST_FIRST';

export interface AuditLogFilter {
  /** Entries that presented this credential, or were made with it. */
  readonly credential?: { readonly kind: CredentialKind; readonly id: string } | null;
  readonly principalId?: string | null;
  /** An operation name, a root field, or an HTTP route. */
  readonly operation?: string | null;
  readonly requestId?: string | null;
  readonly kind?: 'REQUEST' | 'LIFECYCLE' | null;
  readonly outcome?: 'ALLOWED' | 'DENIED' | 'FAILED' | null;
  readonly from?: Date | null;
  readonly to?: Date | null;
}

const CREDENTIAL_COLUMN = {
  API_KEY: AUDIT_COUNTED_COLUMNS.API_KEY,
  APPLICATION_KEY: AUDIT_COUNTED_COLUMNS.APPLICATION_KEY,
  CLIENT_TOKEN: AUDIT_COUNTED_COLUMNS.CLIENT_TOKEN,
} as const satisfies Record<CredentialKind, keyof AuditLogTable>;

type AuditQuery = SelectQueryBuilder<AuditTables, 'audit_log', AuditEntryRow>;

/** The entries of an organization that match a filter (the `auditLog` page's and the `auditEntries` feed's). */
function filtered(db: Kysely<AuditTables>, orgId: string, filter: AuditLogFilter | null | undefined): AuditQuery {
  let query = db.selectFrom('audit_log').selectAll().where('org_id', '=', orgId);
  if (filter) {
    if (filter.credential) query = query.where(CREDENTIAL_COLUMN[filter.credential.kind], '=', filter.credential.id);
    if (filter.principalId != null) query = query.where('principal_id', '=', filter.principalId);
    if (filter.operation != null) {
      const operation = filter.operation;
      const inRootFields =
        readStoreDialect(db) === 'postgres'
          ? sql<boolean>`root_fields::jsonb @> ${JSON.stringify([operation])}::jsonb`
          : sql<boolean>`exists (select 1 from json_each(audit_log.root_fields) where json_each.value = ${operation})`;
      query = query.where((eb) => eb.or([eb('operation_name', '=', operation), inRootFields]));
    }
    if (filter.requestId != null) query = query.where('request_id', '=', filter.requestId);
    if (filter.kind) query = query.where('kind', '=', filter.kind);
    if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
    if (filter.from) query = query.where('at', '>=', filter.from.toISOString());
    if (filter.to) query = query.where('at', '<', filter.to.toISOString());
  }
  return query;
}

/**
 * The row of `audit_counts` that holds the filter's count, when it has one: no filter (the
 * organization's entries), or one credential or one principal and nothing else.
 */
function countedBy(filter: AuditLogFilter | null | undefined): { dimension: AuditCountDimension; id: string } | null {
  if (!filter) return { dimension: 'ORG', id: '' };
  // Any other field set (one added later included) is counted the slow way.
  for (const [key, value] of Object.entries(filter)) if (value != null && key !== 'credential' && key !== 'principalId') return null;
  const { credential, principalId } = filter;
  if (credential && principalId != null) return null;
  if (credential) return { dimension: credential.kind, id: credential.id };
  if (principalId != null) return { dimension: 'PRINCIPAL', id: principalId };
  return { dimension: 'ORG', id: '' };
}

/** The column a counted page's statement carries the count in. */
const COUNTED_TOTAL = 'audit_counted_total';

function seqKeyset<Row extends { readonly seq: number | string }>(order: AuditOrder): Keyset<Row> {
  return { tag: [order], direction: order === 'NEWEST_FIRST' ? 'DESC' : 'ASC', keys: [{ column: 'seq', kind: 'integer', of: (row) => Number(row.seq) }] };
}

/**
 * A page of the log, newest or oldest first, keyset on seq. When the filter's count is kept
 * (`audit_counts`, see countedBy) and `totalCount` is asked for, the page's statement reads it
 * from there (one row, in the same statement, so the count and the rows are of one snapshot)
 * instead of counting the entries; other filters count them.
 */
export async function auditLogPage(
  db: Kysely<AuditTables>,
  orgId: string,
  filter: AuditLogFilter | null | undefined,
  order: AuditOrder,
  page: PageArgs,
): Promise<Connection<AuditEntryRow>> {
  const counted = page.totalCount ? countedBy(filter) : null;
  if (counted === null) return keysetConnection(filtered(db, orgId, filter), seqKeyset(order), page);
  const countQuery = db.selectFrom('audit_counts').select('entries').where('org_id', '=', orgId).where('dimension', '=', counted.dimension).where('id', '=', counted.id);
  const connection = await keysetConnection(
    filtered(db, orgId, filter).select(countQuery.as(COUNTED_TOTAL)),
    seqKeyset<AuditEntryRow & { [COUNTED_TOTAL]: number | string | null }>(order),
    { ...page, totalCount: false },
  );
  const first = connection.edges[0]?.node;
  let total: Promise<number> | undefined;
  return {
    ...connection,
    // No row carried it (nothing matches, or the page is past the last entry): read it alone.
    totalCount: () => (total ??= first ? Promise.resolve(Number(first[COUNTED_TOTAL] ?? 0)) : countQuery.executeTakeFirst().then((row) => Number(row?.entries ?? 0))),
  };
}

/** The `auditEntries` feed: the organization's entries of these events that match the filter, in log order. */
export function auditEntriesOfEvents(db: Kysely<AuditTables>, orgId: string, eventIds: readonly string[], filter: AuditLogFilter | null | undefined): Promise<AuditEntryRow[]> {
  if (eventIds.length === 0) return Promise.resolve([]);
  return filtered(db, orgId, filter)
    .where('event_id', 'in', [...eventIds])
    .orderBy('seq')
    .execute();
}

/**
 * An organization's entries of [from, to) in seq order, a page at a time: keyset pages, which
 * never miss an entry since entries commit in seq order.
 */
export async function* auditEntryPages(db: Kysely<AuditTables>, options: { orgId: string; from?: Date; to?: Date; pageSize: number }): AsyncGenerator<AuditEntryRow[]> {
  for (let after = 0; ; ) {
    let page = db.selectFrom('audit_log').selectAll().where('org_id', '=', options.orgId).where('seq', '>', after);
    if (options.from) page = page.where('at', '>=', options.from.toISOString());
    if (options.to) page = page.where('at', '<', options.to.toISOString());
    const rows = await page.orderBy('seq').limit(options.pageSize).execute();
    if (rows.length > 0) yield rows;
    if (rows.length < options.pageSize) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}
