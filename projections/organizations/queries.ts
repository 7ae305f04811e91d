// Reads of `organizations`.

import type { Kysely } from 'kysely';
import type { OrganizationsTables, OrganizationsTable } from './tables.js';

/** For DataLoader: the rows of `ids`, in order, an Error where one is missing. */
export async function organizationsByIds(db: Kysely<OrganizationsTables>, ids: readonly string[]): Promise<(OrganizationsTable | Error)[]> {
  const rows = await db
    .selectFrom('organizations')
    .selectAll()
    .where('id', 'in', [...ids])
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? new Error(`organization ${id} not found`));
}

export async function organizationById(db: Kysely<OrganizationsTables>, id: string): Promise<OrganizationsTable | undefined> {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}
