// The principal aggregate's decisions (spec R3, R5-R10, R13-R17, R19-R21), as given events, a
// command and an actor, then the exact events decided or the refusal's code. The stream is
// Alice's (a standard user) unless a test says otherwise.

import { describe, it } from 'vitest';
import { OPERATOR } from '../../src/domain/actor.js';
import type { Permission, Role } from '../../src/domain/permissions.js';
import { decidePrincipal, evolvePrincipal, initialPrincipalState } from '../../src/domain/principal.js';
import { actorOf, decider, ORG_ID, OTHER_ORG_ID } from '../support/decider.js';

// Typed from the decider itself, wherever the domain declares its unions.
type PrincipalCommand = Parameters<typeof decidePrincipal>[0];
type PrincipalEvent = ReturnType<typeof decidePrincipal>[number];

const principal = decider(initialPrincipalState, evolvePrincipal, decidePrincipal);

const NOW = new Date('2030-01-01T00:00:00.000Z');
const ALICE = 'alice';
const BOB = 'bob';
const ROBOT = 'robot';
const ADMIN = 'admin-1';

const alice = actorOf('standard', { principalId: ALICE });
const bob = actorOf('standard', { principalId: BOB });
const admin = actorOf('admin', { principalId: ADMIN });

/** What a read_only role holds: needed to grant an unscoped key to a read_only owner (R9). */
const READ_ONLY_PERMISSIONS: Permission[] = ['api_keys_read', 'client_tokens_read', 'user_access_read', 'dashboards_read', 'monitors_read'];

// ── events and commands ──────────────────────────────────────────────────────

const invited = (role: Role = 'standard', principalId = ALICE): PrincipalEvent => ({
  type: 'UserInvited',
  data: { principalId, orgId: ORG_ID, email: `${principalId}@example.test`, name: principalId, role },
});
const robotCreated = (role: Role = 'read_only'): PrincipalEvent => ({ type: 'ServiceAccountCreated', data: { principalId: ROBOT, orgId: ORG_ID, name: 'ci robot', role } });
const keyCreated = (keyId: string, name: string, scopes: Permission[] | null = null, owner = ALICE): PrincipalEvent => ({
  type: 'ApplicationKeyCreated',
  data: { principalId: owner, orgId: ORG_ID, keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}`, scopes, expiresAt: null, createdBy: owner },
});
const keyRevoked = (keyId: string, owner = ALICE): PrincipalEvent => ({ type: 'ApplicationKeyRevoked', data: { principalId: owner, orgId: ORG_ID, keyId, reason: 'REVOKED' } });
const disabled = (owner = ALICE): PrincipalEvent => ({ type: 'PrincipalDisabled', data: { principalId: owner, orgId: ORG_ID } });

const createKey = (keyId: string, name: string, scopes: readonly string[] | null = null, expiresAt: Date | null = null): PrincipalCommand => ({
  type: 'CreateApplicationKey',
  keyId,
  name,
  scopes,
  expiresAt,
  now: NOW,
  digest: `digest-${keyId}`,
  last4: `l4-${keyId}`,
});
const scopeKey = (keyId: string, scopes: readonly string[] | null): PrincipalCommand => ({ type: 'ScopeApplicationKey', keyId, scopes });
const renameKey = (keyId: string, name: string): PrincipalCommand => ({ type: 'RenameApplicationKey', keyId, name });
const revokeKey = (keyId: string): PrincipalCommand => ({ type: 'RevokeApplicationKey', keyId });

/** The event CreateApplicationKey decides, written out: owner and creator explicit (R6, R15). */
function created(keyId: string, name: string, owner: string, createdBy: string | null, scopes: Permission[] | null = null): PrincipalEvent {
  return {
    type: 'ApplicationKeyCreated',
    data: { principalId: owner, orgId: ORG_ID, keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}`, scopes, expiresAt: null, createdBy },
  };
}

