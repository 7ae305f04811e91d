// The organization aggregate's decisions (spec R1-R3, R11, R15, R17, R20, R21), as given events,
// a command and an actor, then the exact events decided or the refusal's code.

import { describe, it } from 'vitest';
import { OPERATOR } from '../../src/domain/actor.js';
import { decideOrganization, evolveOrganization, initialOrganizationState } from '../../src/domain/organization.js';
import { actorOf, decider, ORG_ID, OTHER_ORG_ID } from '../support/decider.js';

// Typed from the decider itself, wherever the domain declares its unions.
type OrganizationCommand = Parameters<typeof decideOrganization>[0];
type OrganizationEvent = ReturnType<typeof decideOrganization>[number];

const organization = decider(initialOrganizationState, evolveOrganization, decideOrganization);

const ADMIN = 'admin-1';
const admin = actorOf('admin', { principalId: ADMIN });
const standard = actorOf('standard', { principalId: 'standard-1' });
const readOnly = actorOf('read_only', { principalId: 'read-only-1' });

// ── events and commands ──────────────────────────────────────────────────────

const orgCreated = (apiKeyLimit = 50): OrganizationEvent => ({ type: 'OrganizationCreated', data: { orgId: ORG_ID, name: 'Acme', apiKeyLimit } });
const apiKeyCreated = (keyId: string, name: string, createdBy: string | null = ADMIN): OrganizationEvent => ({
  type: 'ApiKeyCreated',
  data: { orgId: ORG_ID, keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}`, createdBy },
});
const apiKeyRevoked = (keyId: string): OrganizationEvent => ({ type: 'ApiKeyRevoked', data: { orgId: ORG_ID, keyId, reason: 'REVOKED' } });
const tokenCreated = (tokenId: string, name: string): OrganizationEvent => ({
  type: 'ClientTokenCreated',
  data: { orgId: ORG_ID, tokenId, name, digest: `digest-${tokenId}`, last4: `l4-${tokenId}`, allowedOrigins: [], createdBy: ADMIN },
});
const tokenRevoked = (tokenId: string): OrganizationEvent => ({ type: 'ClientTokenRevoked', data: { orgId: ORG_ID, tokenId, reason: 'REVOKED' } });

const createApiKey = (keyId: string, name: string): OrganizationCommand => ({ type: 'CreateApiKey', keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}` });
const createToken = (tokenId: string, name: string, allowedOrigins: readonly string[] = []): OrganizationCommand => ({
  type: 'CreateClientToken',
  tokenId,
  name,
  allowedOrigins,
  digest: `digest-${tokenId}`,
  last4: `l4-${tokenId}`,
});

/** An org as `init-org` leaves it: created with its first API key. */
const founded: OrganizationEvent[] = [orgCreated(), apiKeyCreated('key-1', 'Deploy', null)];

// ── R1 ───────────────────────────────────────────────────────────────────────

describe('API keys belong to the org, which keeps at least one (R1)', () => {
  it('R1: an operator creates an organization with its first API key, names trimmed, limit 50 by default', () => {
    organization
      .given([])
      .when(
        {
          type: 'CreateOrganization',
          orgId: ORG_ID,
          name: '  Acme ',
          firstApiKey: { keyId: 'key-1', name: ' Deploy ', digest: 'digest-key-1', last4: 'l4-key-1' },
          createdBy: ADMIN,
        },
        OPERATOR,
      )
      .then([
        { type: 'OrganizationCreated', data: { orgId: ORG_ID, name: 'Acme', apiKeyLimit: 50 } },
        { type: 'ApiKeyCreated', data: { orgId: ORG_ID, keyId: 'key-1', name: 'Deploy', digest: 'digest-key-1', last4: 'l4-key-1', createdBy: ADMIN } },
      ]);
  });

  it('R1: only an operator creates an organization, and only once', () => {
    const create: OrganizationCommand = {
      type: 'CreateOrganization',
      orgId: ORG_ID,
      name: 'Acme',
      apiKeyLimit: 5,
      firstApiKey: { keyId: 'key-1', name: 'Deploy', digest: 'd', last4: 'l4' },
      createdBy: null,
    };
    organization.given([]).when(create, admin).thenThrows('FORBIDDEN');
    organization.given(founded).when(create, OPERATOR).thenThrows('CONFLICT');
  });

  it('R1: revoking the last active API key is LAST_API_KEY', () => {
    organization.given(founded).when({ type: 'RevokeApiKey', keyId: 'key-1' }, admin).thenThrows('LAST_API_KEY');
  });

  it('R1: with another active API key, the first one can be revoked', () => {
    organization
      .given([...founded, apiKeyCreated('key-2', 'Agents')])
      .when({ type: 'RevokeApiKey', keyId: 'key-1' }, admin)
      .then([{ type: 'ApiKeyRevoked', data: { orgId: ORG_ID, keyId: 'key-1', reason: 'REVOKED' } }]);
  });

  it('R1: revoked keys do not count: the last active one stays', () => {
    organization
      .given([...founded, apiKeyCreated('key-2', 'Agents'), apiKeyRevoked('key-1')])
      .when({ type: 'RevokeApiKey', keyId: 'key-2' }, admin)
      .thenThrows('LAST_API_KEY');
  });
});

