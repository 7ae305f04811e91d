// The rules of the key model (spec section 4, R1-R16, R20, R21), each as a user meets it:
// GraphQL over HTTP against a running gateway. An accepted mutation is checked down to the
// lifecycle events it appended (spec section 5): their types, streams and data, and that none
// holds a secret.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  ApiKeysDocument,
  ApplicationKeysDocument,
  ChangeRoleDocument,
  ClientTokensDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  CreateServiceAccountDocument,
  DisablePrincipalDocument,
  InviteUserDocument,
  NodeDocument,
  OrganizationDocument,
  PrincipalsDocument,
  RenameApiKeyDocument,
  RenameApplicationKeyDocument,
  RenameClientTokenDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  RevokeClientTokenDocument,
  ScopeApplicationKeyDocument,
  ScopesDocument,
  ViewerDocument,
} from '../gql/graphql.js';
import { startGateway, type Credentials, type TestGateway } from '../support/gateway.js';
import {
  actingAs,
  apiKeyCreated,
  apiKeyLimitChanged,
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
  uuidOf,
} from '../support/events.js';
import { expectNoNewEvent, member } from '../support/members.js';
import { ROLES } from '../../src/domain/permissions.js';

let g: TestGateway;

beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

/** The first organization's id and its admin's principal id (UUIDs, as events hold them). */
const home = () => ({ orgId: g.org.organization.id, adminId: g.org.admin.id });

/** createApiKey, checked down to the one ApiKeyCreated it appends, created by the acting principal. */
async function apiKey(name: string, as: Credentials = g.admin) {
  const { orgId, principalId } = await actingAs(g, as);
  const { result: created, events } = await g.appendedBy(() => g.call(CreateApiKeyDocument, { name }, as));
  expect(created.errors).toBeUndefined();
  const issued = created.data!.createApiKey;
  expect(events).toEqual([apiKeyCreated({ orgId, keyId: issued.apiKey.id, name: name.trim(), secret: issued.secret, createdBy: principalId })]);
  expectNoSecretIn(events, issued.secret);
  return issued;
}

describe('API keys', () => {
  it('R1: an organization starts with one active API key and keeps at least one', async () => {
    const { org, admin } = await g.newOrg();
    const orgId = org.organization.id;
    const start = await g.call(ApiKeysDocument, {}, admin);
    expect(start.data?.apiKeys.totalCount).toBe(1);
    const [first] = start.data!.apiKeys.edges;
    expect(first?.node.status).toBe('ACTIVE');
    expect(uuidOf(first!.node.id, ['ApiKey'])).toBe(org.apiKey.credential.id);

    const second = await apiKey('second', admin);
    const viaSecond = { apiKey: second.secret, applicationKey: admin.applicationKey };
    const revokeFirst = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: first!.node.id }, viaSecond));
    expect(revokeFirst.result.data?.revokeApiKey.apiKey.status).toBe('REVOKED');
    expect(revokeFirst.events).toEqual([apiKeyRevoked({ orgId, keyId: first!.node.id, reason: 'REVOKED' })]);

    // The second key is now the last one: revoking it is refused, and nothing changes.
    const refused = await expectNoNewEvent(g, () => g.call(RevokeApiKeyDocument, { id: second.apiKey.id }, viaSecond));
    expect(refused.code).toBe('LAST_API_KEY');
    expect((await g.call(OrganizationDocument, {}, viaSecond)).data?.organization.activeApiKeyCount).toBe(1);
  });

  it('R2: at most apiKeyLimit active API keys; the operator raises or lowers the limit', async () => {
    const { org, admin } = await g.newOrg();
    const orgId = org.organization.id;
    expect((await g.call(OrganizationDocument, {}, admin)).data?.organization.apiKeyLimit).toBe(50);
    const lowered = await g.appendedBy(() => g.app.keyledger.setApiKeyLimit(org.organization.id, 3));
    expect(lowered.events).toEqual([apiKeyLimitChanged({ orgId, apiKeyLimit: 3, previousLimit: 50 })]);
    const second = await apiKey('two', admin);
    await apiKey('three', admin);
    const refused = await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: 'four' }, admin));
    expect(refused.code).toBe('API_KEY_LIMIT');

    // A revoked key frees its slot; a raised limit makes room.
    const revoked = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: second.apiKey.id }, admin));
    expect(revoked.result.errors).toBeUndefined();
    expect(revoked.events).toEqual([apiKeyRevoked({ orgId, keyId: second.apiKey.id })]);
    await apiKey('four', admin);
    expect((await g.call(CreateApiKeyDocument, { name: 'five' }, admin)).code).toBe('API_KEY_LIMIT');
    const raised = await g.appendedBy(() => g.app.keyledger.setApiKeyLimit(org.organization.id, 4));
    expect(raised.events).toEqual([apiKeyLimitChanged({ orgId, apiKeyLimit: 4, previousLimit: 3 })]);
    await apiKey('five', admin);
    expect((await g.call(OrganizationDocument, {}, admin)).data?.organization).toMatchObject({ apiKeyLimit: 4, activeApiKeyCount: 4 });
  });

  it('R3: names are unique among active keys of a kind, after trimming and case-folding; a revoked key frees its name', async () => {
    const { org, admin } = await g.newOrg();
    const orgId = org.organization.id;
    const deploy = await apiKey('Deploy', admin);
    for (const clash of ['deploy', '  DEPLOY ', 'Deploy']) {
      const refused = await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: clash }, admin));
      expect(refused.code, clash).toBe('NAME_TAKEN');
      expect(refused.errors?.[0]?.extensions?.field).toBe('name');
    }
    // Another kind may use the name.
    const token = await g.appendedBy(() => g.call(CreateClientTokenDocument, { name: 'deploy' }, admin));
    expect(token.result.errors).toBeUndefined();
    const issuedToken = token.result.data!.createClientToken;
    expect(token.events).toEqual([clientTokenCreated({ orgId, tokenId: issuedToken.clientToken.id, name: 'deploy', secret: issuedToken.secret, createdBy: org.admin.id })]);
    expectNoSecretIn(token.events, issuedToken.secret);
    // Renaming onto a taken name is refused too.
    const other = await apiKey('Other', admin);
    expect((await expectNoNewEvent(g, () => g.call(RenameApiKeyDocument, { id: other.apiKey.id, name: ' deploy' }, admin))).code).toBe('NAME_TAKEN');
    // Names are trimmed, and 1 to 200 characters.
    const spaced = await g.appendedBy(() => g.call(RenameApiKeyDocument, { id: other.apiKey.id, name: '  Spaced  ' }, admin));
    expect(spaced.result.data?.renameApiKey.apiKey.name).toBe('Spaced');
    expect(spaced.events).toEqual([apiKeyRenamed({ orgId, keyId: other.apiKey.id, name: 'Spaced', previousName: 'Other' })]);
    expect((await g.call(CreateApiKeyDocument, { name: 'x'.repeat(201) }, admin)).code).toBe('BAD_USER_INPUT');
    expect((await apiKey('y'.repeat(200), admin)).apiKey.name).toBe('y'.repeat(200));
    // Revoked, the name is free again.
    const revoked = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: deploy.apiKey.id }, admin));
    expect(revoked.events).toEqual([apiKeyRevoked({ orgId, keyId: deploy.apiKey.id })]);
    expect((await apiKey('DEPLOY', admin)).apiKey.name).toBe('DEPLOY');
  });

  it('R4: an API key alone does not open the GraphQL API', async () => {
    const alone = await expectNoNewEvent(g, () => g.call(ViewerDocument, {}, { 'x-api-key': g.admin.apiKey }));
    expect(alone.status).toBe(401);
    expect(alone.code).toBe('UNAUTHENTICATED');
    expect(alone.errors?.[0]?.message).toMatch(/application key/);
    // Together with an application key it does, through either header spelling.
    const dd = await g.call(ViewerDocument, {}, { 'dd-api-key': g.admin.apiKey, 'dd-application-key': g.admin.applicationKey });
    expect(dd.status).toBe(200);
    expect(dd.data?.viewer.principal.name).toBe('Ada Admin');
  });
});

