// Reads of `credentials`: by ids (DataLoader), the three lists with their filters, and what a
// command needs to find a key's stream.

import { type Kysely, sql } from 'kysely';
import type { CredentialStatus } from '../../src/domain/credential.js';
import { DomainError } from '../../src/domain/errors.js';
import type { CredentialKind } from '../../src/domain/events.js';
import { nameKey } from '../../src/domain/names.js';
import type { ApplicationKeyReadScope } from '../../src/domain/principal.js';
import {
  containsPattern,
  countRows,
  keysetConnection,
  listKeyset,
  reusedKeysetConnection,
  reusedRows,
  type Connection,
  type ListOrder,
  type PageArgs,
} from '../core/pagination.js';
import { hasStatus } from './status.js';
import type { CredentialsTables, CredentialsTable } from './tables.js';
import type { PrincipalsTables } from '../principals/tables.js';
import type { UsageTables } from '../usage/tables.js';

/** For DataLoader: the credentials of one kind with `ids`, in order, an Error where one is missing (or of another kind). */
export async function credentialsByIds(
  db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>,
  ids: readonly string[],
  kind: CredentialKind,
): Promise<(CredentialsTable | Error)[]> {
  const rows = await reusedRows({
    db,
    key: `credentials-by-ids|${kind}|${ids.length}`,
    values: ids,
    build: (values) =>
      db
        .selectFrom('credentials')
        .selectAll()
        .where('id', 'in', values as string[])
        .where('kind', '=', kind),
  });
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? new Error(`credential ${id} not found`));
}

export async function credentialById(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, id: string): Promise<CredentialsTable | undefined> {
  const [row] = await reusedRows({
    db,
    key: 'credential-by-id',
    values: [id],
    build: ([value]) =>
      db
        .selectFrom('credentials')
        .selectAll()
        .where('id', '=', value as string),
  });
  return row;
}

/** The owner (whose stream holds it) and org of an application key. */
export async function applicationKeyOwner(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, keyId: string): Promise<{ ownerId: string; orgId: string } | undefined> {
  const row = await db.selectFrom('credentials').select(['owner_id', 'org_id']).where('id', '=', keyId).where('kind', '=', 'APPLICATION_KEY').executeTakeFirst();
  return row?.owner_id ? { ownerId: row.owner_id, orgId: row.org_id } : undefined;
}

/** The API keys that count against the limit (R2): active, less rotated ones in their grace (R18), whose successors count instead. */
export async function activeApiKeyCount(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, orgId: string, now: Date): Promise<number> {
  return countRows(
    db.selectFrom('credentials').selectAll().where('org_id', '=', orgId).where('kind', '=', 'API_KEY').where(hasStatus('ACTIVE', now)).where('successor_id', 'is', null),
  );
}

/** What time has brought and is not yet recorded: a rotation's grace that ended (R18), an application key's expiry (R19). */
export interface DueWork {
  readonly work: 'END_GRACE' | 'RECORD_EXPIRY';
  readonly id: string;
  readonly kind: CredentialKind;
  readonly orgId: string;
  readonly ownerId: string | null;
  /** When it fell due (ISO-8601). */
  readonly dueAt: string;
}

// Both read a partial index of the rows still waiting (projection.ts, 0002): the cost is that of
// the due rows, not of the table. The status is a literal, as in the indexes' predicates, so that
// the planners (SQLite's above all) can see that the index covers the query.
const ACTIVE = sql<boolean>`status = 'ACTIVE'`;
const graceDue = (db: Kysely<CredentialsTables>) => db.selectFrom('credentials').where(ACTIVE).where('revokes_at', 'is not', null);
const expiryDue = (db: Kysely<CredentialsTables>) => db.selectFrom('credentials').where(ACTIVE).where('expires_at', 'is not', null).where('expiry_recorded_at', 'is', null);

/** At most `limit` of each work due at `now`, earliest first. */
export async function dueWork(db: Kysely<CredentialsTables>, now: Date, limit: number): Promise<DueWork[]> {
  const at = now.toISOString();
  const [graces, expiries] = await Promise.all([
    graceDue(db).select(['id', 'kind', 'org_id', 'owner_id', 'revokes_at']).where('revokes_at', '<=', at).orderBy('revokes_at').limit(limit).execute(),
    expiryDue(db).select(['id', 'kind', 'org_id', 'owner_id', 'expires_at']).where('expires_at', '<=', at).orderBy('expires_at').limit(limit).execute(),
  ]);
  return [
    ...graces.map((r): DueWork => ({ work: 'END_GRACE', id: r.id, kind: r.kind, orgId: r.org_id, ownerId: r.owner_id, dueAt: r.revokes_at ?? at })),
    ...expiries.map((r): DueWork => ({ work: 'RECORD_EXPIRY', id: r.id, kind: r.kind, orgId: r.org_id, ownerId: r.owner_id, dueAt: r.expires_at ?? at })),
  ].sort((a, b) => (a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : 0));
}

/** When the next work falls due (ISO-8601), or null when nothing waits. */
export async function nextDueTime(db: Kysely<CredentialsTables>): Promise<string | null> {
  const [grace, expiry] = await Promise.all([
    graceDue(db).select('revokes_at as at').orderBy('revokes_at').limit(1).executeTakeFirst(),
    expiryDue(db).select('expires_at as at').orderBy('expires_at').limit(1).executeTakeFirst(),
  ]);
  const times = [grace?.at, expiry?.at].filter((t): t is string => typeof t === 'string');
  return times.length === 0 ? null : times.reduce((a, b) => (a < b ? a : b));
}

