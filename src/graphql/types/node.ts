// `node(id)`: any object by its global id, within the caller's organization and permissions.
// An unknown, malformed or foreign id is NOT_FOUND (R20); a known one the caller may not read is FORBIDDEN.

import type { CredentialsTable } from '../../../projections/credentials/tables.js';
import type { OrganizationsTable } from '../../../projections/organizations/tables.js';
import type { PrincipalsTable } from '../../../projections/principals/tables.js';
import { requirePermission } from '../../domain/actor.js';
import { forbidden, notFound } from '../../domain/errors.js';
import { mayReadApplicationKey } from '../../domain/principal.js';
import { actorOf } from '../core/actor.js';
import { builder } from '../core/builder.js';
import { tryDecode } from '../core/ids.js';
import { ApiKey, ApplicationKey, ClientToken } from './credentials.js';
import { Organization } from './organization.js';
import { Principal } from './principals.js';

const TYPES = ['ApiKey', 'ApplicationKey', 'ClientToken', 'User', 'ServiceAccount', 'Organization'] as const;

builder.queryField('node', (t) =>
  t.field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    authScopes: { authenticated: true },
    args: { id: t.arg.id() },
    resolve: async (_parent, args, context) => {
      const actor = actorOf(context);
      const decoded = tryDecode(String(args.id), TYPES);
      if (!decoded) throw notFound('node');
      const missing = () => notFound(decoded.typename);
      const load = async <T>(loader: { load(id: string): Promise<T> }): Promise<T> => {
        try {
          return await loader.load(decoded.id);
        } catch {
          throw missing();
        }
      };
      switch (decoded.typename) {
        case 'Organization': {
          const org = await load<OrganizationsTable>(Organization.getDataloader(context));
          if (org.id !== actor.orgId) throw missing();
          return org;
        }
        case 'User':
        case 'ServiceAccount': {
          const principal = await load<PrincipalsTable>(Principal.getDataloader(context));
          if (principal.org_id !== actor.orgId || (principal.kind === 'USER') !== (decoded.typename === 'User')) throw missing();
          if (principal.id !== actor.principalId) requirePermission(actor, 'user_access_read');
          return principal;
        }
        case 'ApiKey': {
          const key = await load<CredentialsTable>(ApiKey.getDataloader(context));
          if (key.org_id !== actor.orgId) throw missing();
          requirePermission(actor, 'api_keys_read');
          return key;
        }
        case 'ClientToken': {
          const token = await load<CredentialsTable>(ClientToken.getDataloader(context));
          if (token.org_id !== actor.orgId) throw missing();
          requirePermission(actor, 'client_tokens_read');
          return token;
        }
        default: {
          const key = await load<CredentialsTable>(ApplicationKey.getDataloader(context));
          if (key.org_id !== actor.orgId) throw missing();
          const owner: PrincipalsTable = await Principal.getDataloader(context).load(key.owner_id ?? '');
          if (!mayReadApplicationKey(actor, { principalId: owner.id, kind: owner.kind })) throw forbidden('this credential lacks the org_app_keys_read permission');
          return key;
        }
      }
    },
  }),
);
