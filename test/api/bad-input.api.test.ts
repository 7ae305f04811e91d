// Bad input and bad credentials: each gets its code, and no new event in the store.

import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChangeRoleDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  CreateServiceAccountDocument,
  DisablePrincipalDocument,
  InviteUserDocument,
  NodeDocument,
  RenameApiKeyDocument,
  RenameApplicationKeyDocument,
  RenameClientTokenDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  ScopeApplicationKeyDocument,
  ViewerDocument,
} from '../gql/graphql.js';
import { startGateway, type Answer, type TestGateway } from '../support/gateway.js';
import { apiKeyRevoked, applicationKeyCreated, applicationKeyRevoked, clientTokenCreated, expectNoSecretIn } from '../support/events.js';
import { expectNoNewEvent, member, type Member } from '../support/members.js';

let g: TestGateway;
let user: Member;
let apiKeyId: string;
let tokenId: string;

beforeAll(async () => {
  g = await startGateway();
  user = await member(g, 'STANDARD');
  apiKeyId = (await g.call(CreateApiKeyDocument, { name: 'Existing' }, g.admin)).data!.createApiKey.apiKey.id;
  tokenId = (await g.call(CreateClientTokenDocument, { name: 'Existing' }, g.admin)).data!.createClientToken.clientToken.id;
});
afterAll(async () => {
  await g.close();
});

async function refused(attempt: () => Promise<Answer<unknown>>, code: string, field?: string): Promise<Answer<unknown>> {
  const answer = await expectNoNewEvent(g, attempt);
  expect(answer.code, JSON.stringify(answer.errors)).toBe(code);
  if (field) expect(answer.errors?.[0]?.extensions?.field).toBe(field);
  // Nothing answered: no data, or a nullable root field (node) left null.
  expect(Object.values((answer.data ?? {}) as Record<string, unknown>).every((value) => value === null)).toBe(true);
  return answer;
}