// ── R2 ───────────────────────────────────────────────────────────────────────

describe('the API-key limit (R2)', () => {
  const fifty = Array.from({ length: 50 }, (_, i) => apiKeyCreated(`key-${i + 1}`, `key ${i + 1}`));

  it('R2: the default limit is 50 active API keys; the 51st is API_KEY_LIMIT', () => {
    organization
      .given([orgCreated(), ...fifty.slice(0, 49)])
      .when(createApiKey('key-50', 'key 50'), admin)
      .then([apiKeyCreated('key-50', 'key 50')]);
    organization
      .given([orgCreated(), ...fifty])
      .when(createApiKey('key-51', 'key 51'), admin)
      .thenThrows('API_KEY_LIMIT');
  });

  it('R2: a revoked API key frees its slot', () => {
    organization
      .given([orgCreated(2), apiKeyCreated('key-1', 'one'), apiKeyCreated('key-2', 'two'), apiKeyRevoked('key-2')])
      .when(createApiKey('key-3', 'three'), admin)
      .then([apiKeyCreated('key-3', 'three')]);
  });

  it('R2: an operator raises the limit, and one more key is then accepted', () => {
    const full = [orgCreated(2), apiKeyCreated('key-1', 'one'), apiKeyCreated('key-2', 'two')];
    organization
      .given(full)
      .when({ type: 'ChangeApiKeyLimit', apiKeyLimit: 3 }, OPERATOR)
      .then([{ type: 'ApiKeyLimitChanged', data: { orgId: ORG_ID, apiKeyLimit: 3, previousLimit: 2 } }]);
    organization
      .given([...full, { type: 'ApiKeyLimitChanged', data: { orgId: ORG_ID, apiKeyLimit: 3, previousLimit: 2 } }])
      .when(createApiKey('key-3', 'three'), admin)
      .then([apiKeyCreated('key-3', 'three')]);
  });

  it('R2: an operator lowers the limit below the active keys: they stay, the next one is refused', () => {
    const two = [orgCreated(), apiKeyCreated('key-1', 'one'), apiKeyCreated('key-2', 'two')];
    organization
      .given(two)
      .when({ type: 'ChangeApiKeyLimit', apiKeyLimit: 1 }, OPERATOR)
      .then([{ type: 'ApiKeyLimitChanged', data: { orgId: ORG_ID, apiKeyLimit: 1, previousLimit: 50 } }]);
    organization
      .given([...two, { type: 'ApiKeyLimitChanged', data: { orgId: ORG_ID, apiKeyLimit: 1, previousLimit: 50 } }])
      .when(createApiKey('key-3', 'three'), admin)
      .thenThrows('API_KEY_LIMIT');
  });

  it('R2: only an operator changes the limit; the same limit decides nothing; a limit below 1 is BAD_USER_INPUT', () => {
    organization.given(founded).when({ type: 'ChangeApiKeyLimit', apiKeyLimit: 60 }, admin).thenThrows('FORBIDDEN');
    organization.given(founded).when({ type: 'ChangeApiKeyLimit', apiKeyLimit: 50 }, OPERATOR).thenNothing();
    organization.given(founded).when({ type: 'ChangeApiKeyLimit', apiKeyLimit: 0 }, OPERATOR).thenThrows('BAD_USER_INPUT');
  });
});

// ── R3 ───────────────────────────────────────────────────────────────────────

