// API keys, application keys and client tokens: their types, lists and mutations. A create
// payload carries the secret, the only time it is ever shown.

import { credentialsByIds, listCredentials, type CredentialFilter as CredentialFilterQuery, type CredentialRow } from '../../../projections/credentials/queries.js';
import type { CredentialsTable } from '../../../projections/credentials/tables.js';
import type { ListOrder } from '../../../projections/core/pagination.js';
import type { PrincipalsTable } from '../../../projections/principals/tables.js';
import type { GraphQLResolveInfo } from 'graphql';
import { credentialStatus } from '../../domain/credential.js';
import type { CredentialKind } from '../../domain/events.js';
import { parseFilterText } from '../../domain/input.js';
import { effectivePermissions, isPermission } from '../../domain/permissions.js';
import { applicationKeyReadScope, type ApplicationKeyReadScope } from '../../domain/principal.js';
import { MAX_GRACE_PERIOD_SECONDS } from '../../domain/rotation.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import type { GraphQLContext } from '../core/context.js';
import { decodeId } from '../core/ids.js';
import { lastUsedOf, pageOf, readPage, selectedFieldNames, selects } from '../core/pages.js';
import { parseList } from '../../../projections/core/lists.js';
import { Order, Principal, principalIdArg } from './principals.js';

const CredentialStatusEnum = builder.enumType('CredentialStatus', {
  values: {
    ACTIVE: { description: 'Authenticates.' },
    REVOKED: { description: 'Revoked: final.' },
    EXPIRED: { description: 'Past its expiresAt.' },
  },
});

export const RevocationReasonEnum = builder.enumType('RevocationReason', {
  values: {
    REVOKED: { description: 'Revoked by a principal.' },
    OWNER_DISABLED: { description: 'Its owner was disabled (R13).' },
    ROTATED: { description: 'Replaced by a successor.' },
  },
});

/** The one status rule, on a read-model row: its owner's disabling is recorded as its revocation (R13). */
function statusOf(row: CredentialsTable, now: Date) {
  return credentialStatus({ active: row.status === 'ACTIVE', expiresAt: row.expires_at, revokesAt: row.revokes_at }, null, now);
}

/** R18: a rotated key whose grace has ended is revoked then, for the ROTATED reason, whether or not the scheduler has recorded it yet. */
function graceEnded(row: CredentialsTable, now: Date): boolean {
  return row.status === 'ACTIVE' && row.revokes_at !== null && row.revokes_at <= now.toISOString();
}

function lastUsedAt(
  t: PothosSchemaTypes.ObjectFieldBuilder<PothosSchemaTypes.ExtendDefaultTypes<typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never>, CredentialRow>,
) {
  return t.field({
    type: 'DateTime',
    nullable: true,
    description: 'When it last authenticated a request, to the minute.',
    // A list's rows were read with it; another credential (a payload, a node) is read in a batch.
    resolve: (k, _args, context) => (k.last_used_at !== undefined ? k.last_used_at : lastUsedOf(context).load(k.id)),
  });
}

/** Whether a list's page should read when each credential was last used. */
const withLastUsed = (info: GraphQLResolveInfo) => selects(info, ['edges', 'node', 'lastUsedAt']);

type Column = keyof CredentialsTable;

/**
 * The columns each field of the credential types reads of its row (`id`, `kind`, `org_id` and the
 * keysets' columns are always read; `lastUsedAt` is read with the page or in a batch). A field
 * missing here makes its page read every column.
 */
const FIELD_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  __typename: [],
  id: [],
  name: ['name'],
  last4: ['last4'],
  status: ['status', 'expires_at', 'revokes_at'],
  revocationReason: ['revocation_reason', 'status', 'revokes_at'],
  scopes: ['scopes'],
  effectivePermissions: ['scopes', 'owner_id'],
  owner: ['owner_id'],
  createdBy: ['created_by'],
  createdAt: ['created_at'],
  modifiedAt: ['modified_at'],
  revokedAt: ['revoked_at', 'status', 'revokes_at'],
  expiresAt: ['expires_at'],
  lastUsedAt: [],
  successor: ['successor_id'],
  revokesAt: ['revokes_at'],
  allowedOrigins: ['allowed_origins'],
};

/** Per field node of a document (yoga parses each document once): the columns its page reads. */
const pageColumns = new WeakMap<object, readonly Column[] | null>();

