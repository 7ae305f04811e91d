// What every resolver gets: who is asking (or why nobody is), the use cases, the read store for
// the projections' queries, the credentials in memory, and the change feeds.

import type { ReadDb } from '../../../projections/read-models.js';
import type { RequestAudit } from '../../audit/request-audit.js';
import type { Keyledger } from '../../commands/keyledger.js';
import type { Authentication, CredentialLookup } from '../../domain/verification.js';
import type { Feeds } from '../../feeds/feeds.js';

export interface GraphQLContext {
  readonly requestId: string;
  readonly auth: Authentication;
  readonly keyledger: Keyledger;
  /** Read through the projections' queries only. */
  readonly readDb: ReadDb;
  /** The request's clock reading: expiry is judged against it. */
  readonly now: Date;
  /** Credentials in memory (the CredentialIndex), for verification without I/O. */
  readonly credentials: CredentialLookup;
  /** This request's audit record (R22): fed by the audit path, never by resolvers. */
  readonly audit: RequestAudit;
  /** The change feeds (subscriptions, R26). */
  readonly feeds: Feeds;
  /**
   * The request's credentials authenticated again at `now`: a subscription checks that they still
   * authenticate for as long as it runs (R26). The credentials stay inside the closure.
   */
  readonly reauthenticate: (now: Date) => Authentication;
}
