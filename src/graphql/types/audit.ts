// The audit log on the API (R22-R24): `auditLog` (a connection, keyset on seq), `auditIntegrity`
// (the hash chain checked) and `complianceReport`. All need audit_logs_read, all within the
// caller's organization; nothing here writes.

import { sql, type Selectable } from 'kysely';
import { readStoreDialect } from '../../../projections/audit.js';
import type { AuditLogTable, CredentialKindColumn, CredentialsTable } from '../../../projections/tables.js';
import { verifyAuditChain, type ChainBreak, type ChainVerification } from '../../audit/verify.js';
import { actorOf } from '../actor.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { badUserInput, notFound } from '../errors.js';
import { globalId, tryDecode } from '../ids.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, once } from '../pagination.js';
import { RevocationReasonEnum } from './credentials.js';
import { Principal, principalIdArg } from './principals.js';

type AuditRow = Selectable<AuditLogTable>;

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

const CredentialKindEnum = builder.enumType('CredentialKind', { values: ['API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN'] as const });

const CREDENTIAL_TYPENAME: Record<CredentialKindColumn, string> = { API_KEY: 'ApiKey', APPLICATION_KEY: 'ApplicationKey', CLIENT_TOKEN: 'ClientToken' };

/** What a lifecycle entry's subject is, from its event type; principals' events need a lookup (user or service account). */
function subjectTypename(eventType: string): string | 'Principal' | null {
  if (eventType === 'OrganizationCreated' || eventType === 'ApiKeyLimitChanged') return 'Organization';
  if (eventType.startsWith('ApiKey')) return 'ApiKey';
  if (eventType.startsWith('ApplicationKey')) return 'ApplicationKey';
  if (eventType.startsWith('ClientToken')) return 'ClientToken';
  if (eventType === 'UserInvited') return 'User';
  if (eventType === 'ServiceAccountCreated') return 'ServiceAccount';
  if (eventType.startsWith('Principal')) return 'Principal';
  return null;
}

const optionalId = (typename: string, id: string | null) => (id === null ? null : globalId(typename, id));

const AuditEntry = builder.objectRef<AuditRow>('AuditEntry').implement({
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
    rootFields: t.stringList({ nullable: true, resolve: (e) => (e.root_fields === null ? null : (JSON.parse(e.root_fields) as string[])) }),
    outcome: t.field({ type: AuditOutcomeEnum, resolve: (e) => e.outcome }),
    errorCode: t.exposeString('error_code', { nullable: true }),
    clientIp: t.exposeString('client_ip', { nullable: true }),
    userAgent: t.exposeString('user_agent', { nullable: true }),
    subjectId: t.id({
      nullable: true,
      description: 'Lifecycle entries: the credential, principal or organization the change is about.',
      resolve: async (e, _args, context) => {
        if (e.subject_id === null) return null;
        const typename = subjectTypename(e.event_type);
        if (typename === null) return null;
        if (typename !== 'Principal') return globalId(typename, e.subject_id);
        const principal = await Principal.getDataloader(context).load(e.subject_id);
        return globalId(principal.kind === 'USER' ? 'User' : 'ServiceAccount', e.subject_id);
      },
    }),
    details: t.exposeString('details', { nullable: true, description: "Lifecycle entries: the change's data as JSON (never a secret or a digest)." }),
    prevHash: t.exposeString('prev_hash', { description: "The previous entry's hash (64 zeros for an organization's first)." }),
    hash: t.exposeString('hash', { description: 'sha256(prevHash + "\\n" + canonical JSON of the entry), hex.' }),
  }),
});

