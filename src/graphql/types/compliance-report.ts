// The compliance report (audit_logs_read): the organization's credentials as an auditor asks
// about them, as of a time. Each part is read only when selected.

import { activeCredentialCounts, REPORT_LIST_LIMIT, reportList, revocationsByReason, type ReportCredential, type ReportList } from '../../../projections/credentials/report.js';
import { DomainError } from '../../domain/errors.js';
import { CREDENTIAL_KINDS, type RevocationReason } from '../../domain/events.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import { CREDENTIAL_TYPENAME, globalId } from '../core/ids.js';
import { parseList } from '../../../projections/core/lists.js';
import { RevocationReasonEnum } from './credentials.js';
import { Principal } from './principals.js';

const CredentialKindEnum = builder.enumType('CredentialKind', { values: CREDENTIAL_KINDS });

const MAX_DAYS = 36_500;
const DAY_MS = 86_400_000;

interface ReportShape {
  readonly orgId: string;
  readonly asOf: Date;
  readonly unusedForDays: number;
  readonly olderThanDays: number;
  readonly revokedFrom: Date;
  readonly revokedTo: Date;
}

const ComplianceCredential = builder.objectRef<ReportCredential>('ComplianceCredential').implement({
  description: 'A credential named by the compliance report.',
  fields: (t) => ({
    id: t.id({ description: 'Its ApiKey, ApplicationKey or ClientToken id.', resolve: (c) => globalId(CREDENTIAL_TYPENAME[c.kind], c.id) }),
    kind: t.field({ type: CredentialKindEnum, resolve: (c) => c.kind }),
    name: t.exposeString('name'),
    last4: t.exposeString('last4'),
    scopes: t.stringList({ nullable: true, resolve: (c) => (c.scopes === null ? null : parseList(c.scopes)) }),
    owner: t.field({ type: Principal, nullable: true, description: 'Application keys: the owner.', resolve: (c) => c.owner_id }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (c) => c.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.created_at }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.last_used_at }),
  }),
});

const ComplianceCredentialList = builder.objectRef<ReportList>('ComplianceCredentialList').implement({
  description: `How many credentials are in the list, and the first ${REPORT_LIST_LIMIT} of them, oldest first.`,
  fields: (t) => ({
    totalCount: t.exposeInt('totalCount'),
    items: t.field({ type: [ComplianceCredential], resolve: (l) => l.items }),
  }),
});

interface KindCounts {
  readonly apiKeys: number;
  readonly applicationKeys: number;
  readonly clientTokens: number;
}

const ActiveCredentialCounts = builder.objectRef<KindCounts>('ActiveCredentialCounts').implement({
  fields: (t) => ({
    apiKeys: t.exposeInt('apiKeys'),
    applicationKeys: t.exposeInt('applicationKeys'),
    clientTokens: t.exposeInt('clientTokens'),
    total: t.int({ resolve: (c) => c.apiKeys + c.applicationKeys + c.clientTokens }),
  }),
});

interface RevocationCount {
  readonly reason: RevocationReason;
  readonly count: number;
}

interface RevocationSummary {
  readonly from: Date;
  readonly to: Date;
  readonly byReason: readonly RevocationCount[];
}

const RevocationCountRef = builder.objectRef<RevocationCount>('RevocationCount').implement({
  fields: (t) => ({
    reason: t.field({ type: RevocationReasonEnum, resolve: (r) => r.reason }),
    count: t.exposeInt('count'),
  }),
});

const RevocationSummaryRef = builder.objectRef<RevocationSummary>('RevocationSummary').implement({
  description: 'Credentials revoked in [from, to), by reason.',
  fields: (t) => ({
    from: t.field({ type: 'DateTime', resolve: (s) => s.from.toISOString() }),
    to: t.field({ type: 'DateTime', resolve: (s) => s.to.toISOString() }),
    total: t.int({ resolve: (s) => s.byReason.reduce((n, r) => n + r.count, 0) }),
    byReason: t.field({ type: [RevocationCountRef], resolve: (s) => s.byReason }),
  }),
});

