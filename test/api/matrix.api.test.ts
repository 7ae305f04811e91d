// The authorization matrix (spec R7, R8, R9, R13, R16, R20, R21): every mutation × the acting
// user's role × the target's owner × how the actor's application key is scoped. Each cell's
// expected outcome comes from an oracle written here from the spec (section 3's table,
// section 4's rules), never from the product's authorization code: the product's role table is
// only compared with the spec's, so that a drift in either is caught. An allowed cell is also
// checked down to the lifecycle events it appended (spec section 5).

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChangeRoleDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  CreateServiceAccountDocument,
  DisablePrincipalDocument,
  InviteUserDocument,
  RenameApiKeyDocument,
  RenameApplicationKeyDocument,
  RenameClientTokenDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  RevokeClientTokenDocument,
  ScopeApplicationKeyDocument,
  type Role as GqlRole,
} from '../gql/graphql.js';
import { startGateway, type Answer, type Credentials, type TestGateway } from '../support/gateway.js';
import {
  apiKeyCreated,
  apiKeyRenamed,
  apiKeyRevoked,
  applicationKeyCreated,
  applicationKeyOwnerDisabled,
  applicationKeyRenamed,
  applicationKeyRevoked,
  applicationKeyScoped,
  clientTokenCreated,
  clientTokenRenamed,
  clientTokenRevoked,
  expectNoSecretIn,
  principalDisabled,
  principalRoleChanged,
  serviceAccountCreated,
  userInvited,
} from '../support/events.js';
import { expectNoNewEvent, member } from '../support/members.js';
import { PERMISSION_IDS, ROLES } from '../../src/domain/permissions.js';

// ── the oracle: spec section 3, restated ─────────────────────────────────────

const SPEC_PERMISSIONS = [
  'api_keys_read',
  'api_keys_write',
  'api_keys_delete',
  'client_tokens_read',
  'client_tokens_write',
  'user_app_keys',
  'org_app_keys_read',
  'org_app_keys_write',
  'service_account_write',
  'user_access_read',
  'user_access_manage',
  'audit_logs_read',
  'dashboards_read',
  'dashboards_write',
  'monitors_read',
  'monitors_write',
] as const;
type Perm = (typeof SPEC_PERMISSIONS)[number];

type SpecRole = 'admin' | 'standard' | 'read_only';
const SPEC_ROLE_NAMES: readonly SpecRole[] = ['admin', 'standard', 'read_only'];

/** Section 3's table, column by column. */
const SPEC_ROLES: Readonly<Record<SpecRole, readonly Perm[]>> = {
  admin: SPEC_PERMISSIONS,
  standard: ['api_keys_read', 'client_tokens_read', 'user_app_keys', 'user_access_read', 'dashboards_read', 'dashboards_write', 'monitors_read', 'monitors_write'],
  read_only: ['api_keys_read', 'client_tokens_read', 'user_access_read', 'dashboards_read', 'monitors_read'],
};

const GQL_ROLE: Readonly<Record<SpecRole, GqlRole>> = { admin: 'ADMIN', standard: 'STANDARD', read_only: 'READ_ONLY' };

type PrincipalKind = 'USER' | 'SERVICE_ACCOUNT';

/** R6/R7: unscoped, all of the owner's permissions; scoped, the scopes intersected with them. */
function effective(role: SpecRole, scopes: readonly Perm[] | null): ReadonlySet<Perm> {
  const owner = new Set<Perm>(SPEC_ROLES[role]);
  return scopes === null ? owner : new Set(scopes.filter((scope) => owner.has(scope)));
}

// ── the oracle: section 4, per mutation ──────────────────────────────────────

const MUTATIONS = [
  'createApiKey',
  'renameApiKey',
  'revokeApiKey',
  'createApplicationKey',
  'scopeApplicationKey',
  'renameApplicationKey',
  'revokeApplicationKey',
  'createClientToken',
  'renameClientToken',
  'revokeClientToken',
  'inviteUser',
  'createServiceAccount',
  'changeRole',
  'disablePrincipal',
] as const;
type Mutation = (typeof MUTATIONS)[number];

const OWNERS = ['self', 'another user', 'a service account'] as const;
type Owner = (typeof OWNERS)[number];
/** The role of every target principal that is not the actor. */
const TARGET_ROLE: SpecRole = 'standard';

