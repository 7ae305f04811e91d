// The principal aggregate (stream `principal-{principalId}`): a user or a service account, its
// role and status, and the application keys it owns. Disabling a principal and revoking its
// keys is one decision, appended at once (R13). What time brings to its keys (the end of a
// rotation's grace, R18; an expiry, R19) is decided here too, against the stream, so that it is
// recorded once however often the scheduler asks.

import { requireAnyPermission, requirePermission, requireGrantable, requireSameOrg, requireTimedActor, type Actor, type PrincipalActor } from './actor.js';
import { DomainError, forbidden, notFound } from './errors.js';
import { isUncleanText, quoted } from './input.js';
import { parseName } from './names.js';
import { CredentialTable } from './persistent-map.js';
import type { NewSecret } from './organization.js';
import { credentialChange, principalChange, type NewCredential } from './credential.js';
import type { PrincipalEvent, PrincipalKind } from './events.js';
import { isPermission, isRole, rolePermissions, type Permission, type Role } from './permissions.js';
import { graceEnd, graceEnded, requireNotRotated, type Rotation } from './rotation.js';

interface OwnedKey {
  readonly id: string;
  readonly name: string;
  readonly nameKey: string;
  readonly scopes: readonly Permission[] | null;
  readonly expiresAt: string | null;
  readonly active: boolean;
  /** R19: its expiry is recorded (ApplicationKeyExpired). */
  readonly expired: boolean;
  /** R18: rotated and in its grace (until revoked): it holds no name (R3). */
  readonly rotation: Rotation | null;
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
      readonly keys: CredentialTable<OwnedKey>;
    };

export const initialPrincipalState: PrincipalState = { exists: false };

type ExistingPrincipal = Extract<PrincipalState, { exists: true }>;

/** The keys are a persistent table: folding a stream copies nothing, so it is linear in the stream's length. */
function withKey(state: ExistingPrincipal, id: string, change: (key: OwnedKey) => OwnedKey): ExistingPrincipal {
  const key = state.keys.get(id);
  if (!key) return state;
  return { ...state, keys: state.keys.put(change(key)) };
}

function ownedKey(credential: NewCredential): OwnedKey {
  const { id, name, scopes, expiresAt } = credential;
  return { id, name, nameKey: parseName(name).key, scopes, expiresAt, active: true, expired: false, rotation: null };
}

