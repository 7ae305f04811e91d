// The audit log's tables (R22-R24).

import type { ColumnType } from 'kysely';

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
interface AuditChainHeadsTable {
  org_id: string;
  last_org_seq: ColumnType<number | string, number, number>;
  last_hash: string;
}

/** What `audit_counts` counts an organization's entries by: all of them, or those of one credential or principal. */
export type AuditCountDimension = 'ORG' | 'API_KEY' | 'APPLICATION_KEY' | 'CLIENT_TOKEN' | 'PRINCIPAL';

/**
 * How many entries an organization has, in all (dimension ORG, id '') and per credential or
 * principal (the entries whose api_key_id, application_key_id, client_token_id or principal_id
 * is the id): the `totalCount` of an auditLog page filtered by one of them (or by nothing) without
 * counting the log. Kept by the audit projection in the same transaction as its entries.
 */
interface AuditCountsTable {
  org_id: string;
  dimension: AuditCountDimension;
  id: string;
  /** A bigint column: PostgreSQL returns it as text. */
  entries: ColumnType<number | string, number, number>;
}

export interface AuditTables {
  audit_log: AuditLogTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_counts: AuditCountsTable;
}