/** Alice with one unscoped key, `k1` named "laptop". */
const aliceWithKey = [invited(), keyCreated('k1', 'laptop')];
/** The service account with one unscoped key, `rk1` named "deploy". */
const robotWithKey = [robotCreated(), keyCreated('rk1', 'deploy', null, ROBOT)];

// ── R3, R5 ───────────────────────────────────────────────────────────────────

describe('application key names (R3, R5)', () => {
  it('R5: a blank application key name (empty or white space only) is BLANK_NAME, on create and on rename', () => {
    for (const name of ['', '   ', '\t\n ']) {
      principal.given([invited()]).when(createKey('k1', name), alice).thenThrows('BLANK_NAME');
      principal.given(aliceWithKey).when(renameKey('k1', name), alice).thenThrows('BLANK_NAME');
    }
  });

  it('R3: an application key name held by another active key of the owner, trimmed and case-folded, is NAME_TAKEN', () => {
    principal.given(aliceWithKey).when(createKey('k2', ' LAPTOP '), alice).thenThrows('NAME_TAKEN');
    principal
      .given([...aliceWithKey, keyCreated('k2', 'phone')])
      .when(renameKey('k2', 'Laptop'), alice)
      .thenThrows('NAME_TAKEN');
  });

  it('R3: a revoked application key frees its name', () => {
    principal
      .given([...aliceWithKey, keyRevoked('k1')])
      .when(createKey('k2', 'Laptop'), alice)
      .then([created('k2', 'Laptop', ALICE, ALICE)]);
  });

  it('R3: renaming a key to its own name in another case renames it; to the same trimmed name decides nothing', () => {
    principal
      .given(aliceWithKey)
      .when(renameKey('k1', ' Laptop '), alice)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', name: 'Laptop', previousName: 'laptop' } }]);
    principal.given(aliceWithKey).when(renameKey('k1', '  laptop  '), alice).thenNothing();
  });
});

// ── R6, R7 ───────────────────────────────────────────────────────────────────

describe('ownership and scopes (R6, R7)', () => {
  it('R6: a key is owned by the principal it is created for; unscoped, its scopes are null', () => {
    principal
      .given([invited()])
      .when(createKey('k1', ' laptop '), alice)
      .then([created('k1', 'laptop', ALICE, ALICE, null)]);
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop'), admin)
      .then([created('k1', 'laptop', ALICE, ADMIN, null)]);
  });

  it('R7: a scoped key records its scope list as given', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'dashboards', ['monitors_read', 'dashboards_read']), alice)
      .then([created('k1', 'dashboards', ALICE, ALICE, ['monitors_read', 'dashboards_read'])]);
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['dashboards_write']), alice)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['dashboards_write'], previousScopes: null } }]);
  });

  it('R7: a scoped key can be made unscoped again by a credential holding all of its owner’s permissions', () => {
    principal
      .given([invited(), keyCreated('k1', 'laptop', ['dashboards_read'])])
      .when(scopeKey('k1', null), alice)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: null, previousScopes: ['dashboards_read'] } }]);
  });

  it('R7: a scope list that is empty, repeats a scope, or names an unknown scope (names are case-sensitive) is INVALID_SCOPE', () => {
    const invalid: string[][] = [[], ['dashboards_read', 'dashboards_read'], ['dashboards_admin'], ['Dashboards_read'], ['DASHBOARDS_READ'], ['dashboards_read ']];
    for (const scopes of invalid) {
      principal
        .given([invited()])
        .when(createKey('k1', 'laptop', scopes), alice)
        .thenThrows('INVALID_SCOPE');
      principal.given(aliceWithKey).when(scopeKey('k1', scopes), alice).thenThrows('INVALID_SCOPE');
      principal.given(aliceWithKey).when(scopeKey('k1', scopes), admin).thenThrows('INVALID_SCOPE');
    }
  });

  it('R7: a key may be scoped beyond its owner’s role by someone who holds the scope (its effective permissions are the intersection)', () => {
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['api_keys_write', 'dashboards_read']), admin)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['api_keys_write', 'dashboards_read'], previousScopes: null } }]);
  });
});

