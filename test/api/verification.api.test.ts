// Verification for other services: `verifyCredentials` and `GET /api/v1/validate`, answered from
// the CredentialIndex (R4, R11, R12, R14, R17), each kind of credential against each usage.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  DisablePrincipalDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  RevokeClientTokenDocument,
  VerifyCredentialsDocument,
  ViewerDocument,
  type CredentialUsage,
  type VerifyCredentialsQueryVariables,
} from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { member } from '../support/members.js';

let g: TestGateway;

beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

type Kind = 'API_KEY' | 'API_KEY+APPLICATION_KEY' | 'CLIENT_TOKEN';
type State = 'valid' | 'revoked' | 'disabled owner' | 'wrong origin' | 'missing scope';
const USAGES: CredentialUsage[] = ['AGENT_INTAKE', 'BROWSER_INTAKE', 'API'];
const ORIGIN = 'https://shop.example.com';

/** What the spec says each case gives: valid or not (with the code), and whether the required scope is granted. */
function expected(kind: Kind, usage: CredentialUsage, state: State): { valid: boolean; code: string | null; scopesGranted: boolean } {
  const refuse = (code: string) => ({ valid: false, code, scopesGranted: false });
  if (kind === 'CLIENT_TOKEN') {
    // R11: client tokens serve browser intake only, from an allowed origin.
    if (usage !== 'BROWSER_INTAKE') return refuse('CLIENT_TOKEN_NOT_ALLOWED');
    if (state === 'revoked') return refuse('REVOKED');
    if (state === 'wrong origin') return refuse('ORIGIN_NOT_ALLOWED');
    // Client tokens carry no permissions: a required scope is never granted.
    return { valid: true, code: null, scopesGranted: false };
  }
  // R12: an API key is refused for browser intake, and whenever a browser Origin comes with it.
  if (usage === 'BROWSER_INTAKE' || state === 'wrong origin') return refuse('API_KEY_IN_BROWSER');
  if (state === 'revoked') return refuse('REVOKED');
  if (kind === 'API_KEY') {
    // R4: an API key alone serves agent intake, not the API.
    if (usage === 'API') return refuse('MISSING_CREDENTIALS');
    return { valid: true, code: null, scopesGranted: false };
  }
  if (state === 'disabled owner') return refuse('OWNER_DISABLED');
  return { valid: true, code: null, scopesGranted: state !== 'missing scope' };
}

async function setUp(kind: Kind, state: State): Promise<{ variables: Omit<VerifyCredentialsQueryVariables, 'usage'>; requiredScope: string }> {
  const user = await member(g, 'STANDARD', { scopes: ['dashboards_read'] });
  const apiKey = (await g.call(CreateApiKeyDocument, { name: `verify ${Math.random()}` })).data!.createApiKey;
  const token = (await g.call(CreateClientTokenDocument, { name: `verify ${Math.random()}`, allowedOrigins: [ORIGIN] })).data!.createClientToken;
  if (state === 'revoked') {
    if (kind === 'CLIENT_TOKEN') await g.call(RevokeClientTokenDocument, { id: token.clientToken.id });
    else if (kind === 'API_KEY') await g.call(RevokeApiKeyDocument, { id: apiKey.apiKey.id });
    else await g.call(RevokeApplicationKeyDocument, { id: user.keyId });
  }
  if (state === 'disabled owner') await g.call(DisablePrincipalDocument, { principalId: user.id });
  const origin = state === 'wrong origin' ? 'https://elsewhere.example.com' : kind === 'CLIENT_TOKEN' ? ORIGIN : null;
  const requiredScope = state === 'missing scope' ? 'dashboards_write' : 'dashboards_read';
  const variables =
    kind === 'CLIENT_TOKEN'
      ? { clientToken: token.secret, origin }
      : kind === 'API_KEY'
        ? { apiKey: apiKey.secret, origin }
        : { apiKey: apiKey.secret, applicationKey: user.credentials.applicationKey, origin };
  return { variables: { ...variables, requiredScopes: [requiredScope] }, requiredScope };
}

