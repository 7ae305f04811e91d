// The audit log on the API (R22-R24): `auditLog` (a connection, keyset on seq) and
// `auditIntegrity` (the hash chain checked). Both need audit_logs_read, both within the
// caller's organization; nothing here writes.

import type { ChainBreak, ChainVerification } from '../../../projections/audit/integrity.js';
import { verifyAuditChain } from '../../../projections/audit/integrity.js';
import { auditLogPage, type AuditEntryRow, type AuditLogFilter as AuditLogFilterQuery } from '../../../projections/audit/queries.js';
import { notFound } from '../../domain/errors.js';
import { EVENT_SUBJECT, isKeyledgerEventType } from '../../domain/events.js';
import { parseFilterText } from '../../domain/input.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import { CREDENTIAL_TYPENAME, globalId, PRINCIPAL_TYPENAME, tryDecodeCredential } from '../core/ids.js';
import { pageOf, readPage } from '../core/pages.js';
import { parseList } from '../../../projections/core/lists.js';
import { Principal, principalIdArg } from './principals.js';

const AuditEntryKindEnum = builder.enumType('AuditEntryKind', {
  values: {
    REQUEST: { description: 'A request that presented a recognisable credential (R22).' },
    LIFECYCLE: { description: 'A change to the organization, a principal or a credential (R23).' },
  },
});

const AuditOutcomeEnum = builder.enumType('AuditOutcome', {
  values: {
    ALLOWED: { description: 'Authenticated and carried out (every lifecycle entry).' },
    DENIED: { description: 'Refused: unauthenticated or forbidden.' },
    FAILED: { description: 'Authenticated, but the operation ended in an error.' },
  },
});

const AuditOrderEnum = builder.enumType('AuditOrder', { values: ['NEWEST_FIRST', 'OLDEST_FIRST'] as const });

const AuditBreakReasonEnum = builder.enumType('AuditBreakReason', {
  values: {
    HASH_MISMATCH: { value: 'hash mismatch' as const, description: 'The entry is not what its hash covers: it was changed.' },
    BROKEN_LINK: { value: 'broken link' as const, description: 'The entry does not link to the hash of the entry before it (or the chain head does not link to it).' },
    GAP: { value: 'gap' as const, description: 'Entries are missing before it (or, at the end of the chain, after it).' },
  },
});

const optionalId = (typename: string, id: string | null) => (id === null ? null : globalId(typename, id));