const AuditLogFilter = builder.inputType('AuditLogFilter', {
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

const CREDENTIAL_COLUMN = { ApiKey: 'api_key_id', ApplicationKey: 'application_key_id', ClientToken: 'client_token_id' } as const;

function filteredEntries(context: GraphQLContext, orgId: string, filter: Filter | null | undefined) {
  let q = context.db.selectFrom('audit_log').where('org_id', '=', orgId);
  if (!filter) return q;
  if (filter.credentialId != null) {
    const decoded = tryDecode(String(filter.credentialId), Object.keys(CREDENTIAL_COLUMN));
    if (!decoded) throw notFound('credential'); // as any malformed or foreign id (R20)
    q = q.where(CREDENTIAL_COLUMN[decoded.typename as keyof typeof CREDENTIAL_COLUMN], '=', decoded.id);
  }
  if (filter.principalId != null) q = q.where('principal_id', '=', principalIdArg(String(filter.principalId)));
  if (filter.operation != null) {
    const operation = filter.operation;
    const inRootFields =
      readStoreDialect(context.db) === 'postgres'
        ? sql<boolean>`root_fields::jsonb @> ${JSON.stringify([operation])}::jsonb`
        : sql<boolean>`exists (select 1 from json_each(audit_log.root_fields) where json_each.value = ${operation})`;
    q = q.where((eb) => eb.or([eb('operation_name', '=', operation), inRootFields]));
  }
  if (filter.requestId != null) q = q.where('request_id', '=', filter.requestId);
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.outcome) q = q.where('outcome', '=', filter.outcome);
  if (filter.from) q = q.where('at', '>=', filter.from.toISOString());
  if (filter.to) q = q.where('at', '<', filter.to.toISOString());
  return q;
}

type Order = 'NEWEST_FIRST' | 'OLDEST_FIRST';

function encodeCursor(order: Order, seq: number): string {
  return Buffer.from(JSON.stringify([order, seq])).toString('base64url');
}

function decodeCursor(raw: string, order: Order): number {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && parsed[0] === order && Number.isSafeInteger(parsed[1])) return parsed[1] as number;
  } catch {
    // fall through
  }
  throw badUserInput('after is not a cursor of this list and order', 'after');
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

// ── compliance report ───────────────────────────────────────────────────────

const REPORT_LIST_LIMIT = 100;
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

type ReportCredential = CredentialsTable & { last_used_at: string | null };

interface ReportList {
  readonly totalCount: number;
  readonly items: readonly ReportCredential[];
}

const ComplianceCredential = builder.objectRef<ReportCredential>('ComplianceCredential').implement({
  description: 'A credential named by the compliance report.',
  fields: (t) => ({
    id: t.id({ description: 'Its ApiKey, ApplicationKey or ClientToken id.', resolve: (c) => globalId(CREDENTIAL_TYPENAME[c.kind], c.id) }),
    kind: t.field({ type: CredentialKindEnum, resolve: (c) => c.kind }),
    name: t.exposeString('name'),
    last4: t.exposeString('last4'),
    scopes: t.stringList({ nullable: true, resolve: (c) => (c.scopes === null ? null : (JSON.parse(c.scopes) as string[])) }),
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
  readonly reason: 'REVOKED' | 'OWNER_DISABLED' | 'ROTATED';
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

/** Credentials of the org active at `asOf`: created by then, not revoked by then, not expired by then. */
function activeAt(context: GraphQLContext, report: ReportShape) {
  const asOf = report.asOf.toISOString();
  return context.db
    .selectFrom('credentials as c')
    .leftJoin('credential_usage as u', 'u.credential_id', 'c.id')
    .where('c.org_id', '=', report.orgId)
    .where('c.created_at', '<=', asOf)
    .where((eb) => eb.or([eb('c.revoked_at', 'is', null), eb('c.revoked_at', '>', asOf)]))
    .where((eb) => eb.or([eb('c.expires_at', 'is', null), eb('c.expires_at', '>', asOf)]));
}

type ActiveQuery = ReturnType<typeof activeAt>;

async function reportList(query: ActiveQuery): Promise<ReportList> {
  const [items, count] = await Promise.all([
    query.selectAll('c').select('u.last_used_at').orderBy('c.created_at').orderBy('c.id').limit(REPORT_LIST_LIMIT).execute(),
    query.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirst(),
  ]);
  return { totalCount: Number(count?.n ?? 0), items };
}

const daysBefore = (date: Date, days: number) => new Date(date.getTime() - days * DAY_MS).toISOString();

const ComplianceReport = builder.objectRef<ReportShape>('ComplianceReport').implement({
  description: "The organization's credentials as of a time, as an auditor asks about them. Each part is computed only when selected.",
  fields: (t) => ({
    asOf: t.field({ type: 'DateTime', resolve: (r) => r.asOf.toISOString() }),
    unusedForDays: t.exposeInt('unusedForDays'),
    olderThanDays: t.exposeInt('olderThanDays'),
    activeCredentials: t.field({
      type: ActiveCredentialCounts,
      description: 'Credentials active at asOf, by kind.',
      resolve: async (r, _args, context) => {
        const rows = await activeAt(context, r)
          .select(['c.kind', (eb) => eb.fn.countAll<string | number>().as('n')])
          .groupBy('c.kind')
          .execute();
        const count = (kind: CredentialKindColumn) => Number(rows.find((row) => row.kind === kind)?.n ?? 0);
        return { apiKeys: count('API_KEY'), applicationKeys: count('APPLICATION_KEY'), clientTokens: count('CLIENT_TOKEN') };
      },
    }),
    unscopedApplicationKeys: t.field({
      type: ComplianceCredentialList,
      description: 'Active application keys without scopes: they hold all of their owner’s permissions (R6).',
      resolve: (r, _args, context) => reportList(activeAt(context, r).where('c.kind', '=', 'APPLICATION_KEY').where('c.scopes', 'is', null)),
    }),
    unusedCredentials: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials last used more than unusedForDays before asOf.',
      resolve: (r, _args, context) => reportList(activeAt(context, r).where('u.last_used_at', '<', daysBefore(r.asOf, r.unusedForDays))),
    }),
    neverUsedCredentials: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials with no recorded use.',
      resolve: (r, _args, context) => reportList(activeAt(context, r).where('u.credential_id', 'is', null)),
    }),
    rotationDue: t.field({
      type: ComplianceCredentialList,
      description: 'Active credentials created more than olderThanDays before asOf.',
      resolve: (r, _args, context) => reportList(activeAt(context, r).where('c.created_at', '<', daysBefore(r.asOf, r.olderThanDays))),
    }),
    apiKeysCreatedByDisabledPrincipals: t.field({
      type: ComplianceCredentialList,
      description: 'Active API keys whose creator is disabled: they stay valid (R13), and nobody answers for them.',
      resolve: (r, _args, context) =>
        reportList(
          activeAt(context, r)
            .where('c.kind', '=', 'API_KEY')
            .where('c.created_by', 'in', (eb) =>
              eb.selectFrom('principals').select('id').where('org_id', '=', r.orgId).where('status', '=', 'DISABLED').where('disabled_at', '<=', r.asOf.toISOString()),
            ),
        ),
    }),
    revocations: t.field({
      type: RevocationSummaryRef,
      description: 'Credentials revoked in [revokedFrom, revokedTo), by reason.',
      resolve: async (r, _args, context) => {
        const rows = await context.db
          .selectFrom('credentials')
          .select(['revocation_reason', (eb) => eb.fn.countAll<string | number>().as('n')])
          .where('org_id', '=', r.orgId)
          .where('revoked_at', '>=', r.revokedFrom.toISOString())
          .where('revoked_at', '<', r.revokedTo.toISOString())
          .groupBy('revocation_reason')
          .orderBy('revocation_reason')
          .execute();
        return {
          from: r.revokedFrom,
          to: r.revokedTo,
          byReason: rows.filter((row) => row.revocation_reason !== null).map((row) => ({ reason: row.revocation_reason as RevocationCount['reason'], count: Number(row.n) })),
        };
      },
    }),
  }),
});