export function evolvePrincipal(state: PrincipalState, event: PrincipalEvent): PrincipalState {
  switch (event.type) {
    case 'UserInvited':
    case 'ServiceAccountCreated':
    case 'PrincipalRoleChanged':
    case 'PrincipalDisabled': {
      const change = principalChange(event);
      if (change.change === 'created') {
        const { id, orgId, kind, name, email, role } = change.principal;
        return { exists: true, principalId: id, orgId, kind, name, email, role, disabled: false, keys: CredentialTable.empty() };
      }
      if (!state.exists) return state;
      return change.change === 'roleChanged' ? { ...state, role: change.role } : { ...state, disabled: true };
    }
    case 'ApplicationKeyCreated':
    case 'ApplicationKeyScoped':
    case 'ApplicationKeyRenamed':
    case 'ApplicationKeyRevoked':
    case 'ApplicationKeyRotated':
    case 'ApplicationKeyExpired':
    case 'ApplicationKeyOwnerDisabled': {
      if (!state.exists) return state;
      const change = credentialChange(event);
      switch (change.change) {
        case 'created':
          return { ...state, keys: state.keys.put(ownedKey(change.credential)) };
        case 'rotated': {
          const successor = ownedKey(change.successor);
          const keys = state.keys.put(successor);
          const predecessor = keys.get(change.id);
          return { ...state, keys: predecessor ? keys.put({ ...predecessor, rotation: { successorId: successor.id, revokeAt: change.revokeAt } }) : keys };
        }
        case 'expired':
          return withKey(state, change.id, (key) => ({ ...key, expired: true }));
        case 'scoped':
          return withKey(state, change.id, (key) => ({ ...key, scopes: change.scopes }));
        case 'renamed':
          return withKey(state, change.id, (key) => ({ ...key, name: change.name, nameKey: parseName(change.name).key }));
        case 'revoked':
          return withKey(state, change.id, (key) => ({ ...key, active: false }));
        default: {
          const unhandled: never = change;
          throw new Error(`unknown credential change ${JSON.stringify(unhandled)}`);
        }
      }
    }
    default: {
      const unhandled: never = event;
      throw new Error(`unknown principal event ${JSON.stringify(unhandled)}`);
    }
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
  | { type: 'RevokeApplicationKey'; keyId: string }
  /** R18: `successorId` and its secret are made by the caller; `now` starts the grace. */
  | ({ type: 'RotateApplicationKey'; keyId: string; successorId: string; gracePeriodSeconds: number; now: Date } & NewSecret)
  /** R18, the scheduler's: revokes a rotated key whose grace has ended at `now`; nothing when it is revoked already or not due. */
  | { type: 'EndApplicationKeyGrace'; keyId: string; now: Date }
  /** R19, the scheduler's: records that a key passed its expiresAt by `now`; nothing when recorded already, revoked, or not due. */
  | { type: 'RecordApplicationKeyExpiry'; keyId: string; now: Date };

const TIMED_COMMANDS: ReadonlySet<PrincipalCommand['type']> = new Set(['EndApplicationKeyGrace', 'RecordApplicationKeyExpiry']);

const MAX_EMAIL_LENGTH = 254;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** An email, trimmed and lower-cased: at most 254 characters, no control characters, NUL or unpaired surrogates (R29). */
export function parseEmail(raw: string): string {
  if (raw.length > 4 * MAX_EMAIL_LENGTH) throw new DomainError('BAD_USER_INPUT', `email must be at most ${MAX_EMAIL_LENGTH} characters`, 'email');
  const email = raw.trim().toLowerCase();
  if (isUncleanText(email) || /\p{Cc}/u.test(email)) throw new DomainError('BAD_USER_INPUT', 'email cannot contain control characters, NUL or unpaired surrogates', 'email');
  if (email.length === 0 || email.length > MAX_EMAIL_LENGTH || !EMAIL.test(email)) {
    throw new DomainError('BAD_USER_INPUT', `${quoted(raw)} is not an email address`, 'email');
  }
  return email;
}

function parseRole(raw: string): Role {
  if (!isRole(raw)) throw new DomainError('BAD_USER_INPUT', `${JSON.stringify(raw)} is not a role; roles are admin, standard and read_only`, 'role');
  return raw;
}

/** R7: a scope list is non-empty, without duplicates, of known (case-sensitive) scopes. */
function parseScopes(scopes: readonly string[] | null): Permission[] | null {
  if (scopes === null) return null;
  if (scopes.length === 0) throw new DomainError('INVALID_SCOPE', 'a scope list cannot be empty; pass null for an unscoped key', 'scopes');
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (!isPermission(scope)) throw new DomainError('INVALID_SCOPE', `${quoted(scope)} is not a scope (scope names are case-sensitive)`, 'scopes');
    if (seen.has(scope)) throw new DomainError('INVALID_SCOPE', `${quoted(scope)} is listed twice`, 'scopes');
    seen.add(scope);
  }
  return [...scopes] as Permission[];
}

/** R8: someone's application keys are managed with one of these, depending on whose. */
export const APPLICATION_KEY_PERMISSIONS: readonly Permission[] = ['user_app_keys', 'org_app_keys_write', 'service_account_write'];

/** R8: who may create, scope, rename or revoke a principal's application keys. */
function requireKeyManagement(actor: Actor, owner: { principalId: string; kind: PrincipalKind }): void {
  if (actor.kind !== 'principal') return;
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

/** Application key names are unique among the owner's active keys (R3, per owner: its keys live in its stream); a rotated key in its grace holds no name (R18). */
function requireFreeKeyName(principal: ExistingPrincipal, nameKey: string, except?: string): void {
  if (principal.keys.nameTaken(nameKey, except)) throw new DomainError('NAME_TAKEN', 'an active application key of this owner already has this name', 'name');
}

export function decidePrincipal(command: PrincipalCommand, state: PrincipalState, actor: Actor): PrincipalEvent[] {
  requireTimedActor(actor, TIMED_COMMANDS.has(command.type));
  // Creations decide on an empty stream; every other command on an existing principal.
  if (command.type === 'InviteUser') {
    requirePermission(actor, 'user_access_manage');
    requireSameOrg(actor, command.orgId, 'organization');
    const email = parseEmail(command.email);
    const name = parseName(command.name);
    const role = parseRole(command.role);
    requireGrantable(actor, rolePermissions(role), `the ${role} role's permissions when`);
    if (state.exists) throw new DomainError('EMAIL_TAKEN', 'a user with this email is already in the organization', 'email');
    return [{ type: 'UserInvited', data: { principalId: command.principalId, orgId: command.orgId, email, name: name.display, role } }];
  }
  if (command.type === 'CreateServiceAccount') {
    requirePermission(actor, 'service_account_write');
    requireSameOrg(actor, command.orgId, 'organization');
    const name = parseName(command.name);
    const role = parseRole(command.role);
    requireGrantable(actor, rolePermissions(role), `the ${role} role's permissions when`);
    if (state.exists) throw new DomainError('CONFLICT', 'this principal exists already');
    return [{ type: 'ServiceAccountCreated', data: { principalId: command.principalId, orgId: command.orgId, name: name.display, role } }];
  }
  // R20: a credential that lacks the permission whatever the target is FORBIDDEN before any lookup.
  if (command.type === 'ChangeRole') requirePermission(actor, 'user_access_manage');
  else if (command.type === 'DisablePrincipal') requireAnyPermission(actor, ['user_access_manage', 'service_account_write']);
  else requireAnyPermission(actor, APPLICATION_KEY_PERMISSIONS);
  if (!state.exists) throw notFound('principal');
  requireSameOrg(actor, state.orgId, 'principal');
  const { principalId, orgId } = state;
  switch (command.type) {
    case 'ChangeRole': {
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
      requireNotRotated(key, 'application key');
      const scopes = parseScopes(command.scopes);
      requireGrantableScopes(actor, state, scopes);
      return [{ type: 'ApplicationKeyScoped', data: { principalId, orgId, keyId: key.id, scopes, previousScopes: key.scopes === null ? null : [...key.scopes] } }];
    }
    case 'RenameApplicationKey': {
      requireKeyManagement(actor, { principalId, kind: state.kind });
      const key = requireKey(state, command.keyId);
      requireNotRotated(key, 'application key');
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
    case 'RotateApplicationKey': {
      // R8: whoever may create and revoke this owner's keys.
      requireKeyManagement(actor, { principalId, kind: state.kind });
      const revokeAt = graceEnd(command.gracePeriodSeconds, command.now);
      const key = requireKey(state, command.keyId);
      requireNotRotated(key, 'application key');
      if (key.expiresAt !== null && key.expiresAt <= command.now.toISOString()) {
        throw new DomainError('BAD_USER_INPUT', 'this application key has expired: its successor would be expired too; create a new key', 'id');
      }
      // R9: the successor carries the same scopes, which the actor must hold as if it created it.
      requireGrantableScopes(actor, state, key.scopes);
      // R3: the successor takes the predecessor's name, so a rotation is never NAME_TAKEN.
      const { successorId, digest, last4 } = command;
      const rotated: PrincipalEvent = {
        type: 'ApplicationKeyRotated',
        data: {
          principalId,
          orgId,
          keyId: key.id,
          successorId,
          name: key.name,
          digest,
          last4,
          scopes: key.scopes === null ? null : [...key.scopes],
          expiresAt: key.expiresAt,
          createdBy: actor.kind === 'principal' ? actor.principalId : null,
          revokeAt,
        },
      };
      // No grace: the predecessor is revoked in the same append.
      return command.gracePeriodSeconds === 0 ? [rotated, { type: 'ApplicationKeyRevoked', data: { principalId, orgId, keyId: key.id, reason: 'ROTATED' } }] : [rotated];
    }
    case 'EndApplicationKeyGrace': {
      const key = state.keys.get(command.keyId);
      if (!key) throw notFound('application key');
      // Revoked already (by hand, with its owner, or by an earlier attempt), not rotated, or not yet due: nothing to record.
      if (!key.active || key.rotation === null || !graceEnded(key.rotation, command.now)) return [];
      return [{ type: 'ApplicationKeyRevoked', data: { principalId, orgId, keyId: key.id, reason: 'ROTATED' } }];
    }
    case 'RecordApplicationKeyExpiry': {
      const key = state.keys.get(command.keyId);
      if (!key) throw notFound('application key');
      // A revoked key does not expire; an expiry is recorded once, when it is due.
      if (!key.active || key.expired || key.expiresAt === null || key.expiresAt > command.now.toISOString()) return [];
      return [{ type: 'ApplicationKeyExpired', data: { principalId, orgId, keyId: key.id, expiresAt: key.expiresAt } }];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`unknown principal command ${JSON.stringify(unhandled)}`);
    }
  }
}

/** Whose application keys an actor may read (R8's read side, beside its write side `requireKeyManagement`). */
export type ApplicationKeyReadScope = { readonly all: true } | { readonly all: false; readonly principalId: string; readonly serviceAccounts: boolean };

/** Every key of the org with org_app_keys_read; otherwise its own, and service accounts' with service_account_write. */
export function applicationKeyReadScope(actor: PrincipalActor): ApplicationKeyReadScope {
  if (actor.permissions.has('org_app_keys_read')) return { all: true };
  return { all: false, principalId: actor.principalId, serviceAccounts: actor.permissions.has('service_account_write') };
}

export function mayReadApplicationKey(actor: PrincipalActor, owner: { readonly principalId: string; readonly kind: PrincipalKind }): boolean {
  const scope = applicationKeyReadScope(actor);
  return scope.all || owner.principalId === scope.principalId || (scope.serviceAccounts && owner.kind === 'SERVICE_ACCOUNT');
}
