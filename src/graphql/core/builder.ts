// The Pothos schema builder and its plugins; types live in `types/`, one module each.

import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Permission } from '../../domain/permissions.js';
import type { GraphQLContext } from './context.js';
import { DomainError } from '../../domain/errors.js';
import { authenticationError } from './errors.js';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: {
    authenticated: boolean;
    permission: Permission;
  };
  Scalars: {
    DateTime: { Input: Date; Output: string };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  /** Counted only when a client selects it: on a large audit log the count is most of a page's cost. */
  Connection: { totalCount: () => Promise<number> };
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin, DataloaderPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  scopeAuth: {
    authScopes: (context) => ({
      authenticated: context.auth.ok,
      permission: (permission: Permission) => context.auth.ok && context.auth.actor.permissions.has(permission),
    }),
    // R21: no (valid) credentials is 401; a valid credential without the permission is 403.
    unauthorizedError: (_parent, context, _info, result) =>
      context.auth.ok ? new DomainError('FORBIDDEN', result.message.replace(/^Not authorized/, 'this credential lacks the permission')) : authenticationError(context.auth.fault),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // `node` is defined in types/node.ts: an unknown, foreign or malformed id is NOT_FOUND (R20).
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

builder.globalConnectionField('totalCount', (t) => t.int({ description: 'How many match the filter, over all pages.', resolve: (connection) => connection.totalCount() }));

builder.queryType({});
builder.mutationType({});
