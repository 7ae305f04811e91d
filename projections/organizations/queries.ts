// Reads of `organizations`.

import type { ReadDb } from '../read-models.js';
import type { OrganizationsTable } from './tables.js';

/** For DataLoader: the rows of `ids`, in order, an Error where one is missing. */
export async function organizationsByIds(db: ReadDb, ids: readonly string[]): Promise<(OrganizationsTable | Error)[]> {
  const rows = await db.selectFrom('organizations').selectAll().where('id', 'in', [...ids]).execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? new Error(`organization ${id} not found`));
}

export async function organizationById(db: ReadDb, id: string): Promise<OrganizationsTable | undefined> {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}