describe('application keys', () => {
  it('R5: application key names cannot be blank', async () => {
    for (const name of ['', '   ', '\t\n']) {
      const refused = await expectNoNewEvent(g, () => g.call(CreateApplicationKeyDocument, { name }, g.admin));
      expect(refused.code, JSON.stringify(name)).toBe('BLANK_NAME');
      expect(refused.errors?.[0]?.extensions?.field).toBe('name');
    }
    const { orgId, adminId } = home();
    const { result: key, events } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'ok' }, g.admin));
    const id = key.data!.createApplicationKey.applicationKey.id;
    // Made for oneself (no ownerId): owned by its creator, in its stream.
    expect(events).toEqual([
      applicationKeyCreated({
        principalId: adminId,
        orgId,
        keyId: id,
        name: 'ok',
        secret: key.data!.createApplicationKey.secret,
        scopes: null,
        expiresAt: null,
        createdBy: adminId,
      }),
    ]);
    expectNoSecretIn(events, key.data!.createApplicationKey.secret);
    expect((await expectNoNewEvent(g, () => g.call(RenameApplicationKeyDocument, { id, name: '  ' }, g.admin))).code).toBe('BLANK_NAME');
  });

  it('R6: an application key acts as the principal it was created for; unscoped it has all of its permissions', async () => {
    const standard = await member(g, 'STANDARD');
    const viewer = await g.call(ViewerDocument, {}, standard.credentials);
    expect(viewer.data?.viewer.principal.id).toBe(standard.id);
    expect(viewer.data?.viewer.applicationKey).toEqual({ id: standard.keyId, scopes: null });
    expect(new Set(viewer.data?.viewer.permissions)).toEqual(new Set(ROLES.standard.permissions));
    // Made by the admin for this user, it is owned by the user, and the admin is its creator.
    const listed = await g.call(ApplicationKeysDocument, {}, standard.credentials);
    expect(listed.data?.applicationKeys.edges.map((e) => [e.node.id, e.node.owner.id, e.node.createdBy?.name])).toEqual([[standard.keyId, standard.id, 'Ada Admin']]);
  });

  it('R6: an invited user is a principal of the org with its role; a key made for it is appended to its stream, by its creator', async () => {
    const { orgId, adminId } = home();
    const suffix = Math.random().toString(36).slice(2, 10);
    const email = `grace-${suffix}@example.test`;
    const invited = await g.appendedBy(() => g.call(InviteUserDocument, { email, name: 'Grace Hopper', role: 'READ_ONLY' }, g.admin));
    expect(invited.result.errors).toBeUndefined();
    const grace = invited.result.data!.inviteUser.principal;
    expect(grace).toMatchObject({ __typename: 'User', name: 'Grace Hopper', role: 'READ_ONLY', status: 'ACTIVE' });
    expect(invited.events).toEqual([userInvited({ principalId: grace.id, orgId, email, name: 'Grace Hopper', role: 'READ_ONLY' })]);

    const made = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'grace laptop', ownerId: grace.id, scopes: ['dashboards_read'] }, g.admin));
    expect(made.result.errors).toBeUndefined();
    const key = made.result.data!.createApplicationKey;
    expect(key.applicationKey.owner.id).toBe(grace.id);
    expect(made.events).toEqual([
      applicationKeyCreated({
        principalId: grace.id,
        orgId,
        keyId: key.applicationKey.id,
        name: 'grace laptop',
        secret: key.secret,
        scopes: ['dashboards_read'],
        createdBy: adminId,
      }),
    ]);
    expectNoSecretIn(made.events, key.secret);
    const viewer = await g.call(ViewerDocument, {}, { apiKey: g.admin.apiKey, applicationKey: key.secret });
    expect(viewer.data?.viewer.principal.id).toBe(grace.id);
  });

  it("R7: a scoped key has its scopes intersected with its owner's current permissions; scope lists are checked", async () => {
    // The admin may grant api_keys_write; the standard owner lacks it, so the key cannot use it.
    const scoped = await member(g, 'STANDARD', { scopes: ['api_keys_read', 'api_keys_write'] });
    const viewer = await g.call(ViewerDocument, {}, scoped.credentials);
    expect(viewer.data?.viewer.applicationKey.scopes).toEqual(['api_keys_read', 'api_keys_write']);
    expect(viewer.data?.viewer.permissions).toEqual(['api_keys_read']);
    expect((await g.call(ApiKeysDocument, {}, scoped.credentials)).status).toBe(200);
    const refused = await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: 'nope' }, scoped.credentials));
    expect([refused.status, refused.code]).toEqual([403, 'FORBIDDEN']);
    // Outside its scopes, even what the owner's role allows is refused.
    expect((await g.call(PrincipalsDocument, {}, scoped.credentials)).code).toBe('FORBIDDEN');

    for (const scopes of [[], ['no_such_scope'], ['API_KEYS_READ'], ['api_keys_read', 'api_keys_read']]) {
      const bad = await expectNoNewEvent(g, () => g.call(CreateApplicationKeyDocument, { name: `bad-${scopes.join('-')}`, scopes }, g.admin));
      expect(bad.code, JSON.stringify(scopes)).toBe('INVALID_SCOPE');
      expect((await g.call(ScopeApplicationKeyDocument, { id: scoped.keyId, scopes }, g.admin)).code).toBe('INVALID_SCOPE');
    }
  });

  it('R8: own keys need user_app_keys, any user’s org_app_keys_write, a service account’s service_account_write', async () => {
    const alice = await member(g, 'STANDARD');
    const bob = await member(g, 'STANDARD');
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const { orgId } = home();
    // A standard user manages its own keys...
    const { result: own, events: ownEvents } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'alice own' }, alice.credentials));
    expect(own.data?.createApplicationKey.applicationKey.owner.id).toBe(alice.id);
    const ownKey = own.data!.createApplicationKey;
    expect(ownEvents).toEqual([
      applicationKeyCreated({ principalId: alice.id, orgId, keyId: ownKey.applicationKey.id, name: 'alice own', secret: ownKey.secret, scopes: null, createdBy: alice.id }),
    ]);
    expectNoSecretIn(ownEvents, ownKey.secret);
    const renamed = await g.appendedBy(() => g.call(RenameApplicationKeyDocument, { id: own.data!.createApplicationKey.applicationKey.id, name: 'renamed' }, alice.credentials));
    expect(renamed.result.errors).toBeUndefined();
    expect(renamed.events).toEqual([applicationKeyRenamed({ principalId: alice.id, orgId, keyId: ownKey.applicationKey.id, name: 'renamed', previousName: 'alice own' })]);
    // ...but not another user's, nor a service account's.
    for (const target of [bob, robot]) {
      const refused = await expectNoNewEvent(g, () => g.call(CreateApplicationKeyDocument, { name: 'intruder', ownerId: target.id }, alice.credentials));
      expect([refused.status, refused.code]).toEqual([403, 'FORBIDDEN']);
      expect((await g.call(RevokeApplicationKeyDocument, { id: target.keyId }, alice.credentials)).code).toBe('FORBIDDEN');
    }
    // A read_only user has no user_app_keys: not even its own keys.
    const reader = await member(g, 'READ_ONLY');
    expect((await g.call(CreateApplicationKeyDocument, { name: 'mine' }, reader.credentials)).code).toBe('FORBIDDEN');
    // The admin holds org_app_keys_write and service_account_write.
    const revokedBob = await g.appendedBy(() => g.call(RevokeApplicationKeyDocument, { id: bob.keyId }, g.admin));
    expect(revokedBob.result.data?.revokeApplicationKey.applicationKey.status).toBe('REVOKED');
    expect(revokedBob.events).toEqual([applicationKeyRevoked({ principalId: bob.id, orgId, keyId: bob.keyId, reason: 'REVOKED' })]);
    const revokedRobot = await g.appendedBy(() => g.call(RevokeApplicationKeyDocument, { id: robot.keyId }, g.admin));
    expect(revokedRobot.result.data?.revokeApplicationKey.applicationKey.status).toBe('REVOKED');
    expect(revokedRobot.events).toEqual([applicationKeyRevoked({ principalId: robot.id, orgId, keyId: robot.keyId, reason: 'REVOKED' })]);
  });

  it('R9: nobody grants a scope their credential lacks, even where they may manage the key', async () => {
    // An admin whose key is scoped to managing application keys only.
    const limitedAdmin = await member(g, 'ADMIN', { scopes: ['user_app_keys', 'org_app_keys_write'] });
    const grantsMore = await expectNoNewEvent(g, () => g.call(CreateApplicationKeyDocument, { name: 'wider', scopes: ['api_keys_write'] }, limitedAdmin.credentials));
    expect([grantsMore.status, grantsMore.code]).toEqual([403, 'FORBIDDEN']);
    // Unscoped would hand over all of the owner's permissions: refused as well.
    expect((await g.call(CreateApplicationKeyDocument, { name: 'unscoped' }, limitedAdmin.credentials)).code).toBe('FORBIDDEN');
    // Within what it holds, it may.
    const { result: within, events } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'narrow', scopes: ['user_app_keys'] }, limitedAdmin.credentials));
    expect(within.data?.createApplicationKey.applicationKey.scopes).toEqual(['user_app_keys']);
    const narrow = within.data!.createApplicationKey;
    expect(events).toEqual([
      applicationKeyCreated({
        principalId: limitedAdmin.id,
        orgId: home().orgId,
        keyId: narrow.applicationKey.id,
        name: 'narrow',
        secret: narrow.secret,
        scopes: ['user_app_keys'],
        createdBy: limitedAdmin.id,
      }),
    ]);
    expectNoSecretIn(events, narrow.secret);
    // Re-scoping follows the same rule.
    const keyId = within.data!.createApplicationKey.applicationKey.id;
    expect((await g.call(ScopeApplicationKeyDocument, { id: keyId, scopes: ['audit_logs_read'] }, limitedAdmin.credentials)).code).toBe('FORBIDDEN');
    expect((await g.call(ScopeApplicationKeyDocument, { id: keyId, scopes: null }, limitedAdmin.credentials)).code).toBe('FORBIDDEN');
  });

  it('R10: when a role changes, the scopes written on its keys stay, and effective permissions follow', async () => {
    const user = await member(g, 'STANDARD', { scopes: ['api_keys_read', 'api_keys_write'] });
    const before = await g.call(ViewerDocument, {}, user.credentials);
    expect(before.data?.viewer.permissions).toEqual(['api_keys_read']);

    const { orgId } = home();
    // The role change is one event: nothing is appended about the user's keys.
    const promotion = await g.appendedBy(() => g.call(ChangeRoleDocument, { principalId: user.id, role: 'ADMIN' }, g.admin));
    expect(promotion.result.data?.changeRole.principal.role).toBe('ADMIN');
    expect(promotion.events).toEqual([principalRoleChanged({ principalId: user.id, orgId, role: 'ADMIN', previousRole: 'STANDARD' })]);
    const promoted = await g.call(ViewerDocument, {}, user.credentials);
    expect(promoted.data?.viewer.applicationKey.scopes).toEqual(['api_keys_read', 'api_keys_write']);
    expect(new Set(promoted.data?.viewer.permissions)).toEqual(new Set(['api_keys_read', 'api_keys_write']));
    expect((await apiKey(`by-promoted-${user.keyId.slice(-6)}`, user.credentials)).apiKey.createdBy?.id).toBe(user.id);

    const demotion = await g.appendedBy(() => g.call(ChangeRoleDocument, { principalId: user.id, role: 'READ_ONLY' }, g.admin));
    expect(demotion.events).toEqual([principalRoleChanged({ principalId: user.id, orgId, role: 'READ_ONLY', previousRole: 'ADMIN' })]);
    const demoted = await g.call(ViewerDocument, {}, user.credentials);
    expect(demoted.data?.viewer.applicationKey.scopes).toEqual(['api_keys_read', 'api_keys_write']);
    expect(demoted.data?.viewer.permissions).toEqual(['api_keys_read']);
  });
});