/** The columns a list's rows need for the fields the document selects of them; null for every column. */
function columnsOf(info: GraphQLResolveInfo): readonly Column[] | null {
  const key = info.fieldNodes[0];
  if (key !== undefined && info.fieldNodes.length === 1) {
    const known = pageColumns.get(key);
    if (known !== undefined) return known;
  }
  const names = selectedFieldNames(info, ['edges', 'node']);
  let columns: Column[] | null = [];
  for (const name of names ?? []) {
    const read = FIELD_COLUMNS[name];
    if (read === undefined) {
      columns = null;
      break;
    }
    columns.push(...read);
  }
  if (key !== undefined && info.fieldNodes.length === 1) pageColumns.set(key, columns);
  return columns;
}

function loadCredentials(ids: readonly string[], context: GraphQLContext, kind: CredentialKind): Promise<(CredentialsTable | Error)[]> {
  return credentialsByIds(context.readDb, ids, kind);
}

export const ApiKey = builder.loadableNode(builder.objectRef<CredentialRow>('ApiKey'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'API_KEY',
  description: "An organization's credential for agents and intake. With an application key, it also opens the GraphQL API.",
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'API_KEY'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({
      type: RevocationReasonEnum,
      nullable: true,
      resolve: (k, _args, context) => k.revocation_reason ?? (graceEnded(k, context.now) ? 'ROTATED' : null),
    }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (k) => k.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (k) => k.modified_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k, _args, context) => k.revoked_at ?? (graceEnded(k, context.now) ? k.revokes_at : null) }),
    lastUsedAt: lastUsedAt(t),
  }),
});

export const ApplicationKey = builder.loadableNode(builder.objectRef<CredentialRow>('ApplicationKey'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'APPLICATION_KEY',
  description: 'A credential owned by one principal; with an API key of the same organization it acts as its owner on the API.',
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'APPLICATION_KEY'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({
      type: RevocationReasonEnum,
      nullable: true,
      resolve: (k, _args, context) => k.revocation_reason ?? (graceEnded(k, context.now) ? 'ROTATED' : null),
    }),
    scopes: t.stringList({
      nullable: true,
      description: 'The scopes written on the key; null for an unscoped key, which has all of its owner’s permissions (R6).',
      resolve: (k) => (k.scopes === null ? null : parseList(k.scopes)),
    }),
    effectivePermissions: t.stringList({
      description: "What the key may do now: its scopes intersected with its owner's current permissions (R7).",
      resolve: async (k, _args, context) => {
        const owner: PrincipalsTable = await Principal.getDataloader(context).load(k.owner_id ?? '');
        const scopes = k.scopes === null ? null : parseList(k.scopes).filter(isPermission);
        return owner.status === 'ACTIVE' ? [...effectivePermissions(owner.role, scopes)] : [];
      },
    }),
    owner: t.field({ type: Principal, resolve: (k) => k.owner_id ?? '' }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (k) => k.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (k) => k.modified_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k, _args, context) => k.revoked_at ?? (graceEnded(k, context.now) ? k.revokes_at : null) }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.expires_at }),
    lastUsedAt: lastUsedAt(t),
  }),
});

// R18: a rotated key names its successor (of its own type, hence added once the type exists) and the end of its grace.
// ApiKey and ApplicationKey are refs of the same row type, so one signature takes both.
function rotationFields(key: typeof ApiKey, successor: string): void {
  builder.objectFields(key, (t) => ({
    successor: t.field({ type: key, nullable: true, description: `${successor}; null for a key not rotated.`, resolve: (k) => k.successor_id }),
    revokesAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: "When a rotated key's grace ends and it is revoked (reason ROTATED); null for a key not rotated.",
      resolve: (k) => k.revokes_at,
    }),
  }));
}
rotationFields(ApiKey, 'The key that replaced this one when it was rotated');
rotationFields(ApplicationKey, 'The key that replaced this one when it was rotated (same owner, name, scopes and expiry)');

export const ClientToken = builder.loadableNode(builder.objectRef<CredentialRow>('ClientToken'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'CLIENT_TOKEN',
  description: 'An organization credential for browser collectors: safe to expose in a page, good only for browser intake (R11).',
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'CLIENT_TOKEN'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({ type: RevocationReasonEnum, nullable: true, resolve: (k) => k.revocation_reason }),
    allowedOrigins: t.stringList({
      description: 'Origins a browser may send it from; empty means any origin.',
      resolve: (k) => (k.allowed_origins === null ? [] : parseList(k.allowed_origins)),
    }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (k) => k.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (k) => k.modified_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revoked_at }),
    lastUsedAt: lastUsedAt(t),
  }),
});