// ── R8 ───────────────────────────────────────────────────────────────────────

describe('who manages an application key (R8)', () => {
  it('R8: a holder of user_app_keys creates, scopes, renames and revokes their own keys', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop'), alice)
      .then([created('k1', 'laptop', ALICE, ALICE)]);
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['dashboards_read']), alice)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['dashboards_read'], previousScopes: null } }]);
    principal
      .given(aliceWithKey)
      .when(renameKey('k1', 'desktop'), alice)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', name: 'desktop', previousName: 'laptop' } }]);
    principal
      .given(aliceWithKey)
      .when(revokeKey('k1'), alice)
      .then([{ type: 'ApplicationKeyRevoked', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'REVOKED' } }]);
  });

  it('R8: without user_app_keys, one cannot manage one’s own keys (FORBIDDEN)', () => {
    const reader = actorOf('read_only', { principalId: ALICE });
    const aliceScoped = actorOf('standard', { principalId: ALICE, scopes: ['dashboards_read'] });
    principal
      .given([invited('read_only')])
      .when(createKey('k1', 'laptop', ['dashboards_read']), reader)
      .thenThrows('FORBIDDEN');
    for (const command of [createKey('k2', 'phone', ['dashboards_read']), scopeKey('k1', ['dashboards_read']), renameKey('k1', 'desktop'), revokeKey('k1')]) {
      principal.given(aliceWithKey).when(command, aliceScoped).thenThrows('FORBIDDEN');
    }
  });

  it('R8: a holder of org_app_keys_write creates, scopes, renames and revokes another user’s keys', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', ['dashboards_read']), admin)
      .then([created('k1', 'laptop', ALICE, ADMIN, ['dashboards_read'])]);
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['monitors_read']), admin)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['monitors_read'], previousScopes: null } }]);
    principal
      .given(aliceWithKey)
      .when(renameKey('k1', 'desktop'), admin)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', name: 'desktop', previousName: 'laptop' } }]);
    principal
      .given(aliceWithKey)
      .when(revokeKey('k1'), admin)
      .then([{ type: 'ApplicationKeyRevoked', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'REVOKED' } }]);
  });

  it('R8: without org_app_keys_write, another user’s keys are FORBIDDEN, even with user_app_keys or service_account_write', () => {
    const robotManager = actorOf('admin', { principalId: ADMIN, scopes: ['service_account_write', 'user_app_keys', ...READ_ONLY_PERMISSIONS] });
    for (const actor of [bob, robotManager]) {
      for (const command of [createKey('k2', 'phone', ['dashboards_read']), scopeKey('k1', ['dashboards_read']), renameKey('k1', 'desktop'), revokeKey('k1')]) {
        principal.given(aliceWithKey).when(command, actor).thenThrows('FORBIDDEN');
      }
    }
  });

  it('R8: a holder of service_account_write creates, scopes, renames and revokes a service account’s keys', () => {
    const robotManager = actorOf('admin', { principalId: ADMIN, scopes: ['service_account_write', ...READ_ONLY_PERMISSIONS] });
    principal
      .given([robotCreated()])
      .when(createKey('rk1', 'deploy'), robotManager)
      .then([created('rk1', 'deploy', ROBOT, ADMIN)]);
    principal
      .given(robotWithKey)
      .when(scopeKey('rk1', ['api_keys_read']), robotManager)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ROBOT, orgId: ORG_ID, keyId: 'rk1', scopes: ['api_keys_read'], previousScopes: null } }]);
    principal
      .given(robotWithKey)
      .when(renameKey('rk1', 'release'), robotManager)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ROBOT, orgId: ORG_ID, keyId: 'rk1', name: 'release', previousName: 'deploy' } }]);
    principal
      .given(robotWithKey)
      .when(revokeKey('rk1'), robotManager)
      .then([{ type: 'ApplicationKeyRevoked', data: { principalId: ROBOT, orgId: ORG_ID, keyId: 'rk1', reason: 'REVOKED' } }]);
  });

  it('R8: without service_account_write, a service account’s keys are FORBIDDEN, even with org_app_keys_write', () => {
    const userKeyManager = actorOf('admin', { principalId: ADMIN, scopes: ['org_app_keys_write', 'user_app_keys', ...READ_ONLY_PERMISSIONS] });
    for (const actor of [bob, userKeyManager]) {
      for (const command of [createKey('rk2', 'other', ['api_keys_read']), scopeKey('rk1', ['api_keys_read']), renameKey('rk1', 'release'), revokeKey('rk1')]) {
        principal.given(robotWithKey).when(command, actor).thenThrows('FORBIDDEN');
      }
    }
  });
});

