// The projections keyledger runs, and the read store's tables they own.

import { credentialsProjection } from './credentials.js';
import { organizationsProjection } from './organizations.js';
import { principalsProjection } from './principals.js';
import type { CheckpointTables, Projection } from './projection.js';
import type { CredentialsTable, OrganizationsTable, PrincipalsTable } from './tables.js';

/** Every table of the read store. */
export interface ReadModels extends CheckpointTables {
  organizations: OrganizationsTable;
  principals: PrincipalsTable;
  credentials: CredentialsTable;
}

export function keyledgerProjections(): Projection<ReadModels>[] {
  return [organizationsProjection, principalsProjection, credentialsProjection];
}
