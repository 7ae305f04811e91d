// Reads of `credential_usage`.

import type { Kysely } from 'kysely';
import type { UsageTables } from './tables.js';

/** When each credential was last used (to the minute), in the order of `ids`; one query. */
export async function lastUsedByIds(db: Kysely<UsageTables>, ids: readonly string[]): Promise<(string | null)[]> {
  const rows = await db
    .selectFrom('credential_usage')
    .select(['credential_id', 'last_used_at'])
    .where('credential_id', 'in', [...ids])
    .execute();
  const byId = new Map(rows.map((row) => [row.credential_id, row.last_used_at]));
  return ids.map((id) => byId.get(id) ?? null);
}