describe('verifyCredentials', () => {
  const kinds: Kind[] = ['API_KEY', 'API_KEY+APPLICATION_KEY', 'CLIENT_TOKEN'];
  const states: State[] = ['valid', 'revoked', 'disabled owner', 'wrong origin', 'missing scope'];
  const cases = kinds.flatMap((kind) => states.filter((s) => s !== 'disabled owner' || kind === 'API_KEY+APPLICATION_KEY').map((state) => ({ kind, state })));

  it('covers each credential kind in each state', () => {
    expect(cases).toHaveLength(13);
  });

  for (const { kind, state } of cases) {
    it(`R4/R11/R12/R14: ${kind}, ${state}, under each usage`, async () => {
      const { variables } = await setUp(kind, state);
      for (const usage of USAGES) {
        const answer = await g.call(VerifyCredentialsDocument, { ...variables, usage }, null);
        expect(answer.status).toBe(200);
        const result = answer.data!.verifyCredentials;
        const want = expected(kind, usage, state);
        expect({ valid: result.valid, code: result.code ?? null, scopesGranted: result.requiredScopesGranted }, `${kind} / ${usage} / ${state}`).toEqual(want);
        if (want.valid) {
          expect(result.organizationId).toBeTruthy();
          if (kind === 'API_KEY+APPLICATION_KEY') {
            expect(result.ownerId).toBeTruthy();
            expect(result.permissions).toEqual(['dashboards_read']);
          }
        }
      }
    });
  }

  it('names the organization and keys of what it verified, and never echoes a secret', async () => {
    const user = await member(g, 'ADMIN');
    const answer = await g.call(
      VerifyCredentialsDocument,
      { usage: 'API', apiKey: g.admin.apiKey, applicationKey: user.credentials.applicationKey, requiredScopes: ['audit_logs_read'] },
      null,
    );
    const result = answer.data!.verifyCredentials;
    expect(result).toMatchObject({ valid: true, ownerId: user.id, applicationKeyId: user.keyId, requiredScopesGranted: true, missingScopes: [] });
    expect(JSON.stringify(answer)).not.toContain(g.admin.apiKey);
    const garbage = await g.call(VerifyCredentialsDocument, { usage: 'AGENT_INTAKE', apiKey: 'nonsense' }, null);
    expect(garbage.data!.verifyCredentials).toMatchObject({ valid: false, code: 'MALFORMED_CREDENTIAL', organizationId: null });
    const unknown = await g.call(VerifyCredentialsDocument, { usage: 'AGENT_INTAKE', apiKey: 'klk_api_' + 'A'.repeat(38) }, null);
    expect(unknown.data!.verifyCredentials.valid).toBe(false);
  });

  it('does no store I/O: the CredentialIndex answers', async () => {
    await g.app.runner.stop();
    try {
      const before = g.statements();
      for (let i = 0; i < 20; i++) await g.call(VerifyCredentialsDocument, { usage: 'AGENT_INTAKE', apiKey: g.admin.apiKey }, null);
      await g.call(ViewerDocument, {}, { 'x-api-key': g.admin.apiKey, 'x-application-key': 'klk_app_' + 'B'.repeat(38) });
      expect(g.statements() - before).toBe(0);
    } finally {
      g.app.runner.start();
    }
  });
});

describe('R17: revocation on this instance', () => {
  it('refuses a revoked key from the moment the revocation answers', async () => {
    for (let i = 0; i < 10; i++) {
      const key = (await g.call(CreateApplicationKeyDocument, { name: `short-lived ${i}` })).data!.createApplicationKey;
      const credentials = { apiKey: g.admin.apiKey, applicationKey: key.secret };
      expect((await g.call(ViewerDocument, {}, credentials)).status).toBe(200);
      await g.call(RevokeApplicationKeyDocument, { id: key.applicationKey.id });
      const after = await g.call(ViewerDocument, {}, credentials);
      expect([after.status, after.code]).toEqual([401, 'UNAUTHENTICATED']);
    }
  });
});

describe('GET /api/v1/validate', () => {
  const validate = (headers: Record<string, string>) => fetch(`${g.url}/api/v1/validate`, { headers }).then(async (r) => ({ status: r.status, body: (await r.json()) as unknown }));

  it('R4: answers 200 {"valid":true} for an active API key, in either header', async () => {
    expect(await validate({ 'DD-API-KEY': g.admin.apiKey })).toEqual({ status: 200, body: { valid: true } });
    expect(await validate({ 'X-API-Key': g.admin.apiKey })).toEqual({ status: 200, body: { valid: true } });
  });

  it('answers 403 {"errors":["Forbidden"]} otherwise', async () => {
    const spare = (await g.call(CreateApiKeyDocument, { name: 'validate revoked' })).data!.createApiKey;
    await g.call(RevokeApiKeyDocument, { id: spare.apiKey.id });
    const token = (await g.call(CreateClientTokenDocument, { name: 'validate token' })).data!.createClientToken.secret;
    for (const headers of <Record<string, string>[]>[
      {},
      { 'DD-API-KEY': 'garbage' },
      { 'DD-API-KEY': spare.secret },
      { 'DD-API-KEY': g.admin.applicationKey },
      { 'DD-API-KEY': token },
      { 'DD-API-KEY': g.admin.apiKey, origin: ORIGIN },
    ]) {
      expect(await validate(headers), JSON.stringify(Object.keys(headers))).toEqual({ status: 403, body: { errors: ['Forbidden'] } });
    }
  });
});