const SCOPINGS = ['unscoped', 'scoped to what it needs', 'scoped to everything except what it needs'] as const;
type Scoping = (typeof SCOPINGS)[number];

/** What a mutation hands out (R9): scopes on a key (null: unscoped), or a role's permissions. */
type Grant = { readonly scopes: readonly Perm[] | null } | { readonly role: SpecRole };

/** In the matrix, keys are scoped to a permission every role holds, so that R8 alone decides; roles granted are read_only. */
const MATRIX_SCOPES: readonly Perm[] = ['dashboards_read'];
const MATRIX_ROLE: SpecRole = 'read_only';

function matrixGrant(mutation: Mutation): Grant | null {
  switch (mutation) {
    case 'createApplicationKey':
    case 'scopeApplicationKey':
      return { scopes: MATRIX_SCOPES };
    case 'inviteUser':
    case 'createServiceAccount':
    case 'changeRole':
      return { role: MATRIX_ROLE };
    case 'createApiKey':
    case 'renameApiKey':
    case 'revokeApiKey':
    case 'renameApplicationKey':
    case 'revokeApplicationKey':
    case 'createClientToken':
    case 'renameClientToken':
    case 'revokeClientToken':
    case 'disablePrincipal':
      return null;
  }
}

interface ActorShape {
  readonly kind: PrincipalKind;
  readonly role: SpecRole;
}

/** A mutation needs one of `anyOf`, and every permission it grants (R9). */
interface Requirement {
  readonly anyOf: readonly Perm[];
  readonly grants: readonly Perm[];
}

const APP_KEY_MUTATIONS: ReadonlySet<Mutation> = new Set(['createApplicationKey', 'scopeApplicationKey', 'renameApplicationKey', 'revokeApplicationKey']);

function requirement(mutation: Mutation, owner: Owner, actor: ActorShape, grant: Grant | null): Requirement {
  // R9: an unscoped key grants all of its owner's role permissions; a role grants its permissions.
  const ownerRole = owner === 'self' ? actor.role : TARGET_ROLE;
  const grants: readonly Perm[] = grant === null ? [] : 'role' in grant ? SPEC_ROLES[grant.role] : (grant.scopes ?? SPEC_ROLES[ownerRole]);
  // R8: own keys need user_app_keys (a service account's own keys are also "a service account's
  // keys": service_account_write); another user's org_app_keys_write; a service account's
  // service_account_write.
  const r8: readonly Perm[] =
    owner === 'self'
      ? actor.kind === 'SERVICE_ACCOUNT'
        ? ['user_app_keys', 'service_account_write']
        : ['user_app_keys']
      : owner === 'another user'
        ? ['org_app_keys_write']
        : ['service_account_write'];
  const ownerKind: PrincipalKind = owner === 'self' ? actor.kind : owner === 'another user' ? 'USER' : 'SERVICE_ACCOUNT';
  switch (mutation) {
    case 'createApiKey':
    case 'renameApiKey':
      return { anyOf: ['api_keys_write'], grants: [] };
    case 'revokeApiKey':
      return { anyOf: ['api_keys_delete'], grants: [] };
    case 'createClientToken':
    case 'renameClientToken':
    case 'revokeClientToken':
      return { anyOf: ['client_tokens_write'], grants: [] };
    case 'createApplicationKey':
    case 'scopeApplicationKey':
      return { anyOf: r8, grants };
    case 'renameApplicationKey':
    case 'revokeApplicationKey':
      return { anyOf: r8, grants: [] };
    case 'inviteUser':
    case 'changeRole':
      return { anyOf: ['user_access_manage'], grants };
    case 'createServiceAccount':
      return { anyOf: ['service_account_write'], grants };
    case 'disablePrincipal':
      return { anyOf: [ownerKind === 'USER' ? 'user_access_manage' : 'service_account_write'], grants: [] };
  }
}

type Outcome = 'ALLOWED' | 'FORBIDDEN';

function oracle(req: Requirement, permissions: ReadonlySet<Perm>): Outcome {
  return req.anyOf.some((p) => permissions.has(p)) && req.grants.every((p) => permissions.has(p)) ? 'ALLOWED' : 'FORBIDDEN';
}

/** The least a key must list for the mutation: its first alternative and what it grants. */
function needs(req: Requirement): Perm[] {
  const [first] = req.anyOf;
  if (first === undefined) throw new Error('a requirement with no permission');
  return [...new Set<Perm>([first, ...req.grants])];
}