const CredentialFilter = builder.inputType('CredentialFilter', {
  fields: (t) => ({
    status: t.field({ type: CredentialStatusEnum, required: false }),
    ownerId: t.id({ required: false, description: 'Application keys only: the owning principal.' }),
    createdById: t.id({ required: false, description: 'Only credentials created by this principal.' }),
    nameContains: t.string({ required: false, description: 'Case-insensitive, after trimming.' }),
    createdAfter: t.field({ type: 'DateTime', required: false }),
    createdBefore: t.field({ type: 'DateTime', required: false }),
    lastUsedAfter: t.field({ type: 'DateTime', required: false }),
    lastUsedBefore: t.field({ type: 'DateTime', required: false }),
  }),
});

type Filter = typeof CredentialFilter.$inferInput;

/** The list filter with its ids decoded (R20: a malformed or foreign id is NOT_FOUND) and its text bounded (R29). */
function filterOf(filter: Filter | null | undefined): CredentialFilterQuery | null {
  if (!filter) return null;
  return {
    ...filter,
    ownerId: filter.ownerId == null ? null : principalIdArg(String(filter.ownerId)),
    createdById: filter.createdById == null ? null : principalIdArg(String(filter.createdById)),
    nameContains: parseFilterText(filter.nameContains, 'filter.nameContains'),
  };
}

function orderOf(order: { field: ListOrder['field']; direction: ListOrder['direction'] } | null | undefined): ListOrder {
  return { field: order?.field ?? 'CREATED_AT', direction: order?.direction ?? 'DESC' };
}

/** A page of the actor's organization's credentials of a kind, as its connection's arguments and document ask for it. */
function credentialPage(
  kind: CredentialKind,
  args: { filter?: Filter | null; orderBy?: Parameters<typeof orderOf>[0]; first?: number | null; after?: string | null },
  context: GraphQLContext,
  info: GraphQLResolveInfo,
  readScope?: ApplicationKeyReadScope,
) {
  const list = {
    orgId: actorOf(context).orgId,
    kind,
    ...(readScope === undefined ? {} : { readScope }),
    filter: filterOf(args.filter),
    order: orderOf(args.orderBy),
    page: pageOf(args, info),
    now: context.now,
    withLastUsed: withLastUsed(info),
    columns: columnsOf(info),
  };
  return readPage(context, () => listCredentials(context.readDb, list));
}

builder.queryFields((t) => ({
  apiKeys: t.connection({
    type: ApiKey,
    description: "The organization's API keys (never their secrets).",
    authScopes: { permission: 'api_keys_read' },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context, info) => credentialPage('API_KEY', args, context, info),
  }),
  applicationKeys: t.connection({
    type: ApplicationKey,
    description: "Application keys: all of the organization's with org_app_keys_read, otherwise one's own (and service accounts' with service_account_write).",
    authScopes: { authenticated: true },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context, info) => credentialPage('APPLICATION_KEY', args, context, info, applicationKeyReadScope(actorOf(context))),
  }),
  clientTokens: t.connection({
    type: ClientToken,
    description: "The organization's client tokens.",
    authScopes: { permission: 'client_tokens_read' },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context, info) => credentialPage('CLIENT_TOKEN', args, context, info),
  }),
}));

const apiKeyId = (id: string | number) => decodeId(String(id), ['ApiKey'], 'API key');
const applicationKeyId = (id: string | number) => decodeId(String(id), ['ApplicationKey'], 'application key');
const clientTokenId = (id: string | number) => decodeId(String(id), ['ClientToken'], 'client token');