// ── R9 ───────────────────────────────────────────────────────────────────────

describe('nobody grants what they lack (R9)', () => {
  it('R9: scoping one’s own key to a permission one lacks is FORBIDDEN', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', ['dashboards_read', 'api_keys_write']), alice)
      .thenThrows('FORBIDDEN');
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['audit_logs_read']), alice)
      .thenThrows('FORBIDDEN');
  });

  it('R9: a scoped credential grants only its own scopes: within them it is accepted, beyond them FORBIDDEN', () => {
    const aliceScoped = actorOf('standard', { principalId: ALICE, scopes: ['user_app_keys', 'dashboards_read'] });
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', ['dashboards_read']), aliceScoped)
      .then([created('k1', 'laptop', ALICE, ALICE, ['dashboards_read'])]);
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', ['dashboards_write']), aliceScoped)
      .thenThrows('FORBIDDEN');
    principal
      .given(aliceWithKey)
      .when(scopeKey('k1', ['dashboards_read', 'monitors_read']), aliceScoped)
      .thenThrows('FORBIDDEN');
  });

  it('R9: an unscoped key counts as all its owner’s permissions: a scoped credential cannot create or leave one', () => {
    const aliceScoped = actorOf('standard', { principalId: ALICE, scopes: ['user_app_keys', 'dashboards_read'] });
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', null), aliceScoped)
      .thenThrows('FORBIDDEN');
    principal
      .given([invited(), keyCreated('k1', 'laptop', ['dashboards_read'])])
      .when(scopeKey('k1', null), aliceScoped)
      .thenThrows('FORBIDDEN');
  });

  it('R9: an unscoped key for another owner needs all of that owner’s role permissions', () => {
    const limitedAdmin = actorOf('admin', { principalId: ADMIN, scopes: ['org_app_keys_write', ...READ_ONLY_PERMISSIONS] });
    principal
      .given([invited('read_only')])
      .when(createKey('k1', 'laptop', null), limitedAdmin)
      .then([created('k1', 'laptop', ALICE, ADMIN, null)]);
    // A standard owner also has user_app_keys, dashboards_write and monitors_write.
    principal
      .given([invited('standard')])
      .when(createKey('k1', 'laptop', null), limitedAdmin)
      .thenThrows('FORBIDDEN');
  });

  it('R9: inviting a user, creating a service account or changing a role to a role whose permissions one lacks is FORBIDDEN', () => {
    const manager = actorOf('admin', { principalId: ADMIN, scopes: ['user_access_manage', 'service_account_write', ...READ_ONLY_PERMISSIONS] });
    principal
      .given([])
      .when({ type: 'InviteUser', principalId: BOB, orgId: ORG_ID, email: 'bob@example.test', name: 'Bob', role: 'read_only' }, manager)
      .then([{ type: 'UserInvited', data: { principalId: BOB, orgId: ORG_ID, email: 'bob@example.test', name: 'Bob', role: 'read_only' } }]);
    principal.given([]).when({ type: 'InviteUser', principalId: BOB, orgId: ORG_ID, email: 'bob@example.test', name: 'Bob', role: 'standard' }, manager).thenThrows('FORBIDDEN');
    principal.given([]).when({ type: 'CreateServiceAccount', principalId: ROBOT, orgId: ORG_ID, name: 'ci robot', role: 'admin' }, manager).thenThrows('FORBIDDEN');
    principal
      .given([invited('read_only')])
      .when({ type: 'ChangeRole', role: 'admin' }, manager)
      .thenThrows('FORBIDDEN');
    // A scoped admin holding the standard role's permissions (and user_access_manage) may grant standard, not admin.
    const scopedAdmin = actorOf('admin', { principalId: ADMIN, scopes: ['user_access_manage', 'user_app_keys', 'dashboards_write', 'monitors_write', ...READ_ONLY_PERMISSIONS] });
    principal
      .given([invited('read_only')])
      .when({ type: 'ChangeRole', role: 'standard' }, scopedAdmin)
      .then([{ type: 'PrincipalRoleChanged', data: { principalId: ALICE, orgId: ORG_ID, role: 'standard', previousRole: 'read_only' } }]);
    principal
      .given([invited('read_only')])
      .when({ type: 'ChangeRole', role: 'admin' }, scopedAdmin)
      .thenThrows('FORBIDDEN');
  });
});

