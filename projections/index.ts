// The projections keyledger runs, and the read store's tables they own.

import { auditProjection } from './audit.js';
import { credentialsProjection } from './credentials.js';
import { organizationsProjection } from './organizations.js';
import { principalsProjection } from './principals.js';
import type { CheckpointTables, Projection } from './projection.js';
import type { AuditChainHeadsTable, AuditLogTable, CredentialUsageTable, CredentialsTable, OrganizationsTable, PrincipalsTable } from './tables.js';
import { usageProjection } from './usage.js';

/** Every table of the read store. */
export interface ReadModels extends CheckpointTables {
  organizations: OrganizationsTable;
  principals: PrincipalsTable;
  credentials: CredentialsTable;
  credential_usage: CredentialUsageTable;
  audit_log: AuditLogTable;
  audit_chain_heads: AuditChainHeadsTable;
}

export function keyledgerProjections(): Projection<ReadModels>[] {
  return [organizationsProjection, principalsProjection, credentialsProjection, usageProjection, auditProjection];
}
