// The principal aggregate (stream `principal-{principalId}`): a user or a service account, its
// role and status, and the application keys it owns. Disabling a principal and revoking its
// keys is one decision, appended at once (R13).

import { requirePermission, requireGrantable, requireSameOrg, type Actor, type PrincipalKind } from './actor.js';
import { DomainError, forbidden, notFound } from './errors.js';
import { parseName } from './names.js';
import type { NewSecret, RevocationReason } from './organization.js';
import { isPermission, isRole, rolePermissions, type Permission, type Role } from './permissions.js';

export type PrincipalEvent =
  | { type: 'UserInvited'; data: { principalId: string; orgId: string; email: string; name: string; role: Role } }
  | { type: 'ServiceAccountCreated'; data: { principalId: string; orgId: string; name: string; role: Role } }
  | { type: 'PrincipalRoleChanged'; data: { principalId: string; orgId: string; role: Role; previousRole: Role } }
  | { type: 'PrincipalDisabled'; data: { principalId: string; orgId: string } }
  | {
      type: 'ApplicationKeyCreated';
      data: {
        principalId: string;
        orgId: string;
        keyId: string;
        name: string;
        digest: string;
        last4: string;
        scopes: Permission[] | null;
        expiresAt: string | null;
        createdBy: string | null;
      };
    }
  | { type: 'ApplicationKeyScoped'; data: { principalId: string; orgId: string; keyId: string; scopes: Permission[] | null; previousScopes: Permission[] | null } }
  | { type: 'ApplicationKeyRenamed'; data: { principalId: string; orgId: string; keyId: string; name: string; previousName: string } }
  | { type: 'ApplicationKeyRevoked'; data: { principalId: string; orgId: string; keyId: string; reason: RevocationReason } }
  | { type: 'ApplicationKeyOwnerDisabled'; data: { principalId: string; orgId: string; keyId: string; reason: 'OWNER_DISABLED' } };

export type PrincipalEventType = PrincipalEvent['type'];

interface OwnedKey {
  readonly id: string;
  readonly name: string;
  readonly nameKey: string;
  readonly scopes: readonly Permission[] | null;
  readonly active: boolean;
}

export type PrincipalState =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly principalId: string;
      readonly orgId: string;
      readonly kind: PrincipalKind;
      readonly name: string;
      readonly email: string | null;
      readonly role: Role;
      readonly disabled: boolean;
      readonly keys: ReadonlyMap<string, OwnedKey>;
    };

export const initialPrincipalState: PrincipalState = { exists: false };

function withKey(state: Extract<PrincipalState, { exists: true }>, id: string, change: (key: OwnedKey) => OwnedKey): PrincipalState {
  const key = state.keys.get(id);
  if (!key) return state;
  return { ...state, keys: new Map(state.keys).set(id, change(key)) };
}

export function evolvePrincipal(state: PrincipalState, event: PrincipalEvent): PrincipalState {
  switch (event.type) {
    case 'UserInvited':
      return {
        exists: true,
        principalId: event.data.principalId,
        orgId: event.data.orgId,
        kind: 'USER',
        name: event.data.name,
        email: event.data.email,
        role: event.data.role,
        disabled: false,
        keys: new Map(),
      };
    case 'ServiceAccountCreated':
      return {
        exists: true,
        principalId: event.data.principalId,
        orgId: event.data.orgId,
        kind: 'SERVICE_ACCOUNT',
        name: event.data.name,
        email: null,
        role: event.data.role,
        disabled: false,
        keys: new Map(),
      };
  }
  if (!state.exists) return state;
  switch (event.type) {
    case 'PrincipalRoleChanged':
      return { ...state, role: event.data.role };
    case 'PrincipalDisabled':
      return { ...state, disabled: true };
    case 'ApplicationKeyCreated': {
      const { keyId, name, scopes } = event.data;
      return { ...state, keys: new Map(state.keys).set(keyId, { id: keyId, name, nameKey: parseName(name).key, scopes, active: true }) };
    }
    case 'ApplicationKeyScoped':
      return withKey(state, event.data.keyId, (key) => ({ ...key, scopes: event.data.scopes }));
    case 'ApplicationKeyRenamed':
      return withKey(state, event.data.keyId, (key) => ({ ...key, name: event.data.name, nameKey: parseName(event.data.name).key }));
    case 'ApplicationKeyRevoked':
    case 'ApplicationKeyOwnerDisabled':
      return withKey(state, event.data.keyId, (key) => ({ ...key, active: false }));
  }
}