// ── R10 ──────────────────────────────────────────────────────────────────────

describe('role changes (R10)', () => {
  it('R10: a role change decides PrincipalRoleChanged only: its keys’ scopes are not rewritten', () => {
    principal
      .given([invited('standard'), keyCreated('k1', 'laptop', ['dashboards_write', 'monitors_write']), keyCreated('k2', 'phone')])
      .when({ type: 'ChangeRole', role: 'read_only' }, admin)
      .then([{ type: 'PrincipalRoleChanged', data: { principalId: ALICE, orgId: ORG_ID, role: 'read_only', previousRole: 'standard' } }]);
  });

  it('R10: after a role change, the scopes written on a key are still those it was given', () => {
    principal
      .given([
        invited('standard'),
        keyCreated('k1', 'laptop', ['dashboards_write', 'monitors_write']),
        { type: 'PrincipalRoleChanged', data: { principalId: ALICE, orgId: ORG_ID, role: 'read_only', previousRole: 'standard' } },
      ])
      .when(scopeKey('k1', ['dashboards_read']), admin)
      .then([
        {
          type: 'ApplicationKeyScoped',
          data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['dashboards_read'], previousScopes: ['dashboards_write', 'monitors_write'] },
        },
      ]);
  });

  it('R10: changing to the same role decides nothing; an unknown role is BAD_USER_INPUT; changing a role needs user_access_manage', () => {
    principal
      .given([invited('standard')])
      .when({ type: 'ChangeRole', role: 'standard' }, admin)
      .thenNothing();
    principal
      .given([invited('standard')])
      .when({ type: 'ChangeRole', role: 'Admin' }, admin)
      .thenThrows('BAD_USER_INPUT');
    principal
      .given([invited('standard')])
      .when({ type: 'ChangeRole', role: 'read_only' }, bob)
      .thenThrows('FORBIDDEN');
  });
});

// ── R13, R14 ─────────────────────────────────────────────────────────────────