function scopesFor(scoping: Scoping, req: Requirement): Perm[] | null {
  if (scoping === 'unscoped') return null;
  const needed = needs(req);
  return scoping === 'scoped to what it needs' ? needed : SPEC_PERMISSIONS.filter((p) => !needed.includes(p));
}

// ── the table ────────────────────────────────────────────────────────────────

const RULE_IDS: Readonly<Record<Mutation, string>> = {
  createApiKey: 'R7/R21',
  renameApiKey: 'R7/R21',
  revokeApiKey: 'R7/R21',
  createApplicationKey: 'R8/R9',
  scopeApplicationKey: 'R8/R9',
  renameApplicationKey: 'R8/R9',
  revokeApplicationKey: 'R8/R9',
  createClientToken: 'R7/R21',
  renameClientToken: 'R7/R21',
  revokeClientToken: 'R7/R21',
  inviteUser: 'R9/R21',
  createServiceAccount: 'R9/R16',
  changeRole: 'R9/R21',
  disablePrincipal: 'R13/R16',
};

function describeTarget(mutation: Mutation, owner: Owner): string {
  if (mutation === 'createApplicationKey') return { self: 'for itself', 'another user': 'for another user', 'a service account': 'for a service account' }[owner];
  if (APP_KEY_MUTATIONS.has(mutation)) return { self: 'on its own key', 'another user': "on another user's key", 'a service account': "on a service account's key" }[owner];
  if (mutation === 'changeRole' || mutation === 'disablePrincipal')
    return { self: 'on itself', 'another user': 'on another user', 'a service account': 'on a service account' }[owner];
  if (mutation === 'renameApiKey' || mutation === 'revokeApiKey' || mutation === 'renameClientToken' || mutation === 'revokeClientToken') {
    return { self: 'on one made by itself where it may', 'another user': 'with owner another user', 'a service account': 'with owner a service account' }[owner];
  }
  return `(owner: ${owner})`;
}

interface Cell {
  readonly name: string;
  readonly mutation: Mutation;
  readonly role: SpecRole;
  readonly scoping: Scoping;
  readonly owner: Owner;
  readonly scopes: readonly Perm[] | null;
  readonly expected: Outcome;
}

const MATRIX: readonly Cell[] = MUTATIONS.flatMap((mutation) =>
  SPEC_ROLE_NAMES.flatMap((role) =>
    SCOPINGS.flatMap((scoping) =>
      OWNERS.map((owner): Cell => {
        const req = requirement(mutation, owner, { kind: 'USER', role }, matrixGrant(mutation));
        const scopes = scopesFor(scoping, req);
        const expected = oracle(req, effective(role, scopes));
        return {
          name: `${RULE_IDS[mutation]}: ${role}, ${scoping}, ${mutation} ${describeTarget(mutation, owner)} → ${expected}`,
          mutation,
          role,
          scoping,
          owner,
          scopes,
          expected,
        };
      }),
    ),
  ),
);

// ── the gateway, actors and fresh targets ────────────────────────────────────

let g: TestGateway;

beforeAll(async () => {
  g = await startGateway();
  // The matrix makes some sixty API keys; the default limit (R2) is not what it tests.
  await g.app.keyledger.setApiKeyLimit(g.org.organization.id, 500);
});
afterAll(async () => {
  await g?.close();
});

let counter = 0;
const unique = (prefix: string) => `${prefix} ${++counter}-${randomBytes(3).toString('hex')}`;

interface Actor extends ActorShape {
  readonly id: string;
  readonly scopes: readonly Perm[] | null;
  readonly credentials: Credentials;
  /** The global id of the application key in its credentials. */
  readonly keyId: string;
}

async function newActor(kind: PrincipalKind, role: SpecRole, scopes: readonly Perm[] | null): Promise<Actor> {
  // The org admin holds every permission, so R9 lets it make the actor's key with any scopes.
  const made = await member(g, GQL_ROLE[role], { kind, scopes: scopes === null ? null : [...scopes] });
  return { id: made.id, kind, role, scopes, credentials: made.credentials, keyId: made.keyId };
}

const actors = new Map<string, Promise<Actor>>();
/** One actor per (kind, role, scopes); `fresh` for cases that change or disable the actor itself. */
function actorFor(kind: PrincipalKind, role: SpecRole, scopes: readonly Perm[] | null, fresh: boolean): Promise<Actor> {
  if (fresh) return newActor(kind, role, scopes);
  const key = `${kind}|${role}|${scopes === null ? '*' : [...scopes].sort().join(',')}`;
  let actor = actors.get(key);
  if (!actor) {
    actor = newActor(kind, role, scopes);
    actors.set(key, actor);
  }
  return actor;
}