export type PrincipalCommand =
  | { type: 'InviteUser'; principalId: string; orgId: string; email: string; name: string; role: string }
  | { type: 'CreateServiceAccount'; principalId: string; orgId: string; name: string; role: string }
  | { type: 'ChangeRole'; role: string }
  | { type: 'DisablePrincipal' }
  | ({ type: 'CreateApplicationKey'; keyId: string; name: string; scopes: readonly string[] | null; expiresAt: Date | null; now: Date } & NewSecret)
  | { type: 'ScopeApplicationKey'; keyId: string; scopes: readonly string[] | null }
  | { type: 'RenameApplicationKey'; keyId: string; name: string }
  | { type: 'RevokeApplicationKey'; keyId: string };

type ExistingPrincipal = Extract<PrincipalState, { exists: true }>;

export const MAX_EMAIL_LENGTH = 254;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function parseEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length === 0 || email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) {
    throw new DomainError('BAD_USER_INPUT', `${JSON.stringify(raw)} is not an email address`, 'email');
  }
  return email;
}

export function parseRole(raw: string): Role {
  if (!isRole(raw)) throw new DomainError('BAD_USER_INPUT', `${JSON.stringify(raw)} is not a role; roles are admin, standard and read_only`, 'role');
  return raw;
}

/** R7: a scope list is non-empty, without duplicates, of known (case-sensitive) scopes. */
export function parseScopes(scopes: readonly string[] | null): Permission[] | null {
  if (scopes === null) return null;
  if (scopes.length === 0) throw new DomainError('INVALID_SCOPE', 'a scope list cannot be empty; pass null for an unscoped key', 'scopes');
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (!isPermission(scope)) throw new DomainError('INVALID_SCOPE', `${JSON.stringify(scope)} is not a scope (scope names are case-sensitive)`, 'scopes');
    if (seen.has(scope)) throw new DomainError('INVALID_SCOPE', `${JSON.stringify(scope)} is listed twice`, 'scopes');
    seen.add(scope);
  }
  return [...scopes] as Permission[];
}

/** R8: who may create, scope, rename or revoke a principal's application keys. */
export function requireKeyManagement(actor: Actor, owner: { principalId: string; kind: PrincipalKind }): void {
  if (actor.kind === 'operator') return;
  const own = actor.principalId === owner.principalId;
  const allowed =
    (own && actor.permissions.has('user_app_keys')) ||
    (owner.kind === 'SERVICE_ACCOUNT' && actor.permissions.has('service_account_write')) ||
    (owner.kind === 'USER' && !own && actor.permissions.has('org_app_keys_write'));
  if (!allowed) {
    const needed = own ? 'user_app_keys' : owner.kind === 'SERVICE_ACCOUNT' ? 'service_account_write' : 'org_app_keys_write';
    throw forbidden(`managing ${own ? 'your own' : owner.kind === 'SERVICE_ACCOUNT' ? "a service account's" : "another user's"} application keys needs the ${needed} permission`);
  }
}

/** R9: the scopes written on a key (or, unscoped, all of its owner's permissions) must be the actor's to give. */
function requireGrantableScopes(actor: Actor, owner: ExistingPrincipal, scopes: readonly Permission[] | null): void {
  requireGrantable(actor, scopes ?? rolePermissions(owner.role), scopes === null ? 'an unscoped key (all of its owner’s permissions) when' : 'scopes');
}

function requireKey(principal: ExistingPrincipal, keyId: string): OwnedKey {
  const key = principal.keys.get(keyId);
  if (!key) throw notFound('application key');
  if (!key.active) throw new DomainError('ALREADY_REVOKED', 'this application key is revoked; a revoked credential cannot be changed or restored');
  return key;
}

function requireEnabled(principal: ExistingPrincipal): void {
  if (principal.disabled) throw new DomainError('PRINCIPAL_DISABLED', 'this principal is disabled');
}

/** Application key names are unique among the owner's active keys (R3, per owner: its keys live in its stream). */
function requireFreeKeyName(principal: ExistingPrincipal, nameKey: string, except?: string): void {
  for (const key of principal.keys.values()) {
    if (key.active && key.nameKey === nameKey && key.id !== except) throw new DomainError('NAME_TAKEN', 'an active application key of this owner already has this name', 'name');
  }
}

