// The `organizations` read model's table. Times are ISO-8601 text in UTC, which sorts the same in SQLite and PostgreSQL.

export interface OrganizationsTable {
  id: string;
  name: string;
  api_key_limit: number;
  created_at: string;
  modified_at: string;
}

export interface OrganizationsTables {
  organizations: OrganizationsTable;
}
