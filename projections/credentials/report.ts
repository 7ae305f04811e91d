// The compliance report's reads: credentials active at a time, by kind and in lists (with their
// last use), and revocations by reason. Each list gives its count and its first items.

import type { Kysely } from 'kysely';
import type { RevocationReason } from '../../src/domain/events.js';
import { countRows } from '../core/pagination.js';
import { wasActiveAt } from './status.js';
import type { CredentialsTables, CredentialsTable } from './tables.js';
import type { PrincipalsTables } from '../principals/tables.js';
import type { UsageTables } from '../usage/tables.js';

export const REPORT_LIST_LIMIT = 100;

export interface ReportScope {
  readonly orgId: string;
  readonly asOf: Date;
}

export type ReportCredential = CredentialsTable & { last_used_at: string | null };

export interface ReportList {
  readonly totalCount: number;
  readonly items: readonly ReportCredential[];
}

/** Which active credentials a list names. */
export type ReportListKind =
  | { readonly list: 'UNSCOPED_APPLICATION_KEYS' }
  | { readonly list: 'UNUSED_SINCE'; readonly since: Date }
  | { readonly list: 'NEVER_USED' }
  | { readonly list: 'CREATED_BEFORE'; readonly before: Date }
  | { readonly list: 'API_KEYS_OF_DISABLED_CREATORS' };

function activeAt(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, scope: ReportScope) {
  return db
    .selectFrom('credentials')
    .leftJoin('credential_usage', 'credential_usage.credential_id', 'credentials.id')
    .where('credentials.org_id', '=', scope.orgId)
    .where(wasActiveAt(scope.asOf));
}

export async function activeCredentialCounts(
  db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>,
  scope: ReportScope,
): Promise<{ apiKeys: number; applicationKeys: number; clientTokens: number }> {
  const rows = await activeAt(db, scope)
    .select(['credentials.kind', (eb) => eb.fn.countAll<string | number>().as('n')])
    .groupBy('credentials.kind')
    .execute();
  const count = (kind: CredentialsTable['kind']) => Number(rows.find((row) => row.kind === kind)?.n ?? 0);
  return { apiKeys: count('API_KEY'), applicationKeys: count('APPLICATION_KEY'), clientTokens: count('CLIENT_TOKEN') };
}

export async function reportList(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, scope: ReportScope, kind: ReportListKind): Promise<ReportList> {
  let query = activeAt(db, scope);
  switch (kind.list) {
    case 'UNSCOPED_APPLICATION_KEYS':
      query = query.where('credentials.kind', '=', 'APPLICATION_KEY').where('credentials.scopes', 'is', null);
      break;
    case 'UNUSED_SINCE':
      query = query.where('credential_usage.last_used_at', '<', kind.since.toISOString());
      break;
    case 'NEVER_USED':
      query = query.where('credential_usage.credential_id', 'is', null);
      break;
    case 'CREATED_BEFORE':
      // A key rotated already (R18) is not due: its successor is, in its turn.
      query = query.where('credentials.created_at', '<', kind.before.toISOString()).where('credentials.successor_id', 'is', null);
      break;
    case 'API_KEYS_OF_DISABLED_CREATORS':
      query = query
        .where('credentials.kind', '=', 'API_KEY')
        .where('credentials.created_by', 'in', (eb) =>
          eb.selectFrom('principals').select('id').where('org_id', '=', scope.orgId).where('status', '=', 'DISABLED').where('disabled_at', '<=', scope.asOf.toISOString()),
        );
      break;
    default: {
      const unhandled: never = kind;
      throw new Error(`unknown report list ${JSON.stringify(unhandled)}`);
    }
  }
  const [items, totalCount] = await Promise.all([
    query.selectAll('credentials').select('credential_usage.last_used_at').orderBy('credentials.created_at').orderBy('credentials.id').limit(REPORT_LIST_LIMIT).execute(),
    countRows(query.selectAll('credentials')),
  ]);
  return { totalCount, items };
}

export async function revocationsByReason(
  db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>,
  orgId: string,
  from: Date,
  to: Date,
): Promise<{ reason: RevocationReason; count: number }[]> {
  const rows = await db
    .selectFrom('credentials')
    .select(['revocation_reason', (eb) => eb.fn.countAll<string | number>().as('n')])
    .where('org_id', '=', orgId)
    .where('revoked_at', '>=', from.toISOString())
    .where('revoked_at', '<', to.toISOString())
    .groupBy('revocation_reason')
    .orderBy('revocation_reason')
    .execute();
  return rows.flatMap((row) => (row.revocation_reason === null ? [] : [{ reason: row.revocation_reason, count: Number(row.n) }]));
}
