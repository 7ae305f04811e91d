// API keys, application keys and client tokens: their types, lists and mutations. A create
// payload carries the secret, the only time it is ever shown.

import { sql, type SelectQueryBuilder } from 'kysely';
import type { PrincipalActor } from '../../domain/actor.js';
import { nameKey } from '../../domain/names.js';
import { effectivePermissions, type Permission, type Role } from '../../domain/permissions.js';
import type { CredentialKindColumn, CredentialsTable, PrincipalsTable } from '../../../projections/tables.js';
import type { ReadModels } from '../../../projections/index.js';
import { actorOf } from '../actor.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { decodeId } from '../ids.js';
import { badUserInput } from '../errors.js';
import { connection, containsPattern } from '../pagination.js';
import { Order, Principal, principalIdArg } from './principals.js';

export const CredentialStatusEnum = builder.enumType('CredentialStatus', {
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

type Status = 'ACTIVE' | 'REVOKED' | 'EXPIRED';

function statusOf(row: CredentialsTable, now: Date): Status {
  if (row.status === 'REVOKED') return 'REVOKED';
  if (row.expires_at !== null && row.expires_at <= now.toISOString()) return 'EXPIRED';
  return 'ACTIVE';
}

/** When the credential was last used, to the minute; batched per page (one query). */
async function loadLastUsed(ids: readonly string[], context: GraphQLContext): Promise<(string | null)[]> {
  const rows = await context.db
    .selectFrom('credential_usage')
    .select(['credential_id', 'last_used_at'])
    .where('credential_id', 'in', [...ids])
    .execute();
  const byId = new Map(rows.map((row) => [row.credential_id, row.last_used_at]));
  return ids.map((id) => byId.get(id) ?? null);
}

function lastUsedAt(
  t: PothosSchemaTypes.ObjectFieldBuilder<PothosSchemaTypes.ExtendDefaultTypes<typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never>, CredentialsTable>,
) {
  return t.loadable({
    type: 'DateTime',
    nullable: true,
    description: 'When it last authenticated a request, to the minute.',
    load: (ids: string[], context) => loadLastUsed(ids, context),
    resolve: (k) => k.id,
  });
}

async function loadCredentials(ids: readonly string[], context: GraphQLContext, kind: CredentialKindColumn): Promise<(CredentialsTable | Error)[]> {
  const rows = await context.db
    .selectFrom('credentials')
    .selectAll()
    .where('id', 'in', [...ids])
    .where('kind', '=', kind)
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? new Error(`credential ${id} not found`));
}

export const ApiKey = builder.loadableNode(builder.objectRef<CredentialsTable>('ApiKey'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'API_KEY',
  description: "An organization's credential for agents and intake. With an application key, it also opens the GraphQL API.",
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'API_KEY'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({ type: RevocationReasonEnum, nullable: true, resolve: (k) => k.revocation_reason as 'REVOKED' | null }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (k) => k.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (k) => k.modified_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revoked_at }),
    lastUsedAt: lastUsedAt(t),
  }),
});

export const ApplicationKey = builder.loadableNode(builder.objectRef<CredentialsTable>('ApplicationKey'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'APPLICATION_KEY',
  description: 'A credential owned by one principal; with an API key of the same organization it acts as its owner on the API.',
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'APPLICATION_KEY'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({ type: RevocationReasonEnum, nullable: true, resolve: (k) => k.revocation_reason as 'REVOKED' | 'OWNER_DISABLED' | null }),
    scopes: t.stringList({
      nullable: true,
      description: 'The scopes written on the key; null for an unscoped key, which has all of its owner’s permissions (R6).',
      resolve: (k) => (k.scopes === null ? null : (JSON.parse(k.scopes) as string[])),
    }),
    effectivePermissions: t.stringList({
      description: "What the key may do now: its scopes intersected with its owner's current permissions (R7).",
      resolve: async (k, _args, context) => {
        const owner = (await Principal.getDataloader(context).load(k.owner_id ?? '')) as PrincipalsTable;
        const scopes = k.scopes === null ? null : (JSON.parse(k.scopes) as Permission[]);
        return owner.status === 'ACTIVE' ? [...effectivePermissions(owner.role as Role, scopes)] : [];
      },
    }),
    owner: t.field({ type: Principal, resolve: (k) => k.owner_id ?? '' }),
    createdBy: t.field({ type: Principal, nullable: true, resolve: (k) => k.created_by }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (k) => k.modified_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revoked_at }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.expires_at }),
    lastUsedAt: lastUsedAt(t),
  }),
});