async function ok<R>(answer: Promise<Answer<R>>, what: string): Promise<R> {
  const settled = await answer;
  expect(settled.errors, `setup: ${what}`).toBeUndefined();
  return settled.data!;
}

/** A fresh principal of TARGET_ROLE for the owner, made by the org admin (or the actor itself). */
async function principalOf(owner: Owner, actor: Actor): Promise<string> {
  if (owner === 'self') return actor.id;
  if (owner === 'another user') {
    const suffix = unique('user').replace(/\W/g, '-');
    return (await ok(g.call(InviteUserDocument, { email: `target-${suffix}@example.test`, name: `Target ${suffix}`, role: GQL_ROLE[TARGET_ROLE] }), 'invite the target user'))
      .inviteUser.principal.id;
  }
  return (await ok(g.call(CreateServiceAccountDocument, { name: unique('target robot'), role: GQL_ROLE[TARGET_ROLE] }), 'create the target service account')).createServiceAccount
    .principal.id;
}

/** A fresh unscoped application key owned by the owner (never the actor's own credential). */
async function appKeyOf(owner: Owner, actor: Actor): Promise<{ id: string; name: string; ownerId: string }> {
  const ownerId = await principalOf(owner, actor);
  const name = unique('target key');
  const id = (await ok(g.call(CreateApplicationKeyDocument, { name, ownerId, scopes: null }), 'create the target application key')).createApplicationKey.applicationKey.id;
  return { id, name, ownerId };
}

/**
 * API keys and client tokens belong to the org: the owner dimension does not change the rule. The
 * target is made by the owner where the owner may make it (only ever the actor itself, since the
 * other owners are standard), else by the org admin.
 */
function makerOf(mutation: 'createApiKey' | 'createClientToken', owner: Owner, actor: Actor): Credentials {
  const mayMake = owner === 'self' && oracle(requirement(mutation, owner, actor, null), effective(actor.role, actor.scopes)) === 'ALLOWED';
  return mayMake ? actor.credentials : g.admin;
}

async function apiKeyOf(owner: Owner, actor: Actor): Promise<{ id: string; name: string }> {
  const name = unique('target api key');
  return { id: (await ok(g.call(CreateApiKeyDocument, { name }, makerOf('createApiKey', owner, actor)), 'create the target API key')).createApiKey.apiKey.id, name };
}

async function clientTokenOf(owner: Owner, actor: Actor): Promise<{ id: string; name: string }> {
  const name = unique('target token');
  return {
    id: (await ok(g.call(CreateClientTokenDocument, { name }, makerOf('createClientToken', owner, actor)), 'create the target client token')).createClientToken.clientToken.id,
    name,
  };
}

function grantedScopes(grant: Grant | null): string[] | null {
  if (grant === null || !('scopes' in grant)) throw new Error('this mutation grants scopes');
  return grant.scopes === null ? null : [...grant.scopes];
}

function grantedRole(grant: Grant | null): GqlRole {
  if (grant === null || !('role' in grant)) throw new Error('this mutation grants a role');
  return GQL_ROLE[grant.role];
}

type Act = () => Promise<Answer<unknown>>;

/** A case's mutation, and the lifecycle events it must append when allowed (with the secret it returned, if any). */
interface Case {
  readonly act: Act;
  expected(answer: Answer<unknown>): { events: unknown[]; secret?: string };
}

function caseOf<R>(act: () => Promise<Answer<R>>, expected: (data: R) => { events: unknown[]; secret?: string }): Case {
  return { act, expected: (answer) => expected((answer as Answer<R>).data as R) };
}

