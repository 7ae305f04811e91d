// The read models' tables (spec section 6), as Kysely sees them. Times are ISO-8601 text in
// UTC, which sorts the same in SQLite and PostgreSQL.

export type CredentialKindColumn = 'API_KEY' | 'APPLICATION_KEY' | 'CLIENT_TOKEN';
export type CredentialStatusColumn = 'ACTIVE' | 'REVOKED';

export interface OrganizationsTable {
  id: string;
  name: string;
  api_key_limit: number;
  created_at: string;
  modified_at: string;
}

export interface PrincipalsTable {
  id: string;
  org_id: string;
  kind: 'USER' | 'SERVICE_ACCOUNT';
  name: string;
  name_key: string;
  email: string | null;
  role: string;
  status: 'ACTIVE' | 'DISABLED';
  created_by: string | null;
  created_at: string;
  modified_at: string;
  disabled_at: string | null;
}

export interface CredentialsTable {
  id: string;
  kind: CredentialKindColumn;
  org_id: string;
  name: string;
  /** Trimmed and case-folded, for uniqueness and "name contains" filters. */
  name_key: string;
  last4: string;
  /** SHA-256 of the secret, hex: how a presented secret is found. Not the secret. */
  digest: string;
  /** The owning principal of an application key; null for API keys and client tokens (they belong to the org). */
  owner_id: string | null;
  created_by: string | null;
  /** JSON array of scopes, or null for an unscoped application key (and for other kinds). */
  scopes: string | null;
  /** JSON array of origins, client tokens only. */
  allowed_origins: string | null;
  status: CredentialStatusColumn;
  revocation_reason: string | null;
  created_at: string;
  modified_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  last_used_at: string | null;
}