const daysBefore = (date: Date, days: number) => new Date(date.getTime() - days * DAY_MS);

const ComplianceReport = builder.objectRef<ReportShape>('ComplianceReport').implement({
  description: "The organization's credentials as of a time, as an auditor asks about them. Each part is computed only when selected.",
  fields: (t) => ({
    asOf: t.field({ type: 'DateTime', resolve: (r) => r.asOf.toISOString() }),
    unusedForDays: t.exposeInt('unusedForDays'),
    olderThanDays: t.exposeInt('olderThanDays'),
    activeCredentials: t.field({
      type: ActiveCredentialCounts,
      description: 'Credentials active at asOf, by kind.',
      resolve: (r, _args, context) => activeCredentialCounts(context.readDb, r),
    }),
    unscopedApplicationKeys: t.field({
      type: ComplianceCredentialList,
      description: 'Active application keys without scopes: they hold all of their owner’s permissions (R6).',
      resolve: (r, _args, context) => reportList(context.readDb, r, { list: 'UNSCOPED_APPLICATION_KEYS' }),
    }),
    unusedCredentials: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials last used more than unusedForDays before asOf.',
      resolve: (r, _args, context) => reportList(context.readDb, r, { list: 'UNUSED_SINCE', since: daysBefore(r.asOf, r.unusedForDays) }),
    }),
    neverUsedCredentials: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials with no recorded use.',
      resolve: (r, _args, context) => reportList(context.readDb, r, { list: 'NEVER_USED' }),
    }),
    rotationDue: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials created more than olderThanDays before asOf.',
      resolve: (r, _args, context) => reportList(context.readDb, r, { list: 'CREATED_BEFORE', before: daysBefore(r.asOf, r.olderThanDays) }),
    }),
    apiKeysCreatedByDisabledPrincipals: t.field({
      type: ComplianceCredentialList,
      description: 'Active API keys whose creator is disabled: they stay valid (R13), and nobody answers for them.',
      resolve: (r, _args, context) => reportList(context.readDb, r, { list: 'API_KEYS_OF_DISABLED_CREATORS' }),
    }),
    revocations: t.field({
      type: RevocationSummaryRef,
      description: 'Credentials revoked in [revokedFrom, revokedTo), by reason.',
      resolve: async (r, _args, context) => ({ from: r.revokedFrom, to: r.revokedTo, byReason: await revocationsByReason(context.readDb, r.orgId, r.revokedFrom, r.revokedTo) }),
    }),
  }),
});

function days(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_DAYS) throw new DomainError('BAD_USER_INPUT', `${field} must be a whole number of days from 0 to ${MAX_DAYS}`, field);
  return value;
}

builder.queryFields((t) => ({
  complianceReport: t.field({
    type: ComplianceReport,
    description: "The organization's credentials as an auditor asks about them (audit_logs_read).",
    authScopes: { permission: 'audit_logs_read' },
    args: {
      asOf: t.arg({ type: 'DateTime', required: false, description: 'Default: now.' }),
      unusedForDays: t.arg.int({ required: false, defaultValue: 90 }),
      olderThanDays: t.arg.int({ required: false, defaultValue: 90 }),
      revokedFrom: t.arg({ type: 'DateTime', required: false, description: 'Default: olderThanDays before asOf.' }),
      revokedTo: t.arg({ type: 'DateTime', required: false, description: 'Default: asOf.' }),
    },
    resolve: (_parent, args, context) => {
      const actor = actorOf(context);
      const asOf = args.asOf ?? context.now;
      const unusedForDays = days(args.unusedForDays ?? 90, 'unusedForDays');
      const olderThanDays = days(args.olderThanDays ?? 90, 'olderThanDays');
      return {
        orgId: actor.orgId,
        asOf,
        unusedForDays,
        olderThanDays,
        revokedFrom: args.revokedFrom ?? new Date(asOf.getTime() - olderThanDays * DAY_MS),
        revokedTo: args.revokedTo ?? asOf,
      };
    },
  }),
}));