describe('disabling a principal (R13, R14)', () => {
  it('R13: disabling a user revokes each of its active application keys (OWNER_DISABLED) in the same decision, and nothing else', () => {
    principal
      .given([invited(), keyCreated('k1', 'laptop'), keyCreated('k2', 'phone', ['dashboards_read']), keyCreated('k3', 'old'), keyRevoked('k3')])
      .when({ type: 'DisablePrincipal' }, admin)
      .then([
        { type: 'PrincipalDisabled', data: { principalId: ALICE, orgId: ORG_ID } },
        { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'OWNER_DISABLED' } },
        { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k2', reason: 'OWNER_DISABLED' } },
      ]);
  });

  it('R13: a principal without application keys is disabled alone', () => {
    principal
      .given([invited()])
      .when({ type: 'DisablePrincipal' }, admin)
      .then([{ type: 'PrincipalDisabled', data: { principalId: ALICE, orgId: ORG_ID } }]);
  });

  it('R13: a service account is disabled with service_account_write, a user with user_access_manage', () => {
    const robotManager = actorOf('admin', { principalId: ADMIN, scopes: ['service_account_write'] });
    const userManager = actorOf('admin', { principalId: ADMIN, scopes: ['user_access_manage'] });
    principal
      .given(robotWithKey)
      .when({ type: 'DisablePrincipal' }, robotManager)
      .then([
        { type: 'PrincipalDisabled', data: { principalId: ROBOT, orgId: ORG_ID } },
        { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ROBOT, orgId: ORG_ID, keyId: 'rk1', reason: 'OWNER_DISABLED' } },
      ]);
    principal.given(robotWithKey).when({ type: 'DisablePrincipal' }, userManager).thenThrows('FORBIDDEN');
    principal
      .given(aliceWithKey)
      .when({ type: 'DisablePrincipal' }, userManager)
      .then([
        { type: 'PrincipalDisabled', data: { principalId: ALICE, orgId: ORG_ID } },
        { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'OWNER_DISABLED' } },
      ]);
    principal.given(aliceWithKey).when({ type: 'DisablePrincipal' }, robotManager).thenThrows('FORBIDDEN');
    principal.given(aliceWithKey).when({ type: 'DisablePrincipal' }, bob).thenThrows('FORBIDDEN');
  });

  const disabledAlice: PrincipalEvent[] = [
    ...aliceWithKey,
    disabled(),
    { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'OWNER_DISABLED' } },
  ];

  it('R14: a disabled principal gets no new key, no new role, and is not disabled twice (PRINCIPAL_DISABLED)', () => {
    principal.given(disabledAlice).when(createKey('k2', 'phone'), admin).thenThrows('PRINCIPAL_DISABLED');
    principal.given(disabledAlice).when({ type: 'ChangeRole', role: 'admin' }, admin).thenThrows('PRINCIPAL_DISABLED');
    principal.given(disabledAlice).when({ type: 'DisablePrincipal' }, admin).thenThrows('PRINCIPAL_DISABLED');
  });

  it('R14: the keys revoked by disabling stay revoked (ALREADY_REVOKED)', () => {
    principal.given(disabledAlice).when(revokeKey('k1'), admin).thenThrows('ALREADY_REVOKED');
    principal
      .given(disabledAlice)
      .when(scopeKey('k1', ['dashboards_read']), admin)
      .thenThrows('ALREADY_REVOKED');
    principal.given(disabledAlice).when(renameKey('k1', 'back'), admin).thenThrows('ALREADY_REVOKED');
  });
});

// ── R15, R16 ─────────────────────────────────────────────────────────────────