describe('expiry', () => {
  it('R19: an application key past its expiresAt fails authentication and reads as EXPIRED', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const { orgId, adminId } = home();
    const { result: created, events } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'expiring', expiresAt }));
    const key = created.data!.createApplicationKey;
    expect(key.applicationKey).toMatchObject({ status: 'ACTIVE', expiresAt });
    expect(events).toEqual([
      applicationKeyCreated({ principalId: adminId, orgId, keyId: key.applicationKey.id, name: 'expiring', secret: key.secret, scopes: null, expiresAt, createdBy: adminId }),
    ]);
    expectNoSecretIn(events, key.secret);
    const credentials = { apiKey: g.admin.apiKey, applicationKey: key.secret };
    expect((await g.call(ViewerDocument, {}, credentials)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 50));
    const refused = await g.call(ViewerDocument, {}, credentials);
    expect([refused.status, refused.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(refused.errors?.[0]?.message).toMatch(/expired/);
    const listed = await g.call(ApplicationKeysDocument, { filter: { status: 'EXPIRED' } });
    expect(listed.data?.applicationKeys.edges.map((e) => e.node.id)).toEqual([key.applicationKey.id]);
  });
});

describe('client tokens', () => {
  it('R11: client tokens are unique by name, list allowed origins, and never open the GraphQL API', async () => {
    const { orgId, adminId } = home();
    const { result: created, events } = await g.appendedBy(() =>
      g.call(CreateClientTokenDocument, { name: 'Storefront RUM', allowedOrigins: ['https://shop.example.com', 'http://localhost:3000'] }, g.admin),
    );
    const token = created.data!.createClientToken;
    expect(token.secret).toMatch(/^klk_pub_/);
    expect(token.clientToken.allowedOrigins).toEqual(['https://shop.example.com', 'http://localhost:3000']);
    expect(events).toEqual([
      clientTokenCreated({
        orgId,
        tokenId: token.clientToken.id,
        name: 'Storefront RUM',
        secret: token.secret,
        allowedOrigins: ['https://shop.example.com', 'http://localhost:3000'],
        createdBy: adminId,
      }),
    ]);
    expectNoSecretIn(events, token.secret);
    expect((await g.call(CreateClientTokenDocument, { name: ' storefront rum ' }, g.admin)).code).toBe('NAME_TAKEN');
    expect((await g.call(CreateClientTokenDocument, { name: 'bad origin', allowedOrigins: ['https://shop.example.com/path'] }, g.admin)).code).toBe('BAD_USER_INPUT');

    for (const headers of <Record<string, string>[]>[
      { 'x-api-key': token.secret, 'x-application-key': g.admin.applicationKey },
      { 'x-api-key': g.admin.apiKey, 'x-application-key': token.secret },
      { 'x-api-key': token.secret },
    ]) {
      const refused = await g.call(ViewerDocument, {}, headers);
      expect([refused.status, refused.code]).toEqual([401, 'UNAUTHENTICATED']);
      expect(refused.errors?.[0]?.message).toMatch(/client tokens/);
    }
    // Renaming and revoking work like other keys; the token list shows it.
    const renamed = await g.appendedBy(() => g.call(RenameClientTokenDocument, { id: token.clientToken.id, name: 'Storefront' }, g.admin));
    expect(renamed.result.data?.renameClientToken.clientToken.name).toBe('Storefront');
    expect(renamed.events).toEqual([clientTokenRenamed({ orgId, tokenId: token.clientToken.id, name: 'Storefront', previousName: 'Storefront RUM' })]);
    const revoked = await g.appendedBy(() => g.call(RevokeClientTokenDocument, { id: token.clientToken.id }, g.admin));
    expect(revoked.result.data?.revokeClientToken.clientToken.status).toBe('REVOKED');
    expect(revoked.events).toEqual([clientTokenRevoked({ orgId, tokenId: token.clientToken.id, reason: 'REVOKED' })]);
    const listed = await g.call(ClientTokensDocument, { filter: { nameContains: 'storefront' } }, g.admin);
    expect(listed.data?.clientTokens.edges.map((e) => [e.node.name, e.node.status])).toEqual([['Storefront', 'REVOKED']]);
  });

  it('R3: client tokens are named like other keys: a rename is trimmed, a taken name refused, a revoked token frees its name', async () => {
    const { org, admin } = await g.newOrg();
    const orgId = org.organization.id;
    const create = async (name: string) => {
      const { result, events } = await g.appendedBy(() => g.call(CreateClientTokenDocument, { name }, admin));
      expect(result.errors).toBeUndefined();
      const issued = result.data!.createClientToken;
      expect(events).toEqual([
        clientTokenCreated({ orgId, tokenId: issued.clientToken.id, name: name.trim(), secret: issued.secret, allowedOrigins: [], createdBy: org.admin.id }),
      ]);
      expectNoSecretIn(events, issued.secret);
      return issued.clientToken;
    };
    const rum = await create('RUM');
    const logs = await create(' Browser logs ');
    expect(logs.name).toBe('Browser logs');
    const clash = await expectNoNewEvent(g, () => g.call(RenameClientTokenDocument, { id: logs.id, name: ' rum ' }, admin));
    expect([clash.code, clash.errors?.[0]?.extensions?.field]).toEqual(['NAME_TAKEN', 'name']);

    const renamed = await g.appendedBy(() => g.call(RenameClientTokenDocument, { id: logs.id, name: '  Browser logs (EU)  ' }, admin));
    expect(renamed.result.data?.renameClientToken.clientToken).toMatchObject({ id: logs.id, name: 'Browser logs (EU)', status: 'ACTIVE' });
    expect(renamed.events).toEqual([clientTokenRenamed({ orgId, tokenId: logs.id, name: 'Browser logs (EU)', previousName: 'Browser logs' })]);

    const revoked = await g.appendedBy(() => g.call(RevokeClientTokenDocument, { id: rum.id }, admin));
    expect(revoked.events).toEqual([clientTokenRevoked({ orgId, tokenId: rum.id })]);
    const reused = await g.appendedBy(() => g.call(RenameClientTokenDocument, { id: logs.id, name: 'rum' }, admin));
    expect(reused.result.data?.renameClientToken.clientToken.name).toBe('rum');
    expect(reused.events).toEqual([clientTokenRenamed({ orgId, tokenId: logs.id, name: 'rum', previousName: 'Browser logs (EU)' })]);
    // A revoked token cannot be renamed.
    expect((await expectNoNewEvent(g, () => g.call(RenameClientTokenDocument, { id: rum.id, name: 'again' }, admin))).code).toBe('ALREADY_REVOKED');
  });

  it('R12: an API key is refused from a browser page of another origin', async () => {
    const refused = await g.call(ViewerDocument, {}, { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey, origin: 'https://evil.example.com' });
    expect([refused.status, refused.code]).toEqual([403, 'API_KEY_IN_BROWSER']);
    // GraphiQL, served by the gateway itself, is same-origin and works.
    const graphiql = await g.call(ViewerDocument, {}, { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey, origin: g.url });
    expect(graphiql.status).toBe(200);
  });
});