const ApiKeyPayload = builder.objectRef<{ apiKey: CredentialsTable; secret?: string }>('ApiKeyPayload').implement({
  fields: (t) => ({ apiKey: t.field({ type: ApiKey, resolve: (p) => p.apiKey }) }),
});
const CreateApiKeyPayload = builder.objectRef<{ apiKey: CredentialsTable; secret: string }>('CreateApiKeyPayload').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKey, resolve: (p) => p.apiKey }),
    secret: t.exposeString('secret', { description: 'The API key itself. Shown this once: store it now.' }),
  }),
});
const ApplicationKeyPayload = builder.objectRef<{ applicationKey: CredentialsTable }>('ApplicationKeyPayload').implement({
  fields: (t) => ({ applicationKey: t.field({ type: ApplicationKey, resolve: (p) => p.applicationKey }) }),
});
const CreateApplicationKeyPayload = builder.objectRef<{ applicationKey: CredentialsTable; secret: string }>('CreateApplicationKeyPayload').implement({
  fields: (t) => ({
    applicationKey: t.field({ type: ApplicationKey, resolve: (p) => p.applicationKey }),
    secret: t.exposeString('secret', { description: 'The application key itself. Shown this once: store it now.' }),
  }),
});
const RotateApiKeyPayload = builder.objectRef<{ apiKey: CredentialsTable; secret: string; predecessor: CredentialsTable }>('RotateApiKeyPayload').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKey, description: 'The successor: a new key with the same name.', resolve: (p) => p.apiKey }),
    secret: t.exposeString('secret', { description: "The successor's secret. Shown this once: store it now." }),
    predecessor: t.field({ type: ApiKey, description: 'The rotated key: it works until revokesAt.', resolve: (p) => p.predecessor }),
  }),
});
const RotateApplicationKeyPayload = builder
  .objectRef<{ applicationKey: CredentialsTable; secret: string; predecessor: CredentialsTable }>('RotateApplicationKeyPayload')
  .implement({
    fields: (t) => ({
      applicationKey: t.field({
        type: ApplicationKey,
        description: 'The successor: a new key with the same name, scopes, owner and expiry.',
        resolve: (p) => p.applicationKey,
      }),
      secret: t.exposeString('secret', { description: "The successor's secret. Shown this once: store it now." }),
      predecessor: t.field({ type: ApplicationKey, description: 'The rotated key: it works until revokesAt.', resolve: (p) => p.predecessor }),
    }),
  });

/** R18: the grace period argument: seconds, 0 (revoke at once) to 7 days. */
const GRACE_PERIOD_DESCRIPTION = `Seconds during which the rotated key still works, from 0 (revoked at once, the default) to ${MAX_GRACE_PERIOD_SECONDS} (7 days).`;