export interface CredentialFilter {
  readonly status?: CredentialStatus | null;
  /** Application keys only: the owning principal. */
  readonly ownerId?: string | null;
  readonly createdById?: string | null;
  readonly nameContains?: string | null;
  readonly createdAfter?: Date | null;
  readonly createdBefore?: Date | null;
  readonly lastUsedAfter?: Date | null;
  readonly lastUsedBefore?: Date | null;
}

/** A row of a list: the credential, and when it was last used when the list was asked to read it too. */
export type CredentialRow = CredentialsTable & { readonly last_used_at?: string | null };

export interface CredentialList {
  readonly orgId: string;
  readonly kind: CredentialKind;
  /** Application keys: whose the reader may see. */
  readonly readScope?: ApplicationKeyReadScope;
  readonly filter?: CredentialFilter | null;
  readonly order: ListOrder;
  readonly page: PageArgs;
  /** The request's clock reading: status filters judge expiry against it. */
  readonly now: Date;
  /** Read when each was last used (`last_used_at`) in the page's statement. */
  readonly withLastUsed?: boolean;
  /**
   * The columns the caller reads of each row (the page's own, its keyset's and `kind` are added):
   * a page reads no more than it shows. Default: every column.
   */
  readonly columns?: readonly (keyof CredentialsTable)[] | null;
}

/** What every row of a list carries, whatever the caller reads: its id, kind and org, and the keysets' columns. */
const LIST_COLUMNS = ['id', 'kind', 'org_id', 'name_key', 'created_at'] as const satisfies readonly (keyof CredentialsTable)[];

function listColumns(columns: readonly (keyof CredentialsTable)[]): (keyof CredentialsTable)[] {
  return [...new Set<keyof CredentialsTable>([...LIST_COLUMNS, ...columns])];
}

export function listCredentials(db: Kysely<CredentialsTables & UsageTables & PrincipalsTables>, list: CredentialList): Promise<Connection<CredentialRow>> {
  const scope = list.readScope;
  const restricted = scope !== undefined && !scope.all;
  const filter = list.filter;
  // The list with its values: [orgId] or [orgId, the reader's principalId].
  const build = (values: readonly unknown[]) => {
    const orgId = values[0] as string;
    const from = db.selectFrom('credentials');
    // A narrower row than CredentialsTable when the caller names its columns: it reads no other.
    let query = (list.columns ? from.select(listColumns(list.columns)).$castTo<CredentialsTable>() : from.selectAll()).where('org_id', '=', orgId).where('kind', '=', list.kind);
    if (restricted) {
      const principalId = values[1] as string;
      query = scope.serviceAccounts
        ? query.where((eb) =>
            eb.or([
              eb('owner_id', '=', principalId),
              eb('owner_id', 'in', eb.selectFrom('principals').select('id').where('org_id', '=', orgId).where('kind', '=', 'SERVICE_ACCOUNT')),
            ]),
          )
        : query.where('owner_id', '=', principalId);
    }
    if (filter) {
      if (filter.status) query = query.where(hasStatus(filter.status, list.now));
      if (filter.ownerId != null) {
        if (list.kind !== 'APPLICATION_KEY') throw new DomainError('BAD_USER_INPUT', 'ownerId filters application keys only; use createdById', 'filter.ownerId');
        query = query.where('owner_id', '=', filter.ownerId);
      }
      if (filter.createdById != null) query = query.where('created_by', '=', filter.createdById);
      if (filter.nameContains) query = query.where(sql<boolean>`name_key like ${containsPattern(nameKey(filter.nameContains))} escape '\\'`);
      if (filter.createdAfter) query = query.where('created_at', '>=', filter.createdAfter.toISOString());
      if (filter.createdBefore) query = query.where('created_at', '<', filter.createdBefore.toISOString());
      const { lastUsedAfter, lastUsedBefore } = filter;
      if (lastUsedAfter || lastUsedBefore) {
        query = query.where('id', 'in', (eb) => {
          let used = eb.selectFrom('credential_usage').select('credential_id');
          if (lastUsedAfter) used = used.where('last_used_at', '>=', lastUsedAfter.toISOString());
          if (lastUsedBefore) used = used.where('last_used_at', '<', lastUsedBefore.toISOString());
          return used;
        });
      }
    }
    if (!list.withLastUsed) return query.$castTo<CredentialRow>();
    return query
      .select((eb) => eb.selectFrom('credential_usage').select('last_used_at').whereRef('credential_usage.credential_id', '=', 'credentials.id').as('last_used_at'))
      .$castTo<CredentialRow>();
  };
  const values = restricted ? [list.orgId, scope.principalId] : [list.orgId];
  const keyset = listKeyset<CredentialRow>(list.order);
  // A filtered list is built each time; the plain one (a dashboard's) is compiled once per shape.
  if (filter) return keysetConnection(build(values), keyset, list.page);
  const key = `credentials|${list.kind}|${restricted ? (scope.serviceAccounts ? 'own+service' : 'own') : 'all'}|${list.columns?.join(',') ?? '*'}|${list.withLastUsed ? 'used' : ''}`;
  // The org's list, or a principal's own keys, reads its count where the projection keeps it (credential_counts).
  const kept = !restricted || !scope.serviceAccounts;
  const count = kept
    ? (vs: readonly unknown[]) =>
        db
          .selectFrom('credential_counts')
          .select(sql<number | string>`coalesce(sum(entries), 0)`.as('n'))
          .where('org_id', '=', vs[0] as string)
          .where('kind', '=', list.kind)
          .where('owner_id', '=', restricted ? (vs[1] as string) : '')
    : undefined;
  return reusedKeysetConnection({ db, key, values, build, ...(count === undefined ? {} : { count }) }, keyset, list.page);
}