export function decidePrincipal(command: PrincipalCommand, state: PrincipalState, actor: Actor): PrincipalEvent[] {
  switch (command.type) {
    case 'InviteUser': {
      requirePermission(actor, 'user_access_manage');
      requireSameOrg(actor, command.orgId, 'organization');
      const email = parseEmail(command.email);
      const name = parseName(command.name);
      const role = parseRole(command.role);
      requireGrantable(actor, rolePermissions(role), `the ${role} role's permissions when`);
      if (state.exists) throw new DomainError('EMAIL_TAKEN', 'a user with this email is already in the organization', 'email');
      return [{ type: 'UserInvited', data: { principalId: command.principalId, orgId: command.orgId, email, name: name.display, role } }];
    }
    case 'CreateServiceAccount': {
      requirePermission(actor, 'service_account_write');
      requireSameOrg(actor, command.orgId, 'organization');
      const name = parseName(command.name);
      const role = parseRole(command.role);
      requireGrantable(actor, rolePermissions(role), `the ${role} role's permissions when`);
      if (state.exists) throw new DomainError('CONFLICT', 'this principal exists already');
      return [{ type: 'ServiceAccountCreated', data: { principalId: command.principalId, orgId: command.orgId, name: name.display, role } }];
    }
  }
  if (!state.exists) throw notFound('principal');
  requireSameOrg(actor, state.orgId, 'principal');
  const { principalId, orgId } = state;
  switch (command.type) {
    case 'ChangeRole': {
      requirePermission(actor, 'user_access_manage');
      const role = parseRole(command.role);
      requireGrantable(actor, rolePermissions(role), `the ${role} role's permissions when`);
      requireEnabled(state);
      if (role === state.role) return [];
      // R10: the scopes written on its keys stay as they are.
      return [{ type: 'PrincipalRoleChanged', data: { principalId, orgId, role, previousRole: state.role } }];
    }
    case 'DisablePrincipal': {
      requirePermission(actor, state.kind === 'USER' ? 'user_access_manage' : 'service_account_write');
      requireEnabled(state);
      // R13: its application keys are revoked in the same append; API keys and client tokens it created stay.
      const revocations: PrincipalEvent[] = [...state.keys.values()]
        .filter((key) => key.active)
        .map((key) => ({ type: 'ApplicationKeyOwnerDisabled', data: { principalId, orgId, keyId: key.id, reason: 'OWNER_DISABLED' } }));
      return [{ type: 'PrincipalDisabled', data: { principalId, orgId } }, ...revocations];
    }
    case 'CreateApplicationKey': {
      requireKeyManagement(actor, { principalId, kind: state.kind });
      requireEnabled(state);
      const name = parseName(command.name);
      const scopes = parseScopes(command.scopes);
      requireGrantableScopes(actor, state, scopes);
      requireFreeKeyName(state, name.key);
      if (command.expiresAt !== null && command.expiresAt.getTime() <= command.now.getTime()) {
        throw new DomainError('BAD_USER_INPUT', 'expiresAt must be in the future', 'expiresAt');
      }
      return [
        {
          type: 'ApplicationKeyCreated',
          data: {
            principalId,
            orgId,
            keyId: command.keyId,
            name: name.display,
            digest: command.digest,
            last4: command.last4,
            scopes,
            expiresAt: command.expiresAt?.toISOString() ?? null,
            createdBy: actor.kind === 'principal' ? actor.principalId : null,
          },
        },
      ];
    }
    case 'ScopeApplicationKey': {
      requireKeyManagement(actor, { principalId, kind: state.kind });
      const key = requireKey(state, command.keyId);
      const scopes = parseScopes(command.scopes);
      requireGrantableScopes(actor, state, scopes);
      return [{ type: 'ApplicationKeyScoped', data: { principalId, orgId, keyId: key.id, scopes, previousScopes: key.scopes === null ? null : [...key.scopes] } }];
    }
    case 'RenameApplicationKey': {
      requireKeyManagement(actor, { principalId, kind: state.kind });
      const key = requireKey(state, command.keyId);
      const name = parseName(command.name);
      requireFreeKeyName(state, name.key, key.id);
      if (name.display === key.name) return [];
      return [{ type: 'ApplicationKeyRenamed', data: { principalId, orgId, keyId: key.id, name: name.display, previousName: key.name } }];
    }
    case 'RevokeApplicationKey': {
      requireKeyManagement(actor, { principalId, kind: state.kind });
      const key = requireKey(state, command.keyId);
      return [{ type: 'ApplicationKeyRevoked', data: { principalId, orgId, keyId: key.id, reason: 'REVOKED' } }];
    }
  }
}