describe('owners and creators (R15, R16)', () => {
  it('R15: a created key records the stream’s principal as owner and the acting principal as creator (none for an operator)', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop'), alice)
      .then([created('k1', 'laptop', ALICE, ALICE)]);
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop'), admin)
      .then([created('k1', 'laptop', ALICE, ADMIN)]);
    principal
      .given([robotCreated()])
      .when(createKey('rk1', 'deploy'), admin)
      .then([created('rk1', 'deploy', ROBOT, ADMIN)]);
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop'), OPERATOR)
      .then([created('k1', 'laptop', ALICE, null)]);
  });

  it('R15: scoping, renaming or revoking another principal’s key names its owner and carries no new owner or creator', () => {
    const createdByAdmin: PrincipalEvent[] = [invited(), created('k1', 'laptop', ALICE, ADMIN)];
    const other = actorOf('admin', { principalId: 'admin-2' });
    principal
      .given(createdByAdmin)
      .when(scopeKey('k1', ['dashboards_read']), other)
      .then([{ type: 'ApplicationKeyScoped', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', scopes: ['dashboards_read'], previousScopes: null } }]);
    principal
      .given(createdByAdmin)
      .when(renameKey('k1', 'desktop'), other)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', name: 'desktop', previousName: 'laptop' } }]);
    principal
      .given(createdByAdmin)
      .when(revokeKey('k1'), other)
      .then([{ type: 'ApplicationKeyRevoked', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'REVOKED' } }]);
  });

  it('R16: a holder of service_account_write creates a service account', () => {
    const robotManager = actorOf('admin', { principalId: ADMIN, scopes: ['service_account_write', ...READ_ONLY_PERMISSIONS] });
    principal
      .given([])
      .when({ type: 'CreateServiceAccount', principalId: ROBOT, orgId: ORG_ID, name: ' ci robot ', role: 'read_only' }, robotManager)
      .then([{ type: 'ServiceAccountCreated', data: { principalId: ROBOT, orgId: ORG_ID, name: 'ci robot', role: 'read_only' } }]);
  });

  it('R16: without service_account_write, creating a service account is FORBIDDEN; an existing one is CONFLICT', () => {
    const create: PrincipalCommand = { type: 'CreateServiceAccount', principalId: ROBOT, orgId: ORG_ID, name: 'ci robot', role: 'read_only' };
    principal.given([]).when(create, bob).thenThrows('FORBIDDEN');
    principal
      .given([])
      .when(create, actorOf('admin', { principalId: ADMIN, scopes: ['user_access_manage', ...READ_ONLY_PERMISSIONS] }))
      .thenThrows('FORBIDDEN');
    principal.given([robotCreated()]).when(create, admin).thenThrows('CONFLICT');
  });

  it('R16: a service account owns application keys like a user: its own, with user_app_keys', () => {
    const robot = actorOf('standard', { principalId: ROBOT, principalKind: 'SERVICE_ACCOUNT' });
    principal
      .given([robotCreated('standard')])
      .when(createKey('rk1', 'deploy', ['monitors_write']), robot)
      .then([created('rk1', 'deploy', ROBOT, ROBOT, ['monitors_write'])]);
    principal
      .given([robotCreated('standard'), keyCreated('rk1', 'deploy', null, ROBOT)])
      .when(revokeKey('rk1'), robot)
      .then([{ type: 'ApplicationKeyRevoked', data: { principalId: ROBOT, orgId: ORG_ID, keyId: 'rk1', reason: 'REVOKED' } }]);
  });
});

// ── R17, R19 ─────────────────────────────────────────────────────────────────

describe('revocation and expiry (R17, R19)', () => {
  it('R17: a revoked application key cannot be scoped, renamed or revoked again (ALREADY_REVOKED)', () => {
    const revoked = [...aliceWithKey, keyRevoked('k1')];
    principal.given(revoked).when(revokeKey('k1'), alice).thenThrows('ALREADY_REVOKED');
    principal
      .given(revoked)
      .when(scopeKey('k1', ['dashboards_read']), alice)
      .thenThrows('ALREADY_REVOKED');
    principal.given(revoked).when(renameKey('k1', 'back'), alice).thenThrows('ALREADY_REVOKED');
  });

  it('R19: a key records its expiry; an expiry not in the future is BAD_USER_INPUT', () => {
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', null, new Date('2030-01-02T00:00:00.000Z')), alice)
      .then([
        {
          type: 'ApplicationKeyCreated',
          data: {
            principalId: ALICE,
            orgId: ORG_ID,
            keyId: 'k1',
            name: 'laptop',
            digest: 'digest-k1',
            last4: 'l4-k1',
            scopes: null,
            expiresAt: '2030-01-02T00:00:00.000Z',
            createdBy: ALICE,
          },
        },
      ]);
    principal
      .given([invited()])
      .when(createKey('k1', 'laptop', null, NOW), alice)
      .thenThrows('BAD_USER_INPUT');
  });
});

// ── R20, R21 ─────────────────────────────────────────────────────────────────

describe('isolation (R20) and invitations (R21)', () => {
  const foreignAdmin = actorOf('admin', { orgId: OTHER_ORG_ID, principalId: 'their-admin' });
  const everyCommandOnAlice: PrincipalCommand[] = [
    { type: 'ChangeRole', role: 'read_only' },
    { type: 'DisablePrincipal' },
    createKey('k2', 'theirs'),
    scopeKey('k1', ['dashboards_read']),
    renameKey('k1', 'theirs'),
    revokeKey('k1'),
  ];

  it('R20: an admin of another organization gets NOT_FOUND for every command on a principal of this one', () => {
    for (const command of everyCommandOnAlice) principal.given(aliceWithKey).when(command, foreignAdmin).thenThrows('NOT_FOUND');
  });

  it('R20: inviting a user or creating a service account into another organization is NOT_FOUND', () => {
    principal
      .given([])
      .when({ type: 'InviteUser', principalId: BOB, orgId: ORG_ID, email: 'bob@example.test', name: 'Bob', role: 'read_only' }, foreignAdmin)
      .thenThrows('NOT_FOUND');
    principal.given([]).when({ type: 'CreateServiceAccount', principalId: ROBOT, orgId: ORG_ID, name: 'robot', role: 'read_only' }, foreignAdmin).thenThrows('NOT_FOUND');
  });

  it('R20: an unknown principal or application key is NOT_FOUND', () => {
    for (const command of everyCommandOnAlice) principal.given([]).when(command, admin).thenThrows('NOT_FOUND');
    principal.given(aliceWithKey).when(revokeKey('nope'), admin).thenThrows('NOT_FOUND');
    principal.given(aliceWithKey).when(renameKey('rk1', 'x'), admin).thenThrows('NOT_FOUND');
  });

  it('R20: a credential lacking user_access_manage gets FORBIDDEN for a role change before any lookup (unknown or foreign principal)', () => {
    const reader = actorOf('read_only', { principalId: 'reader' });
    const foreignReader = actorOf('read_only', { orgId: OTHER_ORG_ID, principalId: 'their-reader' });
    principal.given([invited()]).when({ type: 'ChangeRole', role: 'read_only' }, reader).thenThrows('FORBIDDEN');
    principal.given([]).when({ type: 'ChangeRole', role: 'read_only' }, reader).thenThrows('FORBIDDEN');
    principal.given([invited()]).when({ type: 'ChangeRole', role: 'read_only' }, foreignReader).thenThrows('FORBIDDEN');
  });

  it('R20: a credential holding none of the application-key permissions gets FORBIDDEN before the owner is looked up', () => {
    const reader = actorOf('read_only', { principalId: 'reader' });
    principal.given(aliceWithKey).when(revokeKey('k1'), reader).thenThrows('FORBIDDEN');
    principal
      .given([])
      .when(createKey('k1', 'laptop', ['dashboards_read']), reader)
      .thenThrows('FORBIDDEN');
  });

  it('R21: a holder of user_access_manage invites a user (email trimmed and lower-cased); an email already in the org is EMAIL_TAKEN; without it FORBIDDEN', () => {
    const invite: PrincipalCommand = { type: 'InviteUser', principalId: ALICE, orgId: ORG_ID, email: ' Alice@Example.TEST ', name: ' Alice ', role: 'standard' };
    principal
      .given([])
      .when(invite, admin)
      .then([{ type: 'UserInvited', data: { principalId: ALICE, orgId: ORG_ID, email: 'alice@example.test', name: 'Alice', role: 'standard' } }]);
    principal.given([invited()]).when(invite, admin).thenThrows('EMAIL_TAKEN');
    principal.given([]).when(invite, bob).thenThrows('FORBIDDEN');
  });
});
