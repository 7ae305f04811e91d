// Every table of the read store, as Kysely sees them: the union of each read model's own
// tables and the runner's checkpoints. Only table modules are imported here, so that a
// projection can name the whole read store without an import cycle.

import type { Kysely } from 'kysely';
import type { AuditTables } from './audit/tables.js';
import type { CredentialsTables } from './credentials/tables.js';
import type { OrganizationsTables } from './organizations/tables.js';
import type { PrincipalsTables } from './principals/tables.js';
import type { CheckpointTables } from './core/projection.js';
import type { UsageTables } from './usage/tables.js';

export interface ReadModels extends CheckpointTables, OrganizationsTables, PrincipalsTables, CredentialsTables, UsageTables, AuditTables {}

/** The read store, as queries take it. */
export type ReadDb = Kysely<ReadModels>;