describe('names', () => {
  const blank = ['', ' ', '   \t  ', '\n'];
  const tooLong = 'k'.repeat(201);

  it('R3/R5: blank names are BLANK_NAME for every kind of key and principal', async () => {
    for (const name of blank) {
      await refused(() => g.call(CreateApiKeyDocument, { name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(CreateApplicationKeyDocument, { name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(CreateClientTokenDocument, { name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(RenameApiKeyDocument, { id: apiKeyId, name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(RenameApplicationKeyDocument, { id: user.keyId, name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(RenameClientTokenDocument, { id: tokenId, name }), 'BLANK_NAME', 'name');
      await refused(() => g.call(CreateServiceAccountDocument, { name, role: 'STANDARD' }), 'BLANK_NAME', 'name');
    }
  });

  it('R3: names over 200 characters (after trimming) are BAD_USER_INPUT', async () => {
    await refused(() => g.call(CreateApiKeyDocument, { name: tooLong }), 'BAD_USER_INPUT', 'name');
    await refused(() => g.call(CreateApplicationKeyDocument, { name: tooLong }), 'BAD_USER_INPUT', 'name');
    await refused(() => g.call(CreateClientTokenDocument, { name: tooLong }), 'BAD_USER_INPUT', 'name');
    await refused(() => g.call(RenameApiKeyDocument, { id: apiKeyId, name: tooLong }), 'BAD_USER_INPUT', 'name');
    // 200 characters with surrounding spaces is fine: the spaces are trimmed, in the event too.
    const { result: fits, events } = await g.appendedBy(() => g.call(CreateClientTokenDocument, { name: `  ${'t'.repeat(200)}  ` }));
    expect(fits.data?.createClientToken.clientToken.name).toHaveLength(200);
    const token = fits.data!.createClientToken;
    expect(events).toEqual([
      clientTokenCreated({ orgId: g.org.organization.id, tokenId: token.clientToken.id, name: 't'.repeat(200), secret: token.secret, createdBy: g.org.admin.id }),
    ]);
    expectNoSecretIn(events, token.secret);
    await refused(() => g.call(CreateApiKeyDocument, { name: 'bell\u0007' }), 'BAD_USER_INPUT', 'name');
  });

  it('R3: names differing only in case or surrounding spaces are the same name', async () => {
    for (const variant of ['existing', 'EXISTING', ' Existing', 'Existing  ', '\tEXISTING\n']) {
      await refused(() => g.call(CreateApiKeyDocument, { name: variant }), 'NAME_TAKEN', 'name');
      await refused(() => g.call(CreateClientTokenDocument, { name: variant }), 'NAME_TAKEN', 'name');
    }
    const { result: own, events } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: 'Laptop' }, user.credentials));
    expect(own.errors).toBeUndefined();
    const laptop = own.data!.createApplicationKey;
    expect(events).toEqual([
      applicationKeyCreated({ principalId: user.id, orgId: g.org.organization.id, keyId: laptop.applicationKey.id, name: 'Laptop', secret: laptop.secret, createdBy: user.id }),
    ]);
    await refused(() => g.call(CreateApplicationKeyDocument, { name: ' LAPTOP ' }, user.credentials), 'NAME_TAKEN', 'name');
  });
});

describe('scopes', () => {
  it('R7: unknown, wrong-case, duplicate and empty scope lists are INVALID_SCOPE', async () => {
    const lists = [['no_such_scope'], ['Api_Keys_Read'], ['API_KEYS_READ'], ['api_keys_read', 'api_keys_read'], [], ['api_keys_read', ''], [' api_keys_read']];
    for (const scopes of lists) {
      await refused(() => g.call(CreateApplicationKeyDocument, { name: 'scoped', scopes }), 'INVALID_SCOPE', 'scopes');
      await refused(() => g.call(ScopeApplicationKeyDocument, { id: user.keyId, scopes }), 'INVALID_SCOPE', 'scopes');
    }
  });

  it('refuses an expiry in the past, and roles that do not exist', async () => {
    await refused(() => g.call(CreateApplicationKeyDocument, { name: 'old', expiresAt: '2001-01-01T00:00:00Z' }), 'BAD_USER_INPUT', 'expiresAt');
    const badRole = await expectNoNewEvent(g, () => g.call(InviteUserDocument, { email: 'x@example.test', role: 'SUPERUSER' as 'ADMIN' }));
    expect(badRole.status).toBe(400);
    await refused(() => g.call(InviteUserDocument, { email: 'not-an-email', role: 'STANDARD' }), 'BAD_USER_INPUT', 'email');
  });

  it('refuses inviting an email twice, whatever its case', async () => {
    await g.call(InviteUserDocument, { email: 'twice@example.test', role: 'READ_ONLY' });
    await refused(() => g.call(InviteUserDocument, { email: ' TWICE@example.test ', role: 'READ_ONLY' }), 'EMAIL_TAKEN', 'email');
  });
});

describe('ids', () => {
  const malformed = ['', 'nope', '12345', 'QXBpS2V5OmJhZA==' /* ApiKey:bad */, encodeGlobalID('ApiKey', 'not-a-uuid')];
  const unknownUuid = '00000000-0000-4000-8000-000000000000';

  it('R20: malformed and unknown ids are NOT_FOUND', async () => {
    for (const id of [...malformed, encodeGlobalID('ApiKey', unknownUuid)]) {
      await refused(() => g.call(RenameApiKeyDocument, { id, name: 'x' }), 'NOT_FOUND');
      await refused(() => g.call(RevokeApiKeyDocument, { id }), 'NOT_FOUND');
      await refused(() => g.call(NodeDocument, { id }), 'NOT_FOUND');
    }
    for (const id of [...malformed, encodeGlobalID('ApplicationKey', unknownUuid)]) {
      await refused(() => g.call(RevokeApplicationKeyDocument, { id }), 'NOT_FOUND');
      await refused(() => g.call(ScopeApplicationKeyDocument, { id, scopes: ['dashboards_read'] }), 'NOT_FOUND');
    }
    for (const principalId of [...malformed, encodeGlobalID('User', unknownUuid)]) {
      await refused(() => g.call(ChangeRoleDocument, { principalId, role: 'ADMIN' }), 'NOT_FOUND');
      await refused(() => g.call(DisablePrincipalDocument, { principalId }), 'NOT_FOUND');
      await refused(() => g.call(CreateApplicationKeyDocument, { name: 'x', ownerId: principalId }), 'NOT_FOUND');
    }
  });

  it('R20: an id of another type is NOT_FOUND, never another object', async () => {
    await refused(() => g.call(RevokeApiKeyDocument, { id: user.keyId }), 'NOT_FOUND');
    await refused(() => g.call(RevokeApplicationKeyDocument, { id: apiKeyId }), 'NOT_FOUND');
    await refused(() => g.call(DisablePrincipalDocument, { principalId: apiKeyId }), 'NOT_FOUND');
  });

  it('R20: ids of another organization are NOT_FOUND', async () => {
    const other = await g.newOrg();
    const theirKey = other.org.apiKey.credential.id;
    await refused(() => g.call(RevokeApiKeyDocument, { id: encodeGlobalID('ApiKey', theirKey) }), 'NOT_FOUND');
    await refused(() => g.call(DisablePrincipalDocument, { principalId: encodeGlobalID('User', other.org.admin.id) }), 'NOT_FOUND');
    await refused(() => g.call(RevokeApplicationKeyDocument, { id: encodeGlobalID('ApplicationKey', other.org.applicationKey.credential.id) }), 'NOT_FOUND');
  });
});

describe('credentials', () => {
  const garbage = ['hello', 'klk_api_', 'klk_api_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Bearer xyz', 'klk_app_' + 'z'.repeat(38)];

  async function unauthenticated(headers: Record<string, string> | null, pattern?: RegExp): Promise<void> {
    const answer = await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: `attempt-${Math.random()}` }, headers));
    expect([answer.status, answer.code], JSON.stringify(headers)).toEqual([401, 'UNAUTHENTICATED']);
    if (pattern) expect(answer.errors?.[0]?.message).toMatch(pattern);
  }

  it('R21: missing credentials', async () => {
    await unauthenticated(null, /no credentials/);
    await unauthenticated({ 'x-api-key': '', 'x-application-key': '' }, /no credentials/);
  });

  it('R4/R21: partial credentials: an API key alone, or an application key alone', async () => {
    await unauthenticated({ 'x-api-key': g.admin.apiKey }, /application key/);
    await unauthenticated({ 'dd-api-key': g.admin.apiKey }, /application key/);
    await unauthenticated({ 'x-application-key': g.admin.applicationKey }, /needs an API key/);
  });

  it('R21: garbage, swapped and mistyped credentials', async () => {
    for (const value of garbage) {
      await unauthenticated({ 'x-api-key': value, 'x-application-key': g.admin.applicationKey });
      await unauthenticated({ 'x-api-key': g.admin.apiKey, 'x-application-key': value });
    }
    await unauthenticated({ 'x-api-key': g.admin.applicationKey, 'x-application-key': g.admin.apiKey });
    // One character off: the checksum refuses it without a lookup.
    const typo = g.admin.apiKey.slice(0, -1) + (g.admin.apiKey.endsWith('A') ? 'B' : 'A');
    await unauthenticated({ 'x-api-key': typo, 'x-application-key': g.admin.applicationKey }, /not hold a valid API key/);
  });

  it('R17/R21: revoked credentials', async () => {
    const spare = await g.call(CreateApiKeyDocument, { name: 'to revoke' });
    const revokedApiKey = spare.data!.createApiKey;
    const revoking = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: revokedApiKey.apiKey.id }));
    expect(revoking.events).toEqual([apiKeyRevoked({ orgId: g.org.organization.id, keyId: revokedApiKey.apiKey.id, reason: 'REVOKED' })]);
    await unauthenticated({ 'x-api-key': revokedApiKey.secret, 'x-application-key': g.admin.applicationKey }, /unknown or revoked/);

    const doomed = await member(g, 'STANDARD');
    const revokingKey = await g.appendedBy(() => g.call(RevokeApplicationKeyDocument, { id: doomed.keyId }));
    expect(revokingKey.events).toEqual([applicationKeyRevoked({ principalId: doomed.id, orgId: g.org.organization.id, keyId: doomed.keyId, reason: 'REVOKED' })]);
    await unauthenticated({ 'x-api-key': doomed.credentials.apiKey, 'x-application-key': doomed.credentials.applicationKey }, /unknown or revoked/);
  });

  it('R20/R21: keys of two organizations are not a pair', async () => {
    const other = await g.newOrg();
    await unauthenticated({ 'x-api-key': other.admin.apiKey, 'x-application-key': g.admin.applicationKey }, /different organizations/);
  });

  it('R11: a client token never opens the API', async () => {
    const token = (await g.call(CreateClientTokenDocument, { name: 'browser' })).data!.createClientToken.secret;
    await unauthenticated({ 'x-api-key': token, 'x-application-key': g.admin.applicationKey }, /client tokens/);
    await unauthenticated({ 'x-api-key': token }, /client tokens/);
  });

  it('never writes a presented secret to the log, known or not', async () => {
    const unknown = 'klk_api_' + 'Q'.repeat(38);
    await g.call(ViewerDocument, {}, { 'x-api-key': unknown, 'x-application-key': g.admin.applicationKey });
    await g.call(ViewerDocument, {}, { 'x-api-key': g.admin.apiKey, 'x-application-key': 'klk_app_' + 'W'.repeat(38) });
    const log = g.logs.join('');
    expect(log.length).toBeGreaterThan(0);
    for (const secret of [unknown, 'klk_app_' + 'W'.repeat(38), g.admin.apiKey, g.admin.applicationKey]) expect(log).not.toContain(secret);
  });
});