describe('key names (R3)', () => {
  it('R3: an API key name is stored trimmed', () => {
    organization
      .given(founded)
      .when(createApiKey('key-2', '  Agents  '), admin)
      .then([apiKeyCreated('key-2', 'Agents')]);
  });

  it('R3: an API key name held by an active API key, after trimming and case-folding, is NAME_TAKEN', () => {
    for (const name of ['Deploy', ' deploy ', 'DEPLOY', 'Ｄｅｐｌｏｙ']) {
      organization.given(founded).when(createApiKey('key-2', name), admin).thenThrows('NAME_TAKEN');
    }
    organization
      .given([...founded, apiKeyCreated('key-2', 'straße')])
      .when(createApiKey('key-3', 'STRASSE'), admin)
      .thenThrows('NAME_TAKEN');
  });

  it('R3: a revoked API key frees its name', () => {
    organization
      .given([...founded, apiKeyCreated('key-2', 'Agents'), apiKeyRevoked('key-2')])
      .when(createApiKey('key-3', 'agents'), admin)
      .then([apiKeyCreated('key-3', 'agents')]);
  });

  it('R3: renaming an API key to another active key name is NAME_TAKEN; to its own name in another case it is renamed; to the same name nothing', () => {
    const two = [...founded, apiKeyCreated('key-2', 'Agents')];
    organization.given(two).when({ type: 'RenameApiKey', keyId: 'key-2', name: ' DEPLOY' }, admin).thenThrows('NAME_TAKEN');
    organization
      .given(two)
      .when({ type: 'RenameApiKey', keyId: 'key-2', name: 'AGENTS' }, admin)
      .then([{ type: 'ApiKeyRenamed', data: { orgId: ORG_ID, keyId: 'key-2', name: 'AGENTS', previousName: 'Agents' } }]);
    organization.given(two).when({ type: 'RenameApiKey', keyId: 'key-2', name: '  Agents ' }, admin).thenNothing();
  });

  it('R3: renaming an API key to a revoked key name is accepted', () => {
    organization
      .given([...founded, apiKeyCreated('key-2', 'Agents'), apiKeyRevoked('key-1')])
      .when({ type: 'RenameApiKey', keyId: 'key-2', name: 'deploy' }, admin)
      .then([{ type: 'ApiKeyRenamed', data: { orgId: ORG_ID, keyId: 'key-2', name: 'deploy', previousName: 'Agents' } }]);
  });

  it('R3: API keys and client tokens are different kinds: one name may serve both', () => {
    organization
      .given(founded)
      .when(createToken('tok-1', 'deploy'), admin)
      .then([
        { type: 'ClientTokenCreated', data: { orgId: ORG_ID, tokenId: 'tok-1', name: 'deploy', digest: 'digest-tok-1', last4: 'l4-tok-1', allowedOrigins: [], createdBy: ADMIN } },
      ]);
  });

  it('R3: client token names are unique among active client tokens; a revoked token frees its name', () => {
    organization
      .given([...founded, tokenCreated('tok-1', 'Storefront RUM')])
      .when(createToken('tok-2', ' storefront rum '), admin)
      .thenThrows('NAME_TAKEN');
    organization
      .given([...founded, tokenCreated('tok-1', 'Storefront RUM'), tokenCreated('tok-2', 'Checkout')])
      .when({ type: 'RenameClientToken', tokenId: 'tok-2', name: 'STOREFRONT rum' }, admin)
      .thenThrows('NAME_TAKEN');
    organization
      .given([...founded, tokenCreated('tok-1', 'Storefront RUM'), tokenRevoked('tok-1')])
      .when(createToken('tok-2', 'storefront rum'), admin)
      .then([
        {
          type: 'ClientTokenCreated',
          data: { orgId: ORG_ID, tokenId: 'tok-2', name: 'storefront rum', digest: 'digest-tok-2', last4: 'l4-tok-2', allowedOrigins: [], createdBy: ADMIN },
        },
      ]);
  });

  it('R3: names are 1 to 200 characters after trimming: blank is BLANK_NAME, 201 is BAD_USER_INPUT', () => {
    const n200 = 'n'.repeat(200);
    organization
      .given(founded)
      .when(createApiKey('key-2', ` ${n200} `), admin)
      .then([apiKeyCreated('key-2', n200)]);
    organization
      .given(founded)
      .when(createApiKey('key-2', 'n'.repeat(201)), admin)
      .thenThrows('BAD_USER_INPUT');
    organization.given(founded).when(createApiKey('key-2', '   '), admin).thenThrows('BLANK_NAME');
    organization.given(founded).when(createToken('tok-1', ''), admin).thenThrows('BLANK_NAME');
    organization.given(founded).when({ type: 'RenameApiKey', keyId: 'key-1', name: ' \t ' }, admin).thenThrows('BLANK_NAME');
  });
});

