// The SQL twin of the domain's status rule (src/domain/credential.ts `credentialStatus`), over
// the `credentials` table, for filters and reports. The read model records an owner's disabling
// as its keys' revocation (R13, the same append), so a row's own columns decide. A test holds
// the twin and the rule equal on every case. Both predicates work in any query that reads
// `credentials` under its own name.

import { sql, type RawBuilder } from 'kysely';
import type { CredentialStatus } from '../../src/domain/credential.js';

/** The rows whose status is `status` at `now`. */
export function hasStatus(status: CredentialStatus, now: Date): RawBuilder<boolean> {
  const at = now.toISOString();
  switch (status) {
    // R18: a rotated key is revoked when its grace ends, recorded or not yet.
    case 'REVOKED':
      return sql<boolean>`(credentials.status = 'REVOKED' or credentials.revokes_at <= ${at})`;
    case 'EXPIRED':
      return sql<boolean>`(credentials.status = 'ACTIVE' and (credentials.revokes_at is null or credentials.revokes_at > ${at}) and credentials.expires_at <= ${at})`;
    case 'ACTIVE':
      return sql<boolean>`(credentials.status = 'ACTIVE' and (credentials.revokes_at is null or credentials.revokes_at > ${at}) and (credentials.expires_at is null or credentials.expires_at > ${at}))`;
    default: {
      const unhandled: never = status;
      throw new Error(`unknown status ${String(unhandled)}`);
    }
  }
}

/**
 * The rows that were ACTIVE at a time `asOf` (the compliance report's question): created by
 * then, and neither revoked (by an event or at the end of a rotation's grace) nor expired by
 * then. At `asOf` = now it is `hasStatus('ACTIVE')`.
 */
export function wasActiveAt(asOf: Date): RawBuilder<boolean> {
  const at = asOf.toISOString();
  return sql<boolean>`(credentials.created_at <= ${at} and (credentials.revoked_at is null or credentials.revoked_at > ${at}) and (credentials.revokes_at is null or credentials.revokes_at > ${at}) and (credentials.expires_at is null or credentials.expires_at > ${at}))`;
}
