// What every resolver gets: who is asking (or why nobody is), the use cases and the read store.

import type { Kysely } from 'kysely';
import type { Keyledger } from '../commands/keyledger.js';
import type { PrincipalActor } from '../domain/actor.js';
import type { ReadModels } from '../../projections/index.js';
import type { RequestAudit } from '../audit/request-audit.js';
import type { CredentialIndex } from '../gateway/credential-index.js';

export type Authentication =
  | { readonly ok: true; readonly actor: PrincipalActor }
  | { readonly ok: false; readonly reason: string; readonly code?: 'UNAUTHENTICATED' | 'API_KEY_IN_BROWSER' };

export interface GraphQLContext {
  readonly requestId: string;
  readonly auth: Authentication;
  readonly keyledger: Keyledger;
  readonly db: Kysely<ReadModels>;
  /** The request's clock reading: expiry is judged against it. */
  readonly now: Date;
  /** Credentials in memory, for verification without I/O. */
  readonly index: CredentialIndex;
  /** This request's audit record (R22). */
  readonly audit: RequestAudit;
}
