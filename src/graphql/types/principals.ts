// Users and service accounts: the Principal interface, the `principals` list, `viewer`, and the
// mutations that invite, create, change the role of and disable them.

import { listPrincipals } from '../../../projections/principals/queries.js';
import type { PrincipalsTable } from '../../../projections/principals/tables.js';
import { parseFilterText } from '../../domain/input.js';
import { ROLES } from '../../domain/permissions.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import { decodeId, PRINCIPAL_TYPENAME } from '../core/ids.js';
import { pageOf, principalsOf, readPage } from '../core/pages.js';
import { SortDirection } from './scalars.js';

export const RoleEnum = builder.enumType('Role', {
  description: 'A built-in role: a named set of permissions.',
  values: {
    ADMIN: { value: 'admin', description: ROLES.admin.description },
    STANDARD: { value: 'standard', description: ROLES.standard.description },
    READ_ONLY: { value: 'read_only', description: ROLES.read_only.description },
  },
});

const PrincipalKindEnum = builder.enumType('PrincipalKind', { values: ['USER', 'SERVICE_ACCOUNT'] as const });
const PrincipalStatusEnum = builder.enumType('PrincipalStatus', { values: ['ACTIVE', 'DISABLED'] as const });

export const Principal = builder.loadableInterface('Principal', {
  description: 'Who acts: a user or a service account.',
  interfaces: [builder.nodeInterfaceRef()],
  // Through the request's batch of principals: the owners and creators of all its lists in one read.
  load: (ids: string[], context) => principalsOf(context).loadMany(ids),
  resolveType: (principal: PrincipalsTable) => PRINCIPAL_TYPENAME[principal.kind],
  fields: (t) => ({
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (p) => p.role }),
    status: t.field({ type: PrincipalStatusEnum, resolve: (p) => p.status }),
    permissions: t.stringList({ description: "The role's permissions.", resolve: (p) => [...ROLES[p.role].permissions] }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.created_at }),
    modifiedAt: t.field({ type: 'DateTime', resolve: (p) => p.modified_at }),
    disabledAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.disabled_at }),
  }),
});

const UserRef = builder.objectRef<PrincipalsTable>('User');
builder.node(UserRef, {
  description: 'A person, identified by email.',
  interfaces: [Principal],
  isTypeOf: (value) => (value as PrincipalsTable).kind === 'USER',
  id: { resolve: (p: PrincipalsTable) => p.id },
  fields: (t) => ({
    email: t.string({ resolve: (p) => p.email ?? '' }),
  }),
});

const ServiceAccountRef = builder.objectRef<PrincipalsTable>('ServiceAccount');
builder.node(ServiceAccountRef, {
  description: 'A non-human identity: it has no login and acts through its application keys.',
  interfaces: [Principal],
  isTypeOf: (value) => (value as PrincipalsTable).kind === 'SERVICE_ACCOUNT',
  id: { resolve: (p: PrincipalsTable) => p.id },
  fields: () => ({}),
});

/** A principal's global id, for arguments. */
export function principalIdArg(value: string): string {
  return decodeId(value, Object.values(PRINCIPAL_TYPENAME), 'principal');
}

const PrincipalFilter = builder.inputType('PrincipalFilter', {
  fields: (t) => ({
    kind: t.field({ type: PrincipalKindEnum, required: false }),
    status: t.field({ type: PrincipalStatusEnum, required: false }),
    role: t.field({ type: RoleEnum, required: false }),
    nameContains: t.string({ required: false }),
    createdAfter: t.field({ type: 'DateTime', required: false }),
    createdBefore: t.field({ type: 'DateTime', required: false }),
  }),
});

const OrderField = builder.enumType('OrderField', { values: ['NAME', 'CREATED_AT'] as const });

export const Order = builder.inputType('Order', {
  fields: (t) => ({
    field: t.field({ type: OrderField }),
    direction: t.field({ type: SortDirection }),
  }),
});

builder.queryFields((t) => ({
  principals: t.connection({
    type: Principal,
    description: 'Users and service accounts of the organization.',
    authScopes: { permission: 'user_access_read' },
    args: {
      filter: t.arg({ type: PrincipalFilter, required: false }),
      orderBy: t.arg({ type: Order, required: false }),
    },
    resolve: (_parent, args, context, info) => {
      const orgId = actorOf(context).orgId;
      const filter = args.filter && { ...args.filter, nameContains: parseFilterText(args.filter.nameContains, 'filter.nameContains') };
      const order = { field: args.orderBy?.field ?? 'CREATED_AT', direction: args.orderBy?.direction ?? 'DESC' } as const;
      return readPage(context, () => listPrincipals(context.readDb, orgId, filter, order, pageOf(args, info)));
    },
  }),
}));

const PrincipalPayload = builder.objectRef<{ principal: PrincipalsTable }>('PrincipalPayload').implement({
  fields: (t) => ({ principal: t.field({ type: Principal, resolve: (p) => p.principal }) }),
});

builder.mutationFields((t) => ({
  inviteUser: t.field({
    type: PrincipalPayload,
    description: 'Invites a user (needs user_access_manage; nobody grants a role with permissions they lack).',
    authScopes: { authenticated: true },
    args: {
      email: t.arg.string(),
      name: t.arg.string({ required: false }),
      role: t.arg({ type: RoleEnum }),
    },
    resolve: async (_parent, args, context) => ({
      principal: await context.keyledger.inviteUser(actorOf(context), { email: args.email, name: args.name ?? null, role: args.role }, context.requestId),
    }),
  }),
  createServiceAccount: t.field({
    type: PrincipalPayload,
    description: 'Creates a service account (needs service_account_write).',
    authScopes: { authenticated: true },
    args: {
      name: t.arg.string(),
      role: t.arg({ type: RoleEnum }),
    },
    resolve: async (_parent, args, context) => ({
      principal: await context.keyledger.createServiceAccount(actorOf(context), { name: args.name, role: args.role }, context.requestId),
    }),
  }),
  changeRole: t.field({
    type: PrincipalPayload,
    description: "Changes a principal's role (needs user_access_manage). The scopes on its keys stay as they are (R10).",
    authScopes: { authenticated: true },
    args: {
      principalId: t.arg.id(),
      role: t.arg({ type: RoleEnum }),
    },
    resolve: async (_parent, args, context) => ({
      principal: await context.keyledger.changeRole(actorOf(context), { principalId: principalIdArg(String(args.principalId)), role: args.role }, context.requestId),
    }),
  }),
  disablePrincipal: t.field({
    type: PrincipalPayload,
    description: 'Disables a user (user_access_manage) or a service account (service_account_write), revoking its application keys at once (R13). Permanent.',
    authScopes: { authenticated: true },
    args: { principalId: t.arg.id() },
    resolve: async (_parent, args, context) => ({
      principal: await context.keyledger.disablePrincipal(actorOf(context), { principalId: principalIdArg(String(args.principalId)) }, context.requestId),
    }),
  }),
}));