export const AuditEntry = builder.objectRef<AuditEntryRow>('AuditEntry').implement({
  description: 'One entry of the audit log: a request (R22) or a lifecycle change (R23), linked into its organization’s hash chain (R24).',
  fields: (t) => ({
    seq: t.int({ description: 'Position in the whole log (1, 2, 3…).', resolve: (e) => Number(e.seq) }),
    orgSeq: t.int({ description: "Position in the organization's chain (1, 2, 3…).", resolve: (e) => Number(e.org_seq) }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
    kind: t.field({ type: AuditEntryKindEnum, resolve: (e) => e.kind }),
    eventType: t.exposeString('event_type'),
    requestId: t.exposeString('request_id', { nullable: true }),
    apiKeyId: t.id({
      nullable: true,
      description: 'The API key of the request, or of the credential that made the change.',
      resolve: (e) => optionalId('ApiKey', e.api_key_id),
    }),
    applicationKeyId: t.id({ nullable: true, resolve: (e) => optionalId('ApplicationKey', e.application_key_id) }),
    clientTokenId: t.id({ nullable: true, resolve: (e) => optionalId('ClientToken', e.client_token_id) }),
    principal: t.field({
      type: Principal,
      nullable: true,
      description: 'Who acted: the principal of the request, or who made the change (null for the operator).',
      resolve: (e) => e.principal_id,
    }),
    operationType: t.exposeString('operation_type', { nullable: true, description: 'query, mutation, subscription, or http.' }),
    operationName: t.exposeString('operation_name', { nullable: true }),
    rootFields: t.stringList({ nullable: true, resolve: (e) => (e.root_fields === null ? null : parseList(e.root_fields)) }),
    outcome: t.field({ type: AuditOutcomeEnum, resolve: (e) => e.outcome }),
    errorCode: t.exposeString('error_code', { nullable: true }),
    clientIp: t.exposeString('client_ip', { nullable: true }),
    userAgent: t.exposeString('user_agent', { nullable: true }),
    subjectId: t.id({
      nullable: true,
      description: 'Lifecycle entries: the credential, principal or organization the change is about.',
      resolve: async (e, _args, context) => {
        if (e.subject_id === null || !isKeyledgerEventType(e.event_type)) return null;
        const subject = EVENT_SUBJECT[e.event_type];
        switch (subject) {
          case 'REQUEST':
            return null;
          case 'ORGANIZATION':
            return globalId('Organization', e.subject_id);
          case 'PRINCIPAL': {
            const principal = await Principal.getDataloader(context).load(e.subject_id);
            return globalId(PRINCIPAL_TYPENAME[principal.kind], e.subject_id);
          }
          case 'API_KEY':
          case 'APPLICATION_KEY':
          case 'CLIENT_TOKEN':
            return globalId(CREDENTIAL_TYPENAME[subject], e.subject_id);
          default: {
            const unhandled: never = subject;
            throw new Error(`unknown subject ${String(unhandled)}`);
          }
        }
      },
    }),
    details: t.exposeString('details', { nullable: true, description: "Lifecycle entries: the change's data as JSON (never a secret or a digest)." }),
    prevHash: t.exposeString('prev_hash', { description: "The previous entry's hash (64 zeros for an organization's first)." }),
    hash: t.exposeString('hash', { description: 'sha256(prevHash + "\\n" + canonical JSON of the entry), hex.' }),
  }),
});

export const AuditLogFilter = builder.inputType('AuditLogFilter', {
  fields: (t) => ({
    credentialId: t.id({ required: false, description: 'An API key, application key or client token: the entries that presented it or were made with it.' }),
    principalId: t.id({ required: false, description: 'A user or service account: the entries where it acted.' }),
    operation: t.string({ required: false, description: 'An operation name, a root field, or an HTTP route such as "GET /api/v1/validate".' }),
    requestId: t.string({ required: false, description: 'One request: its own entry and the changes it made.' }),
    kind: t.field({ type: AuditEntryKindEnum, required: false }),
    outcome: t.field({ type: AuditOutcomeEnum, required: false }),
    from: t.field({ type: 'DateTime', required: false, description: 'Entries at or after this time.' }),
    to: t.field({ type: 'DateTime', required: false, description: 'Entries before this time.' }),
  }),
});

type Filter = typeof AuditLogFilter.$inferInput;

/** The filter with its ids decoded (R20: a malformed or foreign id is NOT_FOUND) and its text bounded (R29). */
export function auditLogFilterOf(filter: Filter | null | undefined): AuditLogFilterQuery | null {
  if (!filter) return null;
  let credential: AuditLogFilterQuery['credential'] = null;
  if (filter.credentialId != null) {
    credential = tryDecodeCredential(String(filter.credentialId));
    if (!credential) throw notFound('credential');
  }
  // Field by field (no spread of the input): what a page may count from audit_counts depends on
  // every field being one the query knows.
  return {
    credential,
    principalId: filter.principalId == null ? null : principalIdArg(String(filter.principalId)),
    operation: parseFilterText(filter.operation, 'filter.operation'),
    requestId: parseFilterText(filter.requestId, 'filter.requestId'),
    kind: filter.kind ?? null,
    outcome: filter.outcome ?? null,
    from: filter.from ?? null,
    to: filter.to ?? null,
  };
}

const ChainBreakRef = builder.objectRef<ChainBreak>('AuditChainBreak').implement({
  description: 'The first entry where the chain does not hold.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    orgSeq: t.exposeInt('orgSeq'),
    eventId: t.exposeString('eventId'),
    at: t.field({ type: 'DateTime', resolve: (b) => b.at }),
    reason: t.field({ type: AuditBreakReasonEnum, resolve: (b) => b.reason }),
  }),
});

const AuditIntegrity = builder.objectRef<ChainVerification>('AuditIntegrity').implement({
  description: "The organization's hash chain, recomputed entry by entry (R24).",
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    checked: t.exposeInt('checked', { description: 'Entries checked (up to and including the first broken one).' }),
    firstBroken: t.field({ type: ChainBreakRef, nullable: true, resolve: (v) => v.firstBroken }),
  }),
});

builder.queryFields((t) => ({
  auditLog: t.connection({
    type: AuditEntry,
    description: "The organization's audit log (audit_logs_read): requests and lifecycle changes, newest first by default.",
    authScopes: { permission: 'audit_logs_read' },
    args: {
      filter: t.arg({ type: AuditLogFilter, required: false }),
      order: t.arg({ type: AuditOrderEnum, required: false, defaultValue: 'NEWEST_FIRST' }),
    },
    resolve: (_parent, args, context, info) => {
      const orgId = actorOf(context).orgId;
      const filter = auditLogFilterOf(args.filter);
      return readPage(context, () => auditLogPage(context.readDb, orgId, filter, args.order ?? 'NEWEST_FIRST', pageOf(args, info)));
    },
  }),
  auditIntegrity: t.field({
    type: AuditIntegrity,
    description:
      "Recomputes the organization's audit hash chain (audit_logs_read), or the part of it holding the entries of [from, to), and names the first entry where it breaks (R24).",
    authScopes: { permission: 'audit_logs_read' },
    args: {
      from: t.arg({ type: 'DateTime', required: false }),
      to: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: (_parent, args, context) =>
      verifyAuditChain(context.readDb, actorOf(context).orgId, { ...(args.from ? { from: args.from } : {}), ...(args.to ? { to: args.to } : {}) }),
  }),
}));