function days(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_DAYS) throw badUserInput(`${field} must be a whole number of days from 0 to ${MAX_DAYS}`, field);
  return value;
}

builder.queryFields((t) => ({
  auditLog: t.connection({
    type: AuditEntry,
    description: "The organization's audit log (audit_logs_read): requests and lifecycle changes, newest first by default.",
    authScopes: { permission: 'audit_logs_read' },
    args: {
      filter: t.arg({ type: AuditLogFilter, required: false }),
      order: t.arg({ type: AuditOrderEnum, required: false, defaultValue: 'NEWEST_FIRST' }),
    },
    resolve: async (_parent, args, context) => {
      const actor = actorOf(context);
      const order: Order = args.order ?? 'NEWEST_FIRST';
      const first = args.first ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw badUserInput(`first must be from 0 to ${MAX_PAGE_SIZE}`, 'first');
      const after = args.after ? decodeCursor(args.after, order) : null;
      const newestFirst = order === 'NEWEST_FIRST';
      const filtered = filteredEntries(context, actor.orgId, args.filter);
      let page = filtered.selectAll();
      if (after !== null) page = page.where('seq', newestFirst ? '<' : '>', after);
      const rows = await page
        .orderBy('seq', newestFirst ? 'desc' : 'asc')
        .limit(first + 1)
        .execute();
      const count = once(async () => Number((await filtered.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirst())?.n ?? 0));
      const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(order, Number(node.seq)), node }));
      return {
        edges,
        pageInfo: { hasNextPage: rows.length > first, hasPreviousPage: after !== null, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null },
        totalCount: count,
      };
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
    resolve: (_parent, args, context) => verifyAuditChain(context.db, actorOf(context).orgId, { ...(args.from ? { from: args.from } : {}), ...(args.to ? { to: args.to } : {}) }),
  }),
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