/** Makes the case's fresh target, and returns the mutation the actor then sends with the events it appends if allowed. */
async function prepare(mutation: Mutation, owner: Owner, actor: Actor, grant: Grant | null): Promise<Case> {
  const as = actor.credentials;
  const orgId = g.org.organization.id;
  switch (mutation) {
    case 'createApiKey': {
      const name = unique('api key');
      return caseOf(
        () => g.call(CreateApiKeyDocument, { name }, as),
        ({ createApiKey: { apiKey, secret } }) => ({ events: [apiKeyCreated({ orgId, keyId: apiKey.id, name, secret, createdBy: actor.id })], secret }),
      );
    }
    case 'renameApiKey': {
      const { id, name: previousName } = await apiKeyOf(owner, actor);
      const name = unique('renamed api key');
      return caseOf(
        () => g.call(RenameApiKeyDocument, { id, name }, as),
        () => ({ events: [apiKeyRenamed({ orgId, keyId: id, name, previousName })] }),
      );
    }
    case 'revokeApiKey': {
      const { id } = await apiKeyOf(owner, actor);
      return caseOf(
        () => g.call(RevokeApiKeyDocument, { id }, as),
        () => ({ events: [apiKeyRevoked({ orgId, keyId: id, reason: 'REVOKED' })] }),
      );
    }
    case 'createApplicationKey': {
      const ownerId = owner === 'self' ? undefined : await principalOf(owner, actor);
      const scopes = grantedScopes(grant);
      const name = unique('app key');
      return caseOf(
        () => g.call(CreateApplicationKeyDocument, { name, ...(ownerId === undefined ? {} : { ownerId }), scopes }, as),
        ({ createApplicationKey: { applicationKey, secret } }) => ({
          // Owned by the principal it was made for (R6), created by the actor.
          events: [applicationKeyCreated({ principalId: ownerId ?? actor.id, orgId, keyId: applicationKey.id, name, secret, scopes, expiresAt: null, createdBy: actor.id })],
          secret,
        }),
      );
    }
    case 'scopeApplicationKey': {
      const key = await appKeyOf(owner, actor);
      const scopes = grantedScopes(grant);
      return caseOf(
        () => g.call(ScopeApplicationKeyDocument, { id: key.id, scopes }, as),
        () => ({ events: [applicationKeyScoped({ principalId: key.ownerId, orgId, keyId: key.id, scopes, previousScopes: null })] }),
      );
    }
    case 'renameApplicationKey': {
      const key = await appKeyOf(owner, actor);
      const name = unique('renamed app key');
      return caseOf(
        () => g.call(RenameApplicationKeyDocument, { id: key.id, name }, as),
        () => ({ events: [applicationKeyRenamed({ principalId: key.ownerId, orgId, keyId: key.id, name, previousName: key.name })] }),
      );
    }
    case 'revokeApplicationKey': {
      const key = await appKeyOf(owner, actor);
      return caseOf(
        () => g.call(RevokeApplicationKeyDocument, { id: key.id }, as),
        () => ({ events: [applicationKeyRevoked({ principalId: key.ownerId, orgId, keyId: key.id, reason: 'REVOKED' })] }),
      );
    }
    case 'createClientToken': {
      const name = unique('token');
      return caseOf(
        () => g.call(CreateClientTokenDocument, { name }, as),
        ({ createClientToken: { clientToken, secret } }) => ({
          events: [clientTokenCreated({ orgId, tokenId: clientToken.id, name, secret, allowedOrigins: [], createdBy: actor.id })],
          secret,
        }),
      );
    }
    case 'renameClientToken': {
      const { id, name: previousName } = await clientTokenOf(owner, actor);
      const name = unique('renamed token');
      return caseOf(
        () => g.call(RenameClientTokenDocument, { id, name }, as),
        () => ({ events: [clientTokenRenamed({ orgId, tokenId: id, name, previousName })] }),
      );
    }
    case 'revokeClientToken': {
      const { id } = await clientTokenOf(owner, actor);
      return caseOf(
        () => g.call(RevokeClientTokenDocument, { id }, as),
        () => ({ events: [clientTokenRevoked({ orgId, tokenId: id, reason: 'REVOKED' })] }),
      );
    }
    case 'inviteUser': {
      const suffix = unique('invitee').replace(/\W/g, '-');
      const role = grantedRole(grant);
      const email = `${suffix}@example.test`;
      const name = `Invitee ${suffix}`;
      return caseOf(
        () => g.call(InviteUserDocument, { email, name, role }, as),
        ({ inviteUser: { principal } }) => ({ events: [userInvited({ principalId: principal.id, orgId, email, name, role })] }),
      );
    }
    case 'createServiceAccount': {
      const role = grantedRole(grant);
      const name = unique('robot');
      return caseOf(
        () => g.call(CreateServiceAccountDocument, { name, role }, as),
        ({ createServiceAccount: { principal } }) => ({ events: [serviceAccountCreated({ principalId: principal.id, orgId, name, role })] }),
      );
    }
    case 'changeRole': {
      const principalId = await principalOf(owner, actor);
      const role = grantedRole(grant);
      const previousRole = GQL_ROLE[owner === 'self' ? actor.role : TARGET_ROLE];
      return caseOf(
        () => g.call(ChangeRoleDocument, { principalId, role }, as),
        () => ({ events: [principalRoleChanged({ principalId, orgId, role, previousRole })] }),
      );
    }
    case 'disablePrincipal': {
      const principalId = await principalOf(owner, actor);
      // R13: a fresh target owns no key; the actor itself owns the key it acts with.
      const keys = owner === 'self' ? [actor.keyId] : [];
      return caseOf(
        () => g.call(DisablePrincipalDocument, { principalId }, as),
        () => ({ events: [principalDisabled({ principalId, orgId }), ...keys.map((keyId) => applicationKeyOwnerDisabled({ principalId, orgId, keyId }))] }),
      );
    }
  }
}

