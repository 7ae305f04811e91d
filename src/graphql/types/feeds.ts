// The change feeds (R26) on the API: the subscriptions `credentialEvents` and `auditEntries`,
// served over SSE and WebSocket. What each shows and to whom is src/feeds/feeds.ts; here the
// payloads' types, and the subscriber's credentials checked again for as long as a feed runs.

import type { CredentialsTable } from '../../../projections/credentials/tables.js';
import type { PrincipalActor } from '../../domain/actor.js';
import type { DomainError } from '../../domain/errors.js';
import { encodeCursor } from '../../feeds/cursor.js';
import type { AuditFeedItem, CredentialFeedItem } from '../../feeds/feeds.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import type { GraphQLContext } from '../core/context.js';
import { authenticationError } from '../core/errors.js';
import { CREDENTIAL_TYPENAME } from '../core/ids.js';
import { AuditEntry, AuditLogFilter, auditLogFilterOf } from './audit-log.js';
import { ApiKey, ApplicationKey, ClientToken } from './credentials.js';

const Credential = builder.unionType('Credential', {
  description: 'An API key, an application key or a client token.',
  types: [ApiKey, ApplicationKey, ClientToken],
  resolveType: (row: CredentialsTable) => CREDENTIAL_TYPENAME[row.kind],
});

const CURSOR_DESCRIPTION = "Where this payload stands in the event store's order (opaque): pass it as `after` to resume right after it.";

const CredentialEvent = builder.objectRef<CredentialFeedItem>('CredentialEvent').implement({
  description: 'A change to a credential, as `credentialEvents` delivers it.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (item) => encodeCursor(item.position) }),
    type: t.exposeString('type', { description: 'The event, such as ApiKeyCreated or ApplicationKeyRevoked.' }),
    occurredAt: t.field({ type: 'DateTime', description: 'When the event store recorded it.', resolve: (item) => item.occurredAt.toISOString() }),
    credential: t.field({
      type: Credential,
      description: 'The credential the event is about, as the queries read it once the event is applied (so at least as new as the event).',
      resolve: (item) => item.credential,
    }),
  }),
});

const AuditEntryEvent = builder.objectRef<AuditFeedItem>('AuditEntryEvent').implement({
  description: 'A new entry of the audit log, as `auditEntries` delivers it.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (item) => encodeCursor(item.position) }),
    type: t.exposeString('type', { description: 'The event the entry records (RequestAuthenticated, RequestDenied, or a lifecycle event).' }),
    occurredAt: t.field({ type: 'DateTime', description: "The entry's time (`entry.at`).", resolve: (item) => item.occurredAt }),
    entry: t.field({ type: AuditEntry, resolve: (item) => item.entry }),
  }),
});

/** The subscriber's credentials, authenticated again now: who it acts as, or why it no longer does (UNAUTHENTICATED). */
function authorizer(context: GraphQLContext): () => PrincipalActor | DomainError {
  return () => {
    const auth = context.reauthenticate(new Date());
    return auth.ok ? auth.actor : authenticationError(auth.fault);
  };
}

const AFTER_DESCRIPTION =
  'The cursor of the last payload received: the feed replays every event after it, then goes live, with no gap and no duplicate. "" replays the whole history. Omitted, the feed starts live, from the newest event when it starts.';

builder.subscriptionType({
  description:
    'Change feeds (R26), over SSE (POST or GET /graphql with Accept: text/event-stream; graphql-sse single-connection mode at /graphql/stream) and WebSocket (graphql-ws protocol at /graphql, credentials in connectionParams). A feed ends with UNAUTHENTICATED within a second of its credentials being revoked or expiring or their owner disabled, and with SLOW_CONSUMER when its consumer falls too far behind: resume with `after`.',
});

builder.subscriptionFields((t) => ({
  credentialEvents: t.field({
    type: CredentialEvent,
    description:
      "Changes to the organization's credentials that this credential may read: API keys with api_keys_read, client tokens with client_tokens_read, application keys as the applicationKeys query shows them (all with org_app_keys_read; otherwise one's own, and service accounts' with service_account_write). Events it may not read are left out, not refused.",
    authScopes: { authenticated: true },
    args: { after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }) },
    subscribe: (_root, args, context) => context.feeds.credentialEvents({ actor: actorOf(context), after: args.after ?? null, authorize: authorizer(context) }),
    resolve: (item: CredentialFeedItem) => item,
  }),
  auditEntries: t.field({
    type: AuditEntryEvent,
    description: "New entries of the organization's audit log (audit_logs_read), filtered as auditLog filters them.",
    authScopes: { permission: 'audit_logs_read' },
    args: {
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
      filter: t.arg({ type: AuditLogFilter, required: false }),
    },
    subscribe: (_root, args, context) =>
      context.feeds.auditEntries({ actor: actorOf(context), after: args.after ?? null, filter: auditLogFilterOf(args.filter), authorize: authorizer(context) }),
    resolve: (item: AuditFeedItem) => item,
  }),
}));
