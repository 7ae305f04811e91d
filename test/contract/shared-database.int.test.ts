// Several keyledger deployments and another application on one PostgreSQL database: each
// deployment's event store and read store keep their Kysely migration history in their own
// schema, under their own table names, so neither a neighbour deployment nor another
// application's `kysely_migration` / `kysely_migration_lock` tables get in the way.

import { Migrator, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { EVENT_STORE_MIGRATION_LOCK_TABLE, EVENT_STORE_MIGRATION_TABLE } from '../../src/eventstore/postgres.js';
import { ApiKeysDocument, CreateApiKeyDocument } from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';

const available = await pgReachable();

/** Schemas this file created, dropped at the end whatever happened. */
const created: Array<{ drop(): Promise<void> }> = [];

afterAll(async () => {
  for (const schema of created.splice(0)) await schema.drop().catch(() => undefined);
});

async function ownSchema(prefix: string): Promise<string> {
  const schema = await createTestSchema(prefix);
  created.push(schema);
  return schema.schema;
}

async function onConnection<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * Another application's Kysely tables, as Kysely's Migrator makes them (default names), in the
 * schema first on that application's search_path. The database is shared with other users, so
 * this test never writes to `public`: the foreign schema is one it creates. That is enough to
 * reproduce the original failure, because Kysely's Migrator looks for its tables in every schema
 * of the database unless told which one (`migrationTableSchema`).
 */
async function foreignKyselyTables(schema: string): Promise<void> {
  await onConnection(async (client) => {
    await client.query(`create table "${schema}".kysely_migration (name varchar(255) not null primary key, timestamp varchar(255) not null)`);
    await client.query(`create table "${schema}".kysely_migration_lock (id varchar(255) not null primary key, is_locked integer not null default 0)`);
    await client.query(`insert into "${schema}".kysely_migration_lock (id, is_locked) values ('migration_lock', 0)`);
  });
}

/** The tables of a schema, by name. */
async function tablesOf(schema: string): Promise<string[]> {
  const rows = await onConnection(
    async (client) => (await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = $1 order by table_name', [schema])).rows,
  );
  return rows.map((r) => r.table_name);
}

/** The event store's schema of a test gateway (startGateway's `kl_api_events_` schemas), found by one of its events. */
async function eventStoreSchemaOf(g: TestGateway): Promise<string> {
  let id: string | undefined;
  for await (const page of g.app.store.readAll({ limit: 1 })) id = page[0]?.id;
  const found = await onConnection(async (client) => {
    const candidates = await client.query<{ table_schema: string }>(
      "select table_schema from information_schema.tables where table_name = $1 and table_schema like 'kl\\_api\\_events\\_%'",
      [EVENT_STORE_MIGRATION_TABLE],
    );
    const holding: string[] = [];
    for (const { table_schema } of candidates.rows) {
      if ((await client.query(`select 1 from "${table_schema}".events where id = $1`, [id])).rowCount === 1) holding.push(table_schema);
    }
    return holding;
  });
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** The names of the API keys the gateway's first admin sees through `apiKeys`. */
async function keyNames(g: TestGateway): Promise<string[]> {
  const answer = await g.call(ApiKeysDocument, { first: 100 });
  expect(answer.errors).toBeUndefined();
  return answer.data!.apiKeys.edges.map((e) => e.node.name);
}

describePg(available, 'one PostgreSQL database shared by deployments and another application', () => {
  it("two deployments in two schema pairs of one database, beside a foreign application's kysely_migration_lock, start, serve and rebuild independently", async () => {
    const foreign = await ownSchema('kl_foreign_app');
    await foreignKyselyTables(foreign);

    // The failure mode, reproduced: a Migrator without `migrationTableSchema`, working in a
    // schema of its own through search_path, sees the foreign tables, creates none of its own,
    // then cannot find them in its schema.
    const victim = await ownSchema('kl_unqualified');
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1, options: `-c search_path=${victim}` });
    const unqualified = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    try {
      const noop = { up: async () => undefined };
      const { error } = await new Migrator({ db: unqualified, provider: { getMigrations: async () => ({ '0001': noop }) } }).migrateToLatest();
      expect((error as { code?: string } | undefined)?.code, 'an unqualified Migrator beside foreign Kysely tables').toBe('42P01');
    } finally {
      await unqualified.destroy();
    }

    const started = await Promise.allSettled([startGateway({ store: 'postgres' }), startGateway({ store: 'postgres' })]);
    const gateways = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const [a, b] = gateways as [TestGateway, TestGateway];

      // Each event store keeps its history in its own schema, under names of its own; each read store in its own.
      for (const g of [a, b]) {
        const eventSchema = await eventStoreSchemaOf(g);
        expect(await tablesOf(eventSchema)).toEqual([EVENT_STORE_MIGRATION_TABLE, EVENT_STORE_MIGRATION_LOCK_TABLE, 'events', 'streams'].sort());
        expect(await tablesOf(g.app.readStore.schema!)).toContain('kysely_migration_lock');
      }

      const [madeA, madeB] = await Promise.all([a.call(CreateApiKeyDocument, { name: 'only in a' }), b.call(CreateApiKeyDocument, { name: 'only in b' })]);
      expect(madeA.errors).toBeUndefined();
      expect(madeB.errors).toBeUndefined();
      for (const [g, own, other] of [
        [a, 'only in a', 'only in b'],
        [b, 'only in b', 'only in a'],
      ] as const) {
        expect(await keyNames(g)).toContain(own);
        expect(await keyNames(g)).not.toContain(other);
      }

      await Promise.all([a.app.runner.rebuild('credentials'), b.app.runner.rebuild('credentials')]);
      for (const [g, own, other] of [
        [a, 'only in a', 'only in b'],
        [b, 'only in b', 'only in a'],
      ] as const) {
        const names = await keyNames(g);
        expect(names).toContain(own);
        expect(names).not.toContain(other);
      }
      // One deployment does not know the other's keys.
      expect((await a.call(ApiKeysDocument, { first: 1 }, b.admin)).code).toBe('UNAUTHENTICATED');
    } finally {
      for (const g of gateways) await g.close();
    }
  });
});