/** R21: refused is 403 FORBIDDEN with no data and no new event; allowed is 200 with its events. */
async function expectOutcome(c: Case, expected: Outcome): Promise<void> {
  if (expected === 'FORBIDDEN') {
    const answer = await expectNoNewEvent(g, c.act);
    expect({ status: answer.status, code: answer.code, errors: answer.errors?.length }).toEqual({ status: 403, code: 'FORBIDDEN', errors: 1 });
    expect(answer.data).toBeNull();
  } else {
    const before = await g.eventCount();
    const { result: answer, events } = await g.appendedBy(c.act);
    expect(answer.errors).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(answer.data).toBeTruthy();
    expect(await g.eventCount(), 'an allowed command appends its events').toBeGreaterThan(before);
    const appended = c.expected(answer);
    expect(events, 'the lifecycle events it appended').toEqual(appended.events);
    if (appended.secret !== undefined) expectNoSecretIn(events, appended.secret);
  }
}

/** Cases that change the actor's own role or disable it get an actor of their own. */
const consumesActor = (mutation: Mutation, owner: Owner) => owner === 'self' && (mutation === 'changeRole' || mutation === 'disablePrincipal');

// ── the tests ────────────────────────────────────────────────────────────────

describe('the oracle', () => {
  it("restates section 3: the product's permission catalogue and role table are the spec's", () => {
    expect([...PERMISSION_IDS].sort()).toEqual([...SPEC_PERMISSIONS].sort());
    expect(Object.keys(ROLES).sort()).toEqual([...SPEC_ROLE_NAMES].sort());
    for (const role of SPEC_ROLE_NAMES) {
      expect([...ROLES[role].permissions].sort(), role).toEqual([...SPEC_ROLES[role]].sort());
    }
  });

  it('the matrix holds every mutation × role × scoping × owner, each named once', () => {
    expect(MATRIX).toHaveLength(14 * 3 * 3 * 3);
    expect(new Set(MATRIX.map((cell) => cell.name)).size).toBe(MATRIX.length);
    // The spec's table makes admins (unscoped or scoped to what they need) able to do all of it,
    // standard users only their own application keys, and read_only users nothing.
    const allowed = MATRIX.filter((cell) => cell.expected === 'ALLOWED');
    expect(allowed.filter((cell) => cell.role === 'admin' && cell.scoping !== 'scoped to everything except what it needs')).toHaveLength(14 * 3 * 2);
    expect(
      allowed
        .filter((cell) => cell.role === 'standard')
        .map((cell) => `${cell.mutation}/${cell.owner}/${cell.scoping}`)
        .sort(),
    ).toEqual([...APP_KEY_MUTATIONS].flatMap((m) => [`${m}/self/scoped to what it needs`, `${m}/self/unscoped`]).sort());
    expect(allowed).toHaveLength(14 * 3 * 2 + 4 * 2);
  });
});

describe('the matrix: every mutation × role × owner × scoping, against R8 and R9', () => {
  for (const cell of MATRIX) {
    it(cell.name, async () => {
      const actor = await actorFor('USER', cell.role, cell.scopes, consumesActor(cell.mutation, cell.owner));
      const act = await prepare(cell.mutation, cell.owner, actor, matrixGrant(cell.mutation));
      await expectOutcome(act, cell.expected);
    });
  }
});

