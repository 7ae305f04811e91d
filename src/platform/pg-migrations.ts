// Kysely's migrator asks whether its tables exist by listing every table of the database
// (PostgresIntrospector.getTables). In a database shared with other deployments and
// applications, that listing fails whenever one of them drops a schema at that moment
// (`schema "…" does not exist`, from pg_get_serial_sequence on the vanishing tables), and it
// grows with everything else in the database. Our migrations only ever look in their own
// schema, so this dialect's introspector lists that schema's tables alone.

import { PostgresDialect, sql, type DatabaseIntrospector, type Kysely, type PostgresDialectConfig, type SchemaMetadata, type TableMetadata } from 'kysely';

class OneSchemaIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  readonly #schema: string;

  constructor(db: Kysely<unknown>, schema: string) {
    this.#db = db;
    this.#schema = schema;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace where nspname = ${this.#schema}`.execute(this.#db);
    return rows;
  }

  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; kind: string }>`
      select c.relname as name, c.relkind as kind from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${this.#schema} and c.relkind in ('r', 'p', 'v', 'm')`.execute(this.#db);
    return rows.map((row) => ({ name: row.name, schema: this.#schema, isView: row.kind === 'v' || row.kind === 'm', columns: [] }));
  }

  async getMetadata(): Promise<{ tables: TableMetadata[] }> {
    return { tables: await this.getTables() };
  }
}

/** A PostgreSQL dialect whose introspection (the migrator's only use of it) sees `schema` alone. */
export class OneSchemaPostgresDialect extends PostgresDialect {
  readonly #schema: string;

  constructor(config: PostgresDialectConfig, schema: string) {
    super(config);
    this.#schema = schema;
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new OneSchemaIntrospector(db, this.#schema);
  }
}