// ── R11 ──────────────────────────────────────────────────────────────────────

describe('client tokens (R11)', () => {
  it('R11: a client token keeps its allowed origins as browsers send them', () => {
    organization
      .given(founded)
      .when(createToken('tok-1', 'RUM', ['https://app.example.com', 'http://localhost:8080/']), admin)
      .then([
        {
          type: 'ClientTokenCreated',
          data: {
            orgId: ORG_ID,
            tokenId: 'tok-1',
            name: 'RUM',
            digest: 'digest-tok-1',
            last4: 'l4-tok-1',
            allowedOrigins: ['https://app.example.com', 'http://localhost:8080'],
            createdBy: ADMIN,
          },
        },
      ]);
  });

  it('R11: an origin with a path, another scheme, or listed twice is BAD_USER_INPUT', () => {
    for (const origins of [['https://app.example.com/path'], ['ftp://app.example.com'], ['not an origin'], ['https://a.example.com', 'https://a.example.com/']]) {
      organization
        .given(founded)
        .when(createToken('tok-1', 'RUM', origins), admin)
        .thenThrows('BAD_USER_INPUT');
    }
  });
});

// ── R15 ──────────────────────────────────────────────────────────────────────

describe('creators (R15)', () => {
  it('R15: a created API key or client token records the acting principal as its creator, and a rename records no creator', () => {
    const alice = actorOf('admin', { principalId: 'alice' });
    organization
      .given(founded)
      .when(createApiKey('key-2', 'Agents'), alice)
      .then([{ type: 'ApiKeyCreated', data: { orgId: ORG_ID, keyId: 'key-2', name: 'Agents', digest: 'digest-key-2', last4: 'l4-key-2', createdBy: 'alice' } }]);
    organization
      .given(founded)
      .when(createToken('tok-1', 'RUM'), alice)
      .then([
        { type: 'ClientTokenCreated', data: { orgId: ORG_ID, tokenId: 'tok-1', name: 'RUM', digest: 'digest-tok-1', last4: 'l4-tok-1', allowedOrigins: [], createdBy: 'alice' } },
      ]);
    // Renamed by someone else: the event names the key, never a new creator.
    organization
      .given([...founded, apiKeyCreated('key-2', 'Agents', 'alice')])
      .when({ type: 'RenameApiKey', keyId: 'key-2', name: 'Fleet' }, admin)
      .then([{ type: 'ApiKeyRenamed', data: { orgId: ORG_ID, keyId: 'key-2', name: 'Fleet', previousName: 'Agents' } }]);
    organization
      .given([...founded, tokenCreated('tok-1', 'RUM')])
      .when({ type: 'RenameClientToken', tokenId: 'tok-1', name: 'Browser' }, alice)
      .then([{ type: 'ClientTokenRenamed', data: { orgId: ORG_ID, tokenId: 'tok-1', name: 'Browser', previousName: 'RUM' } }]);
  });
});

// ── R17 ──────────────────────────────────────────────────────────────────────

describe('revocation is final (R17)', () => {
  it('R17: a revoked API key cannot be renamed or revoked again (ALREADY_REVOKED)', () => {
    const revoked = [...founded, apiKeyCreated('key-2', 'Agents'), apiKeyCreated('key-3', 'Spare'), apiKeyRevoked('key-2')];
    organization.given(revoked).when({ type: 'RevokeApiKey', keyId: 'key-2' }, admin).thenThrows('ALREADY_REVOKED');
    organization.given(revoked).when({ type: 'RenameApiKey', keyId: 'key-2', name: 'Back' }, admin).thenThrows('ALREADY_REVOKED');
  });

  it('R17: a revoked client token cannot be renamed or revoked again (ALREADY_REVOKED); an active one is revoked', () => {
    organization
      .given([...founded, tokenCreated('tok-1', 'RUM')])
      .when({ type: 'RevokeClientToken', tokenId: 'tok-1' }, admin)
      .then([{ type: 'ClientTokenRevoked', data: { orgId: ORG_ID, tokenId: 'tok-1', reason: 'REVOKED' } }]);
    const revoked = [...founded, tokenCreated('tok-1', 'RUM'), tokenRevoked('tok-1')];
    organization.given(revoked).when({ type: 'RevokeClientToken', tokenId: 'tok-1' }, admin).thenThrows('ALREADY_REVOKED');
    organization.given(revoked).when({ type: 'RenameClientToken', tokenId: 'tok-1', name: 'Back' }, admin).thenThrows('ALREADY_REVOKED');
  });
});