// R9 beyond the matrix: granting scopes or roles the credential lacks, even where R8 allows the
// key or principal to be managed; and a service account acting on its own keys (R8, R16). Each
// case states the spec's outcome, and the oracle must agree with it.
interface GrantCase {
  readonly name: string;
  readonly actor: { readonly kind: PrincipalKind; readonly role: SpecRole; readonly scopes: readonly Perm[] | null };
  readonly mutation: Mutation;
  readonly owner: Owner;
  readonly grant: Grant | null;
  readonly expected: Outcome;
}

const ADMIN_FOR_READ_ONLY: readonly Perm[] = ['user_access_manage', ...SPEC_ROLES.read_only];

const GRANTS: readonly GrantCase[] = [
  {
    name: 'R9: a standard user creating its own key scoped to api_keys_write, which it lacks → FORBIDDEN',
    actor: { kind: 'USER', role: 'standard', scopes: null },
    mutation: 'createApplicationKey',
    owner: 'self',
    grant: { scopes: ['api_keys_write'] },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: a standard user scoping its own key to api_keys_write, which it lacks → FORBIDDEN',
    actor: { kind: 'USER', role: 'standard', scopes: null },
    mutation: 'scopeApplicationKey',
    owner: 'self',
    grant: { scopes: ['api_keys_write'] },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: a standard user scoping its own key to dashboards_read and api_keys_read, both its own → ALLOWED',
    actor: { kind: 'USER', role: 'standard', scopes: null },
    mutation: 'scopeApplicationKey',
    owner: 'self',
    grant: { scopes: ['dashboards_read', 'api_keys_read'] },
    expected: 'ALLOWED',
  },
  {
    name: 'R9: an unscoped standard user creating an unscoped key for itself (all of its own permissions) → ALLOWED',
    actor: { kind: 'USER', role: 'standard', scopes: null },
    mutation: 'createApplicationKey',
    owner: 'self',
    grant: { scopes: null },
    expected: 'ALLOWED',
  },
  {
    name: 'R9: an unscoped standard user unscoping its own key → ALLOWED',
    actor: { kind: 'USER', role: 'standard', scopes: null },
    mutation: 'scopeApplicationKey',
    owner: 'self',
    grant: { scopes: null },
    expected: 'ALLOWED',
  },
  {
    name: 'R9: a standard user scoped to user_app_keys and dashboards_read unscoping its own key (grants all of standard) → FORBIDDEN',
    actor: { kind: 'USER', role: 'standard', scopes: ['user_app_keys', 'dashboards_read'] },
    mutation: 'scopeApplicationKey',
    owner: 'self',
    grant: { scopes: null },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: a standard user scoped to user_app_keys and dashboards_read creating its own key scoped to dashboards_write → FORBIDDEN',
    actor: { kind: 'USER', role: 'standard', scopes: ['user_app_keys', 'dashboards_read'] },
    mutation: 'createApplicationKey',
    owner: 'self',
    grant: { scopes: ['dashboards_write'] },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: an admin scoped to org_app_keys_write and dashboards_read creating an unscoped key for another user → FORBIDDEN',
    actor: { kind: 'USER', role: 'admin', scopes: ['org_app_keys_write', 'dashboards_read'] },
    mutation: 'createApplicationKey',
    owner: 'another user',
    grant: { scopes: null },
    expected: 'FORBIDDEN',
  },
  {
    name: "R9: an admin scoped to service_account_write and dashboards_read scoping a service account's key to dashboards_read and monitors_read → FORBIDDEN",
    actor: { kind: 'USER', role: 'admin', scopes: ['service_account_write', 'dashboards_read'] },
    mutation: 'scopeApplicationKey',
    owner: 'a service account',
    grant: { scopes: ['dashboards_read', 'monitors_read'] },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: an admin scoped to user_access_manage only inviting a read_only user (lacks its permissions) → FORBIDDEN',
    actor: { kind: 'USER', role: 'admin', scopes: ['user_access_manage'] },
    mutation: 'inviteUser',
    owner: 'another user',
    grant: { role: 'read_only' },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: an admin scoped to user_access_manage only making another user read_only → FORBIDDEN',
    actor: { kind: 'USER', role: 'admin', scopes: ['user_access_manage'] },
    mutation: 'changeRole',
    owner: 'another user',
    grant: { role: 'read_only' },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R9: an admin scoped to service_account_write only creating a read_only service account → FORBIDDEN',
    actor: { kind: 'USER', role: 'admin', scopes: ['service_account_write'] },
    mutation: 'createServiceAccount',
    owner: 'a service account',
    grant: { role: 'read_only' },
    expected: 'FORBIDDEN',
  },
  {
    name: 'R16: an admin scoped to service_account_write only disabling a service account (grants nothing) → ALLOWED',
    actor: { kind: 'USER', role: 'admin', scopes: ['service_account_write'] },
    mutation: 'disablePrincipal',
    owner: 'a service account',
    grant: null,
    expected: 'ALLOWED',
  },
  {
    name: "R9: an admin scoped to user_access_manage and read_only's permissions inviting a standard user → FORBIDDEN",
    actor: { kind: 'USER', role: 'admin', scopes: ADMIN_FOR_READ_ONLY },
    mutation: 'inviteUser',
    owner: 'another user',
    grant: { role: 'standard' },
    expected: 'FORBIDDEN',
  },
  {
    name: "R9: an admin scoped to user_access_manage and read_only's permissions making another user admin → FORBIDDEN",
    actor: { kind: 'USER', role: 'admin', scopes: ADMIN_FOR_READ_ONLY },
    mutation: 'changeRole',
    owner: 'another user',
    grant: { role: 'admin' },
    expected: 'FORBIDDEN',
  },
  {
    name: "R9: an admin scoped to user_access_manage and standard's permissions inviting a standard user → ALLOWED",
    actor: { kind: 'USER', role: 'admin', scopes: ['user_access_manage', ...SPEC_ROLES.standard] },
    mutation: 'inviteUser',
    owner: 'another user',
    grant: { role: 'standard' },
    expected: 'ALLOWED',
  },
  {
    name: 'R9: an unscoped admin making another user admin → ALLOWED',
    actor: { kind: 'USER', role: 'admin', scopes: null },
    mutation: 'changeRole',
    owner: 'another user',
    grant: { role: 'admin' },
    expected: 'ALLOWED',
  },
  {
    name: 'R8: an admin service account scoped to service_account_write renaming its own key → ALLOWED',
    actor: { kind: 'SERVICE_ACCOUNT', role: 'admin', scopes: ['service_account_write'] },
    mutation: 'renameApplicationKey',
    owner: 'self',
    grant: null,
    expected: 'ALLOWED',
  },
  {
    name: 'R8: an admin service account scoped to user_app_keys revoking its own key → ALLOWED',
    actor: { kind: 'SERVICE_ACCOUNT', role: 'admin', scopes: ['user_app_keys'] },
    mutation: 'revokeApplicationKey',
    owner: 'self',
    grant: null,
    expected: 'ALLOWED',
  },
  {
    name: "R8: an admin service account scoped to org_app_keys_write (any USER's keys) renaming its own key → FORBIDDEN",
    actor: { kind: 'SERVICE_ACCOUNT', role: 'admin', scopes: ['org_app_keys_write'] },
    mutation: 'renameApplicationKey',
    owner: 'self',
    grant: null,
    expected: 'FORBIDDEN',
  },
  {
    name: 'R8: an unscoped standard service account creating a dashboards_read key for itself → ALLOWED',
    actor: { kind: 'SERVICE_ACCOUNT', role: 'standard', scopes: null },
    mutation: 'createApplicationKey',
    owner: 'self',
    grant: { scopes: ['dashboards_read'] },
    expected: 'ALLOWED',
  },
  {
    name: "R8: an unscoped standard service account renaming another service account's key → FORBIDDEN",
    actor: { kind: 'SERVICE_ACCOUNT', role: 'standard', scopes: null },
    mutation: 'renameApplicationKey',
    owner: 'a service account',
    grant: null,
    expected: 'FORBIDDEN',
  },
];

describe('R9: no credential grants what it lacks; R8: a service account and its own keys', () => {
  it('holds every case, and the oracle agrees with each stated outcome', () => {
    expect(GRANTS).toHaveLength(22);
    for (const c of GRANTS) {
      const req = requirement(c.mutation, c.owner, c.actor, c.grant);
      expect(oracle(req, effective(c.actor.role, c.actor.scopes)), c.name).toBe(c.expected);
    }
  });

  for (const c of GRANTS) {
    it(c.name, async () => {
      const actor = await actorFor(c.actor.kind, c.actor.role, c.actor.scopes, consumesActor(c.mutation, c.owner));
      const act = await prepare(c.mutation, c.owner, actor, c.grant);
      await expectOutcome(act, c.expected);
    });
  }
});