describe('principals', () => {
  it('R13: disabling a principal revokes its application keys in the same append; what it created stays valid', async () => {
    const { orgId } = home();
    const admin2 = await member(g, 'ADMIN');
    const { result: second, events: secondEvents } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'second key' }, admin2.credentials));
    const secondKey = second.data!.createApplicationKey;
    expect(secondEvents).toEqual([
      applicationKeyCreated({ principalId: admin2.id, orgId, keyId: secondKey.applicationKey.id, name: 'second key', secret: secondKey.secret, createdBy: admin2.id }),
    ]);
    const madeApiKey = await apiKey('made by admin2', admin2.credentials);
    const { result: token, events: tokenEvents } = await g.appendedBy(() => g.call(CreateClientTokenDocument, { name: 'made by admin2' }, admin2.credentials));
    const madeToken = token.data!.createClientToken;
    expect(tokenEvents).toEqual([clientTokenCreated({ orgId, tokenId: madeToken.clientToken.id, name: 'made by admin2', secret: madeToken.secret, createdBy: admin2.id })]);
    const before = await g.eventCount();

    const { result: disabled, events } = await g.appendedBy(() => g.call(DisablePrincipalDocument, { principalId: admin2.id }, g.admin));
    expect(disabled.data?.disablePrincipal.principal.status).toBe('DISABLED');
    // One PrincipalDisabled and one ApplicationKeyOwnerDisabled per key, appended together.
    expect(await g.eventCount()).toBe(before + 3);
    // All in the principal's stream: its two keys, and nothing about the API key or the client token it made.
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual(principalDisabled({ principalId: admin2.id, orgId }));
    expect(events.slice(1)).toEqual(
      expect.arrayContaining([
        applicationKeyOwnerDisabled({ principalId: admin2.id, orgId, keyId: admin2.keyId }),
        applicationKeyOwnerDisabled({ principalId: admin2.id, orgId, keyId: secondKey.applicationKey.id }),
      ]),
    );
    const uuid = Buffer.from(admin2.id, 'base64').toString().split(':')[1]!;
    const stream = await g.app.store.readStream(`principal-${uuid}`);
    const last = stream.slice(-3);
    expect(last.map((e) => e.type)).toEqual(['PrincipalDisabled', 'ApplicationKeyOwnerDisabled', 'ApplicationKeyOwnerDisabled']);
    expect(new Set(last.map((e) => e.metadata.requestId)).size).toBe(1);

    const keys = await g.call(ApplicationKeysDocument, { filter: { ownerId: admin2.id } }, g.admin);
    expect(keys.data?.applicationKeys.edges.map((e) => [e.node.status, e.node.revocationReason])).toEqual([
      ['REVOKED', 'OWNER_DISABLED'],
      ['REVOKED', 'OWNER_DISABLED'],
    ]);
    void second;
    // The API key it created still authenticates, with an active principal's application key.
    const stillValid = await g.call(ViewerDocument, {}, { apiKey: madeApiKey.secret, applicationKey: g.admin.applicationKey });
    expect(stillValid.status).toBe(200);
    const tokens = await g.call(ClientTokensDocument, { filter: { createdById: admin2.id } }, g.admin);
    expect(tokens.data?.clientTokens.edges.map((e) => [e.node.id, e.node.status])).toEqual([[madeToken.clientToken.id, 'ACTIVE']]);
  });

  it('R14: a disabled principal cannot act, and disabling is permanent', async () => {
    const user = await member(g, 'STANDARD');
    expect((await g.call(ViewerDocument, {}, user.credentials)).status).toBe(200);
    const { orgId } = home();
    const disabled = await g.appendedBy(() => g.call(DisablePrincipalDocument, { principalId: user.id }, g.admin));
    expect(disabled.result.data?.disablePrincipal.principal.status).toBe('DISABLED');
    expect(disabled.events).toEqual([principalDisabled({ principalId: user.id, orgId }), applicationKeyOwnerDisabled({ principalId: user.id, orgId, keyId: user.keyId })]);
    const refused = await g.call(ViewerDocument, {}, user.credentials);
    expect([refused.status, refused.code]).toEqual([401, 'UNAUTHENTICATED']);

    const attempts: (() => Promise<{ code: string | undefined }>)[] = [
      () => g.call(DisablePrincipalDocument, { principalId: user.id }, g.admin),
      () => g.call(ChangeRoleDocument, { principalId: user.id, role: 'ADMIN' }, g.admin),
      () => g.call(CreateApplicationKeyDocument, { name: 'revive', ownerId: user.id }, g.admin),
    ];
    for (const attempt of attempts) {
      expect((await expectNoNewEvent(g, attempt)).code).toBe('PRINCIPAL_DISABLED');
    }
  });

  it("R15: no operation changes a key's owner or creator", async () => {
    const mutations = await fetch(`${g.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey },
      body: JSON.stringify({ query: '{ __type(name: "Mutation") { fields { name args { name } } } }' }),
    }).then((r) => r.json() as Promise<{ data: { __type: { fields: { name: string; args: { name: string }[] }[] } } }>);
    const takingAnOwner = mutations.data.__type.fields.filter((f) => f.args.some((a) => /owner|creator|createdBy/i.test(a.name))).map((f) => f.name);
    expect(takingAnOwner).toEqual(['createApplicationKey']);

    const user = await member(g, 'STANDARD');
    const { orgId } = home();
    // Each change is one event in the owner's stream, and none names another owner or a creator.
    const renamed = await g.appendedBy(() => g.call(RenameApplicationKeyDocument, { id: user.keyId, name: 'renamed' }, g.admin));
    expect(renamed.events).toEqual([applicationKeyRenamed({ principalId: user.id, orgId, keyId: user.keyId, name: 'renamed', previousName: user.keyName })]);
    const scoped = await g.appendedBy(() => g.call(ScopeApplicationKeyDocument, { id: user.keyId, scopes: ['dashboards_read'] }, g.admin));
    expect(scoped.result.data?.scopeApplicationKey.applicationKey.scopes).toEqual(['dashboards_read']);
    expect(scoped.events).toEqual([applicationKeyScoped({ principalId: user.id, orgId, keyId: user.keyId, scopes: ['dashboards_read'], previousScopes: null })]);
    const promoted = await g.appendedBy(() => g.call(ChangeRoleDocument, { principalId: user.id, role: 'ADMIN' }, g.admin));
    expect(promoted.events).toEqual([principalRoleChanged({ principalId: user.id, orgId, role: 'ADMIN', previousRole: 'STANDARD' })]);
    const key = await g.call(NodeDocument, { id: user.keyId }, g.admin);
    const listed = await g.call(ApplicationKeysDocument, { filter: { ownerId: user.id } }, g.admin);
    expect(key.data?.node?.__typename).toBe('ApplicationKey');
    expect(listed.data?.applicationKeys.edges.map((e) => [e.node.id, e.node.owner.id, e.node.createdBy?.name])).toEqual([[user.keyId, user.id, 'Ada Admin']]);
  });

  it('R16: service accounts are created by holders of service_account_write and own application keys like users', async () => {
    const standard = await member(g, 'STANDARD');
    const refused = await expectNoNewEvent(g, () => g.call(CreateServiceAccountDocument, { name: 'ci-bot', role: 'READ_ONLY' }, standard.credentials));
    expect([refused.status, refused.code]).toEqual([403, 'FORBIDDEN']);

    const { orgId, adminId } = home();
    const { result: created, events } = await g.appendedBy(() => g.call(CreateServiceAccountDocument, { name: 'ci-bot', role: 'STANDARD' }, g.admin));
    const robot = created.data!.createServiceAccount.principal;
    expect(robot.__typename).toBe('ServiceAccount');
    expect(events).toEqual([serviceAccountCreated({ principalId: robot.id, orgId, name: 'ci-bot', role: 'STANDARD' })]);
    const { result: key, events: keyEvents } = await g.appendedBy(() =>
      g.call(CreateApplicationKeyDocument, { name: 'ci', ownerId: robot.id, scopes: ['dashboards_read'] }, g.admin),
    );
    const robotKey = key.data!.createApplicationKey;
    expect(keyEvents).toEqual([
      applicationKeyCreated({
        principalId: robot.id,
        orgId,
        keyId: robotKey.applicationKey.id,
        name: 'ci',
        secret: robotKey.secret,
        scopes: ['dashboards_read'],
        createdBy: adminId,
      }),
    ]);
    expectNoSecretIn(keyEvents, robotKey.secret);
    const viewer = await g.call(ViewerDocument, {}, { apiKey: g.admin.apiKey, applicationKey: key.data!.createApplicationKey.secret });
    expect(viewer.data?.viewer.principal).toMatchObject({ __typename: 'ServiceAccount', id: robot.id, name: 'ci-bot' });
    expect(viewer.data?.viewer.permissions).toEqual(['dashboards_read']);
    const listed = await g.call(PrincipalsDocument, { filter: { kind: 'SERVICE_ACCOUNT', nameContains: 'CI-BOT' } }, g.admin);
    expect(listed.data?.principals.edges.map((e) => e.node.id)).toContain(robot.id);
  });
});

describe('isolation and errors', () => {
  it("R20: nothing of one organization is visible or changeable with another's credentials; a foreign id is NOT_FOUND", async () => {
    const other = await g.newOrg();
    const mine = await member(g, 'STANDARD');
    const myApiKey = await apiKey('only mine');
    const { result: tokenAnswer, events: tokenEvents } = await g.appendedBy(() => g.call(CreateClientTokenDocument, { name: 'only mine' }, g.admin));
    const myToken = tokenAnswer.data!.createClientToken.clientToken;
    expect(tokenEvents).toEqual([
      clientTokenCreated({ orgId: home().orgId, tokenId: myToken.id, name: 'only mine', secret: tokenAnswer.data!.createClientToken.secret, createdBy: home().adminId }),
    ]);
    const theirs = other.admin;

    const attempts: [string, () => Promise<{ code: string | undefined; status: number }>][] = [
      ['renameApiKey', () => g.call(RenameApiKeyDocument, { id: myApiKey.apiKey.id, name: 'stolen' }, theirs)],
      ['revokeApiKey', () => g.call(RevokeApiKeyDocument, { id: myApiKey.apiKey.id }, theirs)],
      ['renameApplicationKey', () => g.call(RenameApplicationKeyDocument, { id: mine.keyId, name: 'stolen' }, theirs)],
      ['scopeApplicationKey', () => g.call(ScopeApplicationKeyDocument, { id: mine.keyId, scopes: ['dashboards_read'] }, theirs)],
      ['revokeApplicationKey', () => g.call(RevokeApplicationKeyDocument, { id: mine.keyId }, theirs)],
      ['createApplicationKey for a foreign owner', () => g.call(CreateApplicationKeyDocument, { name: 'x', ownerId: mine.id }, theirs)],
      ['renameClientToken', () => g.call(RenameClientTokenDocument, { id: myToken.id, name: 'stolen' }, theirs)],
      ['revokeClientToken', () => g.call(RevokeClientTokenDocument, { id: myToken.id }, theirs)],
      ['changeRole', () => g.call(ChangeRoleDocument, { principalId: mine.id, role: 'READ_ONLY' }, theirs)],
      ['disablePrincipal', () => g.call(DisablePrincipalDocument, { principalId: mine.id }, theirs)],
      ['node (API key)', () => g.call(NodeDocument, { id: myApiKey.apiKey.id }, theirs)],
      ['node (user)', () => g.call(NodeDocument, { id: mine.id }, theirs)],
      ['node (organization)', () => g.call(NodeDocument, { id: encodeGlobalID('Organization', g.org.organization.id) }, theirs)],
    ];
    for (const [name, attempt] of attempts) {
      const answer = await expectNoNewEvent(g, attempt);
      expect([answer.status, answer.code], name).toEqual([200, 'NOT_FOUND']);
    }
    // Their lists hold nothing of ours.
    const theirKeys = await g.call(ApiKeysDocument, {}, theirs);
    expect(theirKeys.data?.apiKeys.edges.map((e) => e.node.id)).not.toContain(myApiKey.apiKey.id);
    const theirPrincipals = await g.call(PrincipalsDocument, {}, theirs);
    expect(theirPrincipals.data?.principals.totalCount).toBe(1);
    // Our API key with their application key is not a pair.
    const mixed = await g.call(ViewerDocument, {}, { apiKey: g.admin.apiKey, applicationKey: theirs.applicationKey });
    expect([mixed.status, mixed.code]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it('R21: missing or unknown credentials are 401, a missing permission 403, bad input BAD_USER_INPUT with its field', async () => {
    const none = await g.call(ViewerDocument, {}, null);
    expect([none.status, none.code]).toEqual([401, 'UNAUTHENTICATED']);
    const unknown = await g.call(ViewerDocument, {}, { apiKey: 'klk_api_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', applicationKey: g.admin.applicationKey });
    expect([unknown.status, unknown.code]).toEqual([401, 'UNAUTHENTICATED']);

    const reader = await member(g, 'READ_ONLY');
    const forbidden = await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: 'reader key' }, reader.credentials));
    expect([forbidden.status, forbidden.code]).toEqual([403, 'FORBIDDEN']);
    expect(forbidden.data).toBeNull();

    const badInput = await expectNoNewEvent(g, () => g.call(CreateClientTokenDocument, { name: 'origins', allowedOrigins: ['not a url'] }, g.admin));
    expect(badInput.code).toBe('BAD_USER_INPUT');
    expect(badInput.errors?.[0]?.extensions?.field).toBe('allowedOrigins');
    expect(badInput.errors?.[0]?.message).toMatch(/is not an origin/);
    const badPage = await g.call(ApiKeysDocument, { first: 1000 }, g.admin);
    expect([badPage.code, badPage.errors?.[0]?.extensions?.field]).toEqual(['BAD_USER_INPUT', 'first']);
  });

  it('lists the scope catalogue, the same one the checks use', async () => {
    const scopes = await g.call(ScopesDocument, {}, g.admin);
    const byName = new Map(scopes.data?.scopes.map((s) => [s.name, s.roles]));
    expect(byName.size).toBe(16);
    expect(byName.get('api_keys_delete')).toEqual(['ADMIN']);
    expect(byName.get('user_app_keys')).toEqual(['ADMIN', 'STANDARD']);
    expect(byName.get('dashboards_read')).toEqual(['ADMIN', 'STANDARD', 'READ_ONLY']);
  });
});