// ── R20, R21 ─────────────────────────────────────────────────────────────────

describe('isolation and permissions (R20, R21)', () => {
  const populated = [...founded, apiKeyCreated('key-2', 'Agents'), tokenCreated('tok-1', 'RUM')];
  const everyCommand: OrganizationCommand[] = [
    createApiKey('key-9', 'Mine now'),
    { type: 'RenameApiKey', keyId: 'key-2', name: 'Mine now' },
    { type: 'RevokeApiKey', keyId: 'key-2' },
    createToken('tok-9', 'Mine now'),
    { type: 'RenameClientToken', tokenId: 'tok-1', name: 'Mine now' },
    { type: 'RevokeClientToken', tokenId: 'tok-1' },
  ];

  it('R20: an admin of another organization gets NOT_FOUND for every command on this one', () => {
    const foreignAdmin = actorOf('admin', { orgId: OTHER_ORG_ID, principalId: 'their-admin' });
    for (const command of everyCommand) organization.given(populated).when(command, foreignAdmin).thenThrows('NOT_FOUND');
  });

  it('R20: an organization that does not exist is NOT_FOUND', () => {
    organization.given([]).when(createApiKey('key-1', 'Deploy'), admin).thenThrows('NOT_FOUND');
  });

  it('R20: an unknown API key or client token id is NOT_FOUND', () => {
    organization.given(populated).when({ type: 'RenameApiKey', keyId: 'nope', name: 'x' }, admin).thenThrows('NOT_FOUND');
    organization.given(populated).when({ type: 'RevokeApiKey', keyId: 'tok-1' }, admin).thenThrows('NOT_FOUND');
    organization.given(populated).when({ type: 'RevokeClientToken', tokenId: 'key-2' }, admin).thenThrows('NOT_FOUND');
  });

  it('R20: a credential lacking the permission whatever the id gets FORBIDDEN before any lookup (an unknown key)', () => {
    organization.given(populated).when({ type: 'RevokeApiKey', keyId: 'nope' }, readOnly).thenThrows('FORBIDDEN');
    organization.given(populated).when({ type: 'RenameClientToken', tokenId: 'nope', name: 'x' }, standard).thenThrows('FORBIDDEN');
  });

  it("R20: a credential lacking the permission whatever the id gets FORBIDDEN before any lookup (another organization's stream)", () => {
    const foreignReader = actorOf('read_only', { orgId: OTHER_ORG_ID, principalId: 'their-reader' });
    organization.given(populated).when({ type: 'RevokeApiKey', keyId: 'key-2' }, foreignReader).thenThrows('FORBIDDEN');
  });

  it('R21: API keys need api_keys_write to create and rename, api_keys_delete to revoke; client tokens need client_tokens_write', () => {
    const writer = actorOf('admin', { principalId: 'writer', scopes: ['api_keys_write', 'client_tokens_read'] });
    const deleter = actorOf('admin', { principalId: 'deleter', scopes: ['api_keys_delete', 'client_tokens_write'] });
    for (const command of everyCommand) organization.given(populated).when(command, standard).thenThrows('FORBIDDEN');
    organization.given(populated).when({ type: 'RevokeApiKey', keyId: 'key-2' }, writer).thenThrows('FORBIDDEN');
    organization.given(populated).when(createToken('tok-9', 'x'), writer).thenThrows('FORBIDDEN');
    organization.given(populated).when(createApiKey('key-9', 'x'), deleter).thenThrows('FORBIDDEN');
    organization.given(populated).when({ type: 'RenameApiKey', keyId: 'key-2', name: 'x' }, deleter).thenThrows('FORBIDDEN');
    organization
      .given(populated)
      .when({ type: 'RevokeApiKey', keyId: 'key-2' }, deleter)
      .then([{ type: 'ApiKeyRevoked', data: { orgId: ORG_ID, keyId: 'key-2', reason: 'REVOKED' } }]);
    organization
      .given(populated)
      .when(createApiKey('key-9', 'x'), writer)
      .then([{ type: 'ApiKeyCreated', data: { orgId: ORG_ID, keyId: 'key-9', name: 'x', digest: 'digest-key-9', last4: 'l4-key-9', createdBy: 'writer' } }]);
  });
});
