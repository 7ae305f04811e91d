// The lists' totalCount without counting (credential_counts, kept by the credentials projection):
// an unfiltered list of an org, and a principal's own application keys, read a count the
// projection keeps in the transaction of each credential it adds. It equals counting the rows
// as keys are created, rotated and revoked, after a rebuild, and when its migration counts rows
// that are already there; and totalCount over GraphQL says the same.

import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsProjection } from '../../projections/credentials/projection.js';
import type { ReadModels } from '../../projections/read-models.js';
import {
  ApiKeysDocument,
  ApplicationKeysDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  RevokeApiKeyDocument,
  RotateApiKeyDocument,
} from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { member } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';

const pg = await pgReachable();

/** What counting the rows gives: the org's per kind, and each owner's. */
async function counted(db: Kysely<ReadModels>): Promise<string[]> {
  const all = await db
    .selectFrom('credentials')
    .select(['org_id', 'kind', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy(['org_id', 'kind'])
    .execute();
  const owned = await db
    .selectFrom('credentials')
    .select(['org_id', 'kind', 'owner_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('owner_id', 'is not', null)
    .groupBy(['org_id', 'kind', 'owner_id'])
    .execute();
  return [...all.map((r) => `${r.org_id} ${r.kind} - ${Number(r.n)}`), ...owned.map((r) => `${r.org_id} ${r.kind} ${r.owner_id} ${Number(r.n)}`)].sort();
}

async function kept(db: Kysely<ReadModels>): Promise<string[]> {
  const rows = await db.selectFrom('credential_counts').selectAll().execute();
  return rows.map((r) => `${r.org_id} ${r.kind} ${r.owner_id === '' ? '-' : r.owner_id} ${Number(r.entries)}`).sort();
}

function suite(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway({ store });
  });
  afterAll(() => g?.close());

  it(`keeps each count equal to counting the rows, and totalCount says it (${store})`, async () => {
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const other = await g.newOrg();
    for (let i = 0; i < 3; i++) expect((await g.call(CreateApplicationKeyDocument, { name: `robot-${i}`, ownerId: robot.id })).errors).toBeUndefined();
    const made = await g.call(CreateApiKeyDocument, { name: 'to rotate' });
    const rotated = await g.call(RotateApiKeyDocument, { id: made.data!.createApiKey.apiKey.id, gracePeriod: 60 });
    expect(rotated.errors).toBeUndefined();
    const revoked = await g.call(CreateApiKeyDocument, { name: 'to revoke' });
    expect((await g.call(RevokeApiKeyDocument, { id: revoked.data!.createApiKey.apiKey.id })).errors).toBeUndefined();
    expect((await g.call(CreateClientTokenDocument, { name: 'browser' })).errors).toBeUndefined();
    expect((await g.call(CreateApiKeyDocument, { name: 'elsewhere' }, other.admin)).errors).toBeUndefined();

    const db = g.app.readStore.db;
    expect(await kept(db)).toEqual(await counted(db));
    const apiKeys = await db
      .selectFrom('credentials')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('org_id', '=', g.org.organization.id)
      .where('kind', '=', 'API_KEY')
      .executeTakeFirstOrThrow();
    expect((await g.call(ApiKeysDocument, { first: 1 })).data?.apiKeys.totalCount).toBe(Number(apiKeys.n));
    // The robot's own key sees its own keys only: 1 made with it, and 3 more.
    const own = await g.call(ApplicationKeysDocument, { first: 1 }, robot.credentials);
    expect(own.errors).toBeUndefined();
    expect(own.data?.applicationKeys.totalCount).toBe(4);

    // Rebuilt, and counted by its migration over rows already there: the same.
    await g.app.runner.rebuild('credentials');
    expect(await kept(db)).toEqual(await counted(db));
    const migration = credentialsProjection.migrations['0003_counts']!;
    await migration.down(db as unknown as Kysely<unknown>);
    await migration.up(db as unknown as Kysely<unknown>);
    expect(await kept(db)).toEqual(await counted(db));
    expect(Number((await sql<{ n: number | string }>`select count(*) as n from credential_counts`.execute(db)).rows[0]!.n)).toBeGreaterThan(0);
  });
}

describe('credential counts on SQLite', () => {
  suite('sqlite');
});
describePg(pg, 'credential counts on PostgreSQL', () => {
  suite('postgres');
});
