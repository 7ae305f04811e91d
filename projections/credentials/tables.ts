// The `credentials` read model's table (never a secret: its digest and last four characters only).

import type { CredentialKind, RevocationReason } from '../../src/domain/events.js';

export interface CredentialsTable {
  id: string;
  kind: CredentialKind;
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
  /** REVOKED once revoked (by hand, with its owner, or rotated); the status shown also depends on the time (status.ts). */
  status: 'ACTIVE' | 'REVOKED';
  revocation_reason: RevocationReason | null;
  created_at: string;
  modified_at: string;
  revoked_at: string | null;
  expires_at: string | null;
  /** R18: the key that succeeded this one when it was rotated; null for a key not rotated. */
  successor_id: string | null;
  /** R18: when a rotated key's grace ends: it is revoked then (status.ts), and the scheduler records it. */
  revokes_at: string | null;
  /** R19: when an application key's expiry was recorded (ApplicationKeyExpired); null until then. */
  expiry_recorded_at: string | null;
}

/**
 * How many credentials of a kind an organization has (`owner_id` ''), and how many application
 * keys each principal owns: what an unfiltered list's totalCount reads instead of counting, so a
 * dashboard costs the same in an org of ten keys and of a hundred thousand. Rows are never
 * deleted from `credentials` (a revoked key stays), so these only grow.
 */
interface CredentialCountsTable {
  org_id: string;
  kind: CredentialKind;
  owner_id: string;
  entries: number | string;
}

export interface CredentialsTables {
  credentials: CredentialsTable;
  credential_counts: CredentialCountsTable;
}