const ClientTokenPayload = builder.objectRef<{ clientToken: CredentialsTable }>('ClientTokenPayload').implement({
  fields: (t) => ({ clientToken: t.field({ type: ClientToken, resolve: (p) => p.clientToken }) }),
});
const CreateClientTokenPayload = builder.objectRef<{ clientToken: CredentialsTable; secret: string }>('CreateClientTokenPayload').implement({
  fields: (t) => ({
    clientToken: t.field({ type: ClientToken, resolve: (p) => p.clientToken }),
    secret: t.exposeString('secret', { description: 'The client token itself. Shown this once: store it now.' }),
  }),
});

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreateApiKeyPayload,
    description: 'Creates an API key (api_keys_write). Names are unique among active API keys (R3); at most apiKeyLimit are active (R2).',
    authScopes: { authenticated: true },
    args: { name: t.arg.string() },
    resolve: async (_parent, args, context) => {
      const issued = await context.keyledger.createApiKey(actorOf(context), { name: args.name }, context.requestId);
      return { apiKey: issued.credential, secret: issued.secret };
    },
  }),
  renameApiKey: t.field({
    type: ApiKeyPayload,
    description: 'Renames an API key (api_keys_write).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), name: t.arg.string() },
    resolve: async (_parent, args, context) => ({
      apiKey: await context.keyledger.renameApiKey(actorOf(context), { id: apiKeyId(args.id), name: args.name }, context.requestId),
    }),
  }),
  revokeApiKey: t.field({
    type: ApiKeyPayload,
    description: "Revokes an API key (api_keys_delete), at once and for good. The organization's last active API key cannot be revoked (R1).",
    authScopes: { authenticated: true },
    args: { id: t.arg.id() },
    resolve: async (_parent, args, context) => ({
      apiKey: await context.keyledger.revokeApiKey(actorOf(context), { id: apiKeyId(args.id) }, context.requestId),
    }),
  }),
  rotateApiKey: t.field({
    type: RotateApiKeyPayload,
    description:
      'Rotates an API key (api_keys_write and api_keys_delete): a successor with a new secret and the same name, and the key revoked (reason ROTATED) when gracePeriod ends. Never refused for the limit (R2) or the name (R3); a key in its grace is ALREADY_ROTATED (R18).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), gracePeriod: t.arg.int({ required: false, defaultValue: 0, description: GRACE_PERIOD_DESCRIPTION }) },
    resolve: async (_parent, args, context) => {
      const rotated = await context.keyledger.rotateApiKey(actorOf(context), { id: apiKeyId(args.id), gracePeriodSeconds: args.gracePeriod ?? 0 }, context.requestId);
      return { apiKey: rotated.credential, secret: rotated.secret, predecessor: rotated.predecessor };
    },
  }),
  createApplicationKey: t.field({
    type: CreateApplicationKeyPayload,
    description:
      'Creates an application key for yourself, or for ownerId (a user: org_app_keys_write; a service account: service_account_write). Without scopes it has all of its owner’s permissions; nobody grants a scope they lack (R9).',
    authScopes: { authenticated: true },
    args: {
      name: t.arg.string(),
      ownerId: t.arg.id({ required: false }),
      scopes: t.arg.stringList({ required: false, description: 'Permission names (case-sensitive); omit or null for an unscoped key.' }),
      expiresAt: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: async (_parent, args, context) => {
      const issued = await context.keyledger.createApplicationKey(
        actorOf(context),
        {
          name: args.name,
          ownerId: args.ownerId == null ? null : principalIdArg(String(args.ownerId)),
          scopes: args.scopes ?? null,
          expiresAt: args.expiresAt ?? null,
        },
        context.requestId,
      );
      return { applicationKey: issued.credential, secret: issued.secret };
    },
  }),
  scopeApplicationKey: t.field({
    type: ApplicationKeyPayload,
    description: 'Sets the scopes of an application key; null makes it unscoped (R7, R8, R9).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), scopes: t.arg.stringList({ required: false }) },
    resolve: async (_parent, args, context) => ({
      applicationKey: await context.keyledger.scopeApplicationKey(actorOf(context), { id: applicationKeyId(args.id), scopes: args.scopes ?? null }, context.requestId),
    }),
  }),
  renameApplicationKey: t.field({
    type: ApplicationKeyPayload,
    description: 'Renames an application key (R5, R8).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), name: t.arg.string() },
    resolve: async (_parent, args, context) => ({
      applicationKey: await context.keyledger.renameApplicationKey(actorOf(context), { id: applicationKeyId(args.id), name: args.name }, context.requestId),
    }),
  }),
  revokeApplicationKey: t.field({
    type: ApplicationKeyPayload,
    description: 'Revokes an application key, at once and for good (R8).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id() },
    resolve: async (_parent, args, context) => ({
      applicationKey: await context.keyledger.revokeApplicationKey(actorOf(context), { id: applicationKeyId(args.id) }, context.requestId),
    }),
  }),
  rotateApplicationKey: t.field({
    type: RotateApplicationKeyPayload,
    description:
      'Rotates an application key (R8: as creating and revoking it): a successor with a new secret and the same name, scopes, owner and expiry, and the key revoked (reason ROTATED) when gracePeriod ends. Never refused for the name (R3); a key in its grace is ALREADY_ROTATED (R18).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), gracePeriod: t.arg.int({ required: false, defaultValue: 0, description: GRACE_PERIOD_DESCRIPTION }) },
    resolve: async (_parent, args, context) => {
      const rotated = await context.keyledger.rotateApplicationKey(
        actorOf(context),
        { id: applicationKeyId(args.id), gracePeriodSeconds: args.gracePeriod ?? 0 },
        context.requestId,
      );
      return { applicationKey: rotated.credential, secret: rotated.secret, predecessor: rotated.predecessor };
    },
  }),
  createClientToken: t.field({
    type: CreateClientTokenPayload,
    description: 'Creates a client token for browser intake (client_tokens_write).',
    authScopes: { authenticated: true },
    args: {
      name: t.arg.string(),
      allowedOrigins: t.arg.stringList({ required: false, description: 'Origins such as https://app.example.com; empty or omitted: any origin.' }),
    },
    resolve: async (_parent, args, context) => {
      const issued = await context.keyledger.createClientToken(actorOf(context), { name: args.name, allowedOrigins: args.allowedOrigins ?? [] }, context.requestId);
      return { clientToken: issued.credential, secret: issued.secret };
    },
  }),
  renameClientToken: t.field({
    type: ClientTokenPayload,
    description: 'Renames a client token (client_tokens_write).',
    authScopes: { authenticated: true },
    args: { id: t.arg.id(), name: t.arg.string() },
    resolve: async (_parent, args, context) => ({
      clientToken: await context.keyledger.renameClientToken(actorOf(context), { id: clientTokenId(args.id), name: args.name }, context.requestId),
    }),
  }),
  revokeClientToken: t.field({
    type: ClientTokenPayload,
    description: 'Revokes a client token (client_tokens_write), at once and for good.',
    authScopes: { authenticated: true },
    args: { id: t.arg.id() },
    resolve: async (_parent, args, context) => ({
      clientToken: await context.keyledger.revokeClientToken(actorOf(context), { id: clientTokenId(args.id) }, context.requestId),
    }),
  }),
}));
