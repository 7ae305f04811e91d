// The organization, the viewer (who is asking, through which keys), and the scope catalogue.

import { PERMISSIONS, ROLE_NAMES, ROLES } from '../../domain/permissions.js';
import { activeApiKeyCount } from '../../../projections/credentials/queries.js';
import { organizationsByIds } from '../../../projections/organizations/queries.js';
import type { OrganizationsTable } from '../../../projections/organizations/tables.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import { ApiKey, ApplicationKey } from './credentials.js';
import { Principal, RoleEnum } from './principals.js';

export const Organization = builder.loadableNode(builder.objectRef<OrganizationsTable>('Organization'), {
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'api_key_limit' in value,
  description: 'The tenant: nothing crosses organizations.',
  id: { resolve: (o) => o.id },
  load: (ids: string[], context) => organizationsByIds(context.readDb, ids),
  fields: (t) => ({
    name: t.exposeString('name'),
    apiKeyLimit: t.exposeInt('api_key_limit', { description: 'At most this many active API keys (R2); operators change it.' }),
    activeApiKeyCount: t.int({ resolve: (o, _args, context) => activeApiKeyCount(context.readDb, o.id, context.now) }),
    createdAt: t.field({ type: 'DateTime', resolve: (o) => o.created_at }),
  }),
});

interface ViewerShape {
  readonly principalId: string;
  readonly orgId: string;
  readonly apiKeyId: string;
  readonly applicationKeyId: string;
  readonly permissions: readonly string[];
}

const Viewer = builder.objectRef<ViewerShape>('Viewer').implement({
  description: 'Who is asking: the principal the application key acts as, and through which keys.',
  fields: (t) => ({
    principal: t.field({ type: Principal, resolve: (v) => v.principalId }),
    organization: t.field({ type: Organization, resolve: (v) => v.orgId }),
    apiKey: t.field({ type: ApiKey, resolve: (v) => v.apiKeyId }),
    applicationKey: t.field({ type: ApplicationKey, resolve: (v) => v.applicationKeyId }),
    permissions: t.stringList({ description: 'The effective permissions of this request (R7).', resolve: (v) => [...v.permissions] }),
  }),
});

interface ScopeShape {
  readonly id: string;
  readonly title: string;
  readonly description: string;
}

const Scope = builder.objectRef<ScopeShape>('Scope').implement({
  description: 'A permission, as written on a scoped application key. Case-sensitive.',
  fields: (t) => ({
    name: t.exposeString('id'),
    title: t.exposeString('title'),
    description: t.exposeString('description'),
    roles: t.field({
      type: [RoleEnum],
      description: 'The built-in roles that hold it.',
      resolve: (s) => ROLE_NAMES.filter((role) => ROLES[role].permissions.some((permission) => permission === s.id)),
    }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.field({
    type: Viewer,
    authScopes: { authenticated: true },
    resolve: (_parent, _args, context) => {
      const actor = actorOf(context);
      return { principalId: actor.principalId, orgId: actor.orgId, apiKeyId: actor.apiKeyId, applicationKeyId: actor.applicationKeyId, permissions: [...actor.permissions] };
    },
  }),
  organization: t.field({
    type: Organization,
    description: "The caller's organization.",
    authScopes: { authenticated: true },
    resolve: (_parent, _args, context) => actorOf(context).orgId,
  }),
  scopes: t.field({
    type: [Scope],
    description: 'Every permission, usable as a scope: the catalogue checks, documentation and clients share.',
    authScopes: { authenticated: true },
    resolve: () => PERMISSIONS.map((p) => ({ id: p.id, title: p.title, description: p.description })),
  }),
}));
