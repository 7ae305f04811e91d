// The read models' tables (spec section 6), as Kysely sees them. Times are ISO-8601 text in
// UTC, which sorts the same in SQLite and PostgreSQL.

import type { ColumnType } from 'kysely';

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
}

/** When a credential was last used, to the minute (from request events; written once a minute at most). */
export interface CredentialUsageTable {
  credential_id: string;
  org_id: string;
  last_used_at: string;
}

/** Written once and never changed (R24): an update does not type-check, and the store refuses it. */
type AppendOnly<T> = ColumnType<T, T, never>;
/** A bigint column: PostgreSQL returns it as text, so read it through `Number()`. */
type AppendOnlyBigint = ColumnType<number | string, number, never>;

/**
 * The audit log (R22-R24): one entry per request event and per lifecycle event, in the event
 * store's global order, each org's entries forming a hash chain (projections/audit-chain.ts).
 */
export interface AuditLogTable {
  /** 1, 2, 3… over the whole log, in event order (assigned by the projection, so a rebuild reproduces it). */
  seq: AppendOnlyBigint;
  org_id: AppendOnly<string>;
  /** 1, 2, 3… within the organization: the chain's order. */
  org_seq: AppendOnlyBigint;
  event_id: AppendOnly<string>;
  /** The event's position in the event store. */
  position: AppendOnly<string>;
  at: AppendOnly<string>;
  kind: AppendOnly<'REQUEST' | 'LIFECYCLE'>;
  event_type: AppendOnly<string>;
  request_id: AppendOnly<string | null>;
  /** Request entries: the credentials presented. Lifecycle entries: the credentials of the actor (null for the operator). */
  api_key_id: AppendOnly<string | null>;
  application_key_id: AppendOnly<string | null>;
  client_token_id: AppendOnly<string | null>;
  principal_id: AppendOnly<string | null>;
  operation_type: AppendOnly<string | null>;
  operation_name: AppendOnly<string | null>;
  /** JSON array of the root fields of a GraphQL request; null for lifecycle entries. */
  root_fields: AppendOnly<string | null>;
  outcome: AppendOnly<'ALLOWED' | 'DENIED' | 'FAILED'>;
  error_code: AppendOnly<string | null>;
  client_ip: AppendOnly<string | null>;
  user_agent: AppendOnly<string | null>;
  /** Lifecycle entries: the key, token, principal or organization the event is about. */
  subject_id: AppendOnly<string | null>;
  /** Lifecycle entries: the event's data as canonical JSON, without any digest. */
  details: AppendOnly<string | null>;
  prev_hash: AppendOnly<string>;
  hash: AppendOnly<string>;
}

/** The head of each organization's audit chain: where its next entry links to. Owned by the audit projection. */
export interface AuditChainHeadsTable {
  org_id: string;
  last_org_seq: ColumnType<number | string, number, number>;
  last_hash: string;
}
