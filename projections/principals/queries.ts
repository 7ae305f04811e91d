// Reads of `principals`: by ids (DataLoader), and the `principals` list.

import { type Kysely, sql } from 'kysely';
import type { PrincipalKind } from '../../src/domain/events.js';
import { nameKey } from '../../src/domain/names.js';
import type { Role } from '../../src/domain/permissions.js';
import { containsPattern, keysetConnection, listKeyset, reusedRows, type Connection, type ListOrder, type PageArgs } from '../core/pagination.js';
import type { PrincipalsTables, PrincipalsTable } from './tables.js';

/** For DataLoader: the rows of `ids`, in order, an Error where one is missing. */
export async function principalsByIds(db: Kysely<PrincipalsTables>, ids: readonly string[]): Promise<(PrincipalsTable | Error)[]> {
  const rows = await reusedRows({
    db,
    key: `principals-by-ids|${ids.length}`,
    values: ids,
    build: (values) =>
      db
        .selectFrom('principals')
        .selectAll()
        .where('id', 'in', values as string[]),
  });
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? new Error(`principal ${id} not found`));
}

export async function principalById(db: Kysely<PrincipalsTables>, id: string): Promise<PrincipalsTable | undefined> {
  return db.selectFrom('principals').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface PrincipalFilter {
  readonly kind?: PrincipalKind | null;
  readonly status?: 'ACTIVE' | 'DISABLED' | null;
  readonly role?: Role | null;
  readonly nameContains?: string | null;
  readonly createdAfter?: Date | null;
  readonly createdBefore?: Date | null;
}

export function listPrincipals(
  db: Kysely<PrincipalsTables>,
  orgId: string,
  filter: PrincipalFilter | null | undefined,
  order: ListOrder,
  page: PageArgs,
): Promise<Connection<PrincipalsTable>> {
  let query = db.selectFrom('principals').selectAll().where('org_id', '=', orgId);
  if (filter?.kind) query = query.where('kind', '=', filter.kind);
  if (filter?.status) query = query.where('status', '=', filter.status);
  if (filter?.role) query = query.where('role', '=', filter.role);
  if (filter?.nameContains) query = query.where(sql<boolean>`name_key like ${containsPattern(nameKey(filter.nameContains))} escape '\\'`);
  if (filter?.createdAfter) query = query.where('created_at', '>=', filter.createdAfter.toISOString());
  if (filter?.createdBefore) query = query.where('created_at', '<', filter.createdBefore.toISOString());
  return keysetConnection(query, listKeyset<PrincipalsTable>(order), page);
}