export const ClientToken = builder.loadableNode(builder.objectRef<CredentialsTable>('ClientToken'), {
  isTypeOf: (value) => (value as CredentialsTable).kind === 'CLIENT_TOKEN',
  description: 'An organization credential for browser collectors: safe to expose in a page, good only for browser intake (R11).',
  id: { resolve: (k) => k.id },
  load: (ids: string[], context) => loadCredentials(ids, context, 'CLIENT_TOKEN'),
  fields: (t) => ({
    name: t.exposeString('name'),
    last4: t.exposeString('last4', { description: 'The last four characters of the secret.' }),
    status: t.field({ type: CredentialStatusEnum, resolve: (k, _args, context) => statusOf(k, context.now) }),
    revocationReason: t.field({ type: RevocationReasonEnum, nullable: true, resolve: (k) => k.revocation_reason as 'REVOKED' | null }),
    allowedOrigins: t.stringList({
      description: 'Origins a browser may send it from; empty means any origin.',
      resolve: (k) => (k.allowed_origins === null ? [] : (JSON.parse(k.allowed_origins) as string[])),
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
type CredentialQuery = SelectQueryBuilder<ReadModels, 'credentials', CredentialsTable>;

function filtered(query: CredentialQuery, filter: Filter | null | undefined, now: Date, kind: CredentialKindColumn): CredentialQuery {
  let q = query;
  if (!filter) return q;
  const nowIso = now.toISOString();
  if (filter.status === 'REVOKED') q = q.where('status', '=', 'REVOKED');
  if (filter.status === 'ACTIVE') q = q.where('status', '=', 'ACTIVE').where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', nowIso)]));
  if (filter.status === 'EXPIRED') q = q.where('status', '=', 'ACTIVE').where('expires_at', '<=', nowIso);
  if (filter.ownerId != null) {
    if (kind !== 'APPLICATION_KEY') throw badUserInput('ownerId filters application keys only; use createdById', 'filter.ownerId');
    q = q.where('owner_id', '=', principalIdArg(String(filter.ownerId)));
  }
  if (filter.createdById != null) q = q.where('created_by', '=', principalIdArg(String(filter.createdById)));
  if (filter.nameContains) q = q.where(sql<boolean>`name_key like ${containsPattern(nameKey(filter.nameContains))} escape '\\'`);
  if (filter.createdAfter) q = q.where('created_at', '>=', filter.createdAfter.toISOString());
  if (filter.createdBefore) q = q.where('created_at', '<', filter.createdBefore.toISOString());
  const { lastUsedAfter, lastUsedBefore } = filter;
  if (lastUsedAfter || lastUsedBefore) {
    q = q.where('id', 'in', (eb) => {
      let used = eb.selectFrom('credential_usage').select('credential_id');
      if (lastUsedAfter) used = used.where('last_used_at', '>=', lastUsedAfter.toISOString());
      if (lastUsedBefore) used = used.where('last_used_at', '<', lastUsedBefore.toISOString());
      return used;
    });
  }
  return q;
}

/**
 * Which application keys an actor may list: every key of the org with org_app_keys_read;
 * otherwise its own, and service accounts' keys with service_account_write.
 */
function visibleApplicationKeys(query: CredentialQuery, actor: PrincipalActor): CredentialQuery {
  if (actor.permissions.has('org_app_keys_read')) return query;
  if (actor.permissions.has('service_account_write')) {
    return query.where((eb) =>
      eb.or([
        eb('owner_id', '=', actor.principalId),
        eb('owner_id', 'in', eb.selectFrom('principals').select('id').where('org_id', '=', actor.orgId).where('kind', '=', 'SERVICE_ACCOUNT')),
      ]),
    );
  }
  return query.where('owner_id', '=', actor.principalId);
}

function credentialList(context: GraphQLContext, actor: PrincipalActor, kind: CredentialKindColumn): CredentialQuery {
  return context.db.selectFrom('credentials').selectAll().where('org_id', '=', actor.orgId).where('kind', '=', kind);
}

builder.queryFields((t) => ({
  apiKeys: t.connection({
    type: ApiKey,
    description: "The organization's API keys (never their secrets).",
    authScopes: { permission: 'api_keys_read' },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context) => {
      const actor = actorOf(context);
      return connection(filtered(credentialList(context, actor, 'API_KEY'), args.filter, context.now, 'API_KEY'), {
        first: args.first,
        after: args.after,
        field: args.orderBy?.field ?? 'CREATED_AT',
        direction: args.orderBy?.direction ?? 'DESC',
      });
    },
  }),
  applicationKeys: t.connection({
    type: ApplicationKey,
    description: "Application keys: all of the organization's with org_app_keys_read, otherwise one's own (and service accounts' with service_account_write).",
    authScopes: { authenticated: true },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context) => {
      const actor = actorOf(context);
      const visible = visibleApplicationKeys(credentialList(context, actor, 'APPLICATION_KEY'), actor);
      return connection(filtered(visible, args.filter, context.now, 'APPLICATION_KEY'), {
        first: args.first,
        after: args.after,
        field: args.orderBy?.field ?? 'CREATED_AT',
        direction: args.orderBy?.direction ?? 'DESC',
      });
    },
  }),
  clientTokens: t.connection({
    type: ClientToken,
    description: "The organization's client tokens.",
    authScopes: { permission: 'client_tokens_read' },
    args: { filter: t.arg({ type: CredentialFilter, required: false }), orderBy: t.arg({ type: Order, required: false }) },
    resolve: (_parent, args, context) => {
      const actor = actorOf(context);
      return connection(filtered(credentialList(context, actor, 'CLIENT_TOKEN'), args.filter, context.now, 'CLIENT_TOKEN'), {
        first: args.first,
        after: args.after,
        field: args.orderBy?.field ?? 'CREATED_AT',
        direction: args.orderBy?.direction ?? 'DESC',
      });
    },
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
