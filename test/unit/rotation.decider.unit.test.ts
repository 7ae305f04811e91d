// Rotation (R18) and expiry (R19) in both aggregates, as given events, a command and an actor,
// then the exact events decided or the refusal's code: a successor with the predecessor's
// attributes, never refused for R2 or R3; ALREADY_ROTATED; a grace of 0 revoking at once; and the
// scheduler's commands recording the end of a grace and an expiry once, whatever how often asked.

import { describe, it } from 'vitest';
import { OPERATOR, SCHEDULER } from '../../src/domain/actor.js';
import { decideOrganization, evolveOrganization, initialOrganizationState } from '../../src/domain/organization.js';
import type { Permission } from '../../src/domain/permissions.js';
import { decidePrincipal, evolvePrincipal, initialPrincipalState } from '../../src/domain/principal.js';
import { MAX_GRACE_PERIOD_SECONDS } from '../../src/domain/rotation.js';
import { actorOf, decider, ORG_ID, OTHER_ORG_ID } from '../support/decider.js';

type OrganizationCommand = Parameters<typeof decideOrganization>[0];
type OrganizationEvent = ReturnType<typeof decideOrganization>[number];
type PrincipalCommand = Parameters<typeof decidePrincipal>[0];
type PrincipalEvent = ReturnType<typeof decidePrincipal>[number];

const organization = decider(initialOrganizationState, evolveOrganization, decideOrganization);
const principal = decider(initialPrincipalState, evolvePrincipal, decidePrincipal);

const NOW = new Date('2030-01-01T00:00:00.000Z');
const HOUR = 3600;
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const ADMIN = 'admin-1';
const ALICE = 'alice';
const admin = actorOf('admin', { principalId: ADMIN });
const standard = actorOf('standard', { principalId: ALICE });
const foreignAdmin = actorOf('admin', { principalId: 'foreign-admin', orgId: OTHER_ORG_ID });

// ── the organization stream: API keys ────────────────────────────────────────

const orgCreated = (apiKeyLimit = 50): OrganizationEvent => ({ type: 'OrganizationCreated', data: { orgId: ORG_ID, name: 'Acme', apiKeyLimit } });
const apiKeyCreated = (keyId: string, name: string): OrganizationEvent => ({
  type: 'ApiKeyCreated',
  data: { orgId: ORG_ID, keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}`, createdBy: ADMIN },
});
const apiKeyRotated = (keyId: string, successorId: string, name: string, revokeAt: string, createdBy: string | null = ADMIN): OrganizationEvent => ({
  type: 'ApiKeyRotated',
  data: { orgId: ORG_ID, keyId, successorId, name, digest: `digest-${successorId}`, last4: `l4-${successorId}`, createdBy, revokeAt },
});
const apiKeyRevoked = (keyId: string, reason: 'REVOKED' | 'ROTATED' = 'REVOKED'): OrganizationEvent => ({ type: 'ApiKeyRevoked', data: { orgId: ORG_ID, keyId, reason } });

const rotateApiKey = (keyId: string, successorId: string, gracePeriodSeconds: number, now = NOW): OrganizationCommand => ({
  type: 'RotateApiKey',
  keyId,
  successorId,
  gracePeriodSeconds,
  now,
  digest: `digest-${successorId}`,
  last4: `l4-${successorId}`,
});
const endApiKeyGrace = (keyId: string, now: Date): OrganizationCommand => ({ type: 'EndApiKeyGrace', keyId, now });

/** An org with two API keys: `key-1` "Deploy" and `key-2` "Agents". */
const twoKeys = [orgCreated(), apiKeyCreated('key-1', 'Deploy'), apiKeyCreated('key-2', 'Agents')];
/** `key-1` rotated at NOW into `key-3`, with a grace of an hour. */
const inGrace = [...twoKeys, apiKeyRotated('key-1', 'key-3', 'Deploy', iso(HOUR))];

describe('rotating an API key (R18)', () => {
  it('R18: rotateApiKey decides ApiKeyRotated: a successor with the same name and a new secret, the predecessor revoked when the grace ends', () => {
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', HOUR), admin)
      .then([apiKeyRotated('key-1', 'key-3', 'Deploy', iso(HOUR))]);
  });

  it('R18: a grace of 0 (the default) revokes the predecessor at once, reason ROTATED, in the same append', () => {
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', 0), admin)
      .then([apiKeyRotated('key-1', 'key-3', 'Deploy', iso(0)), apiKeyRevoked('key-1', 'ROTATED')]);
  });

  it('R18: the grace is 0 to 7 days in whole seconds; outside, BAD_USER_INPUT on gracePeriod', () => {
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', MAX_GRACE_PERIOD_SECONDS), admin)
      .then([apiKeyRotated('key-1', 'key-3', 'Deploy', iso(7 * 24 * HOUR))]);
    for (const grace of [-1, MAX_GRACE_PERIOD_SECONDS + 1, 1.5, Number.NaN]) {
      const error = organization
        .given(twoKeys)
        .when(rotateApiKey('key-1', 'key-3', grace), admin)
        .thenThrows('BAD_USER_INPUT');
      if (error.field !== 'gracePeriod') throw new Error(`field ${error.field}`);
    }
  });

  it('R18, R2: an organization at its limit rotates a key: the predecessor in its grace holds no slot', () => {
    const atLimit = [orgCreated(2), apiKeyCreated('key-1', 'Deploy'), apiKeyCreated('key-2', 'Agents')];
    organization
      .given(atLimit)
      .when(rotateApiKey('key-1', 'key-3', HOUR), admin)
      .then([apiKeyRotated('key-1', 'key-3', 'Deploy', iso(HOUR))]);
    // During the grace the successor holds the slot: a new key is still API_KEY_LIMIT; rotating the other one is not.
    const rotated = [...atLimit, apiKeyRotated('key-1', 'key-3', 'Deploy', iso(HOUR))];
    organization.given(rotated).when({ type: 'CreateApiKey', keyId: 'key-4', name: 'More', digest: 'd', last4: 'l4' }, admin).thenThrows('API_KEY_LIMIT');
    organization
      .given(rotated)
      .when(rotateApiKey('key-2', 'key-4', HOUR), admin)
      .then([apiKeyRotated('key-2', 'key-4', 'Agents', iso(HOUR))]);
    // Even over a limit lowered below the keys there are.
    organization
      .given([...atLimit, { type: 'ApiKeyLimitChanged', data: { orgId: ORG_ID, apiKeyLimit: 1, previousLimit: 2 } }])
      .when(rotateApiKey('key-1', 'key-3', 0), admin)
      .then([apiKeyRotated('key-1', 'key-3', 'Deploy', iso(0)), apiKeyRevoked('key-1', 'ROTATED')]);
  });

  it('R18, R3: the successor takes the name; the predecessor in its grace holds it no longer', () => {
    // Its name is the successor's: taken for a new key, free once the successor is renamed.
    organization.given(inGrace).when({ type: 'CreateApiKey', keyId: 'key-4', name: 'deploy', digest: 'd', last4: 'l4' }, admin).thenThrows('NAME_TAKEN');
    organization
      .given([...inGrace, { type: 'ApiKeyRenamed', data: { orgId: ORG_ID, keyId: 'key-3', name: 'Deploy 2', previousName: 'Deploy' } }])
      .when({ type: 'CreateApiKey', keyId: 'key-4', name: 'Deploy', digest: 'digest-key-4', last4: 'l4-key-4' }, admin)
      .then([{ type: 'ApiKeyCreated', data: { orgId: ORG_ID, keyId: 'key-4', name: 'Deploy', digest: 'digest-key-4', last4: 'l4-key-4', createdBy: ADMIN } }]);
  });

  it('R18: a key in its grace is ALREADY_ROTATED: rotated or renamed again; a revoked key keeps its refusal', () => {
    organization
      .given(inGrace)
      .when(rotateApiKey('key-1', 'key-4', HOUR), admin)
      .thenThrows('ALREADY_ROTATED');
    organization.given(inGrace).when({ type: 'RenameApiKey', keyId: 'key-1', name: 'Old' }, admin).thenThrows('ALREADY_ROTATED');
    // Its successor rotates in its turn.
    organization
      .given(inGrace)
      .when(rotateApiKey('key-3', 'key-4', HOUR), admin)
      .then([apiKeyRotated('key-3', 'key-4', 'Deploy', iso(HOUR))]);
    organization
      .given([...twoKeys, apiKeyRevoked('key-1')])
      .when(rotateApiKey('key-1', 'key-3', HOUR), admin)
      .thenThrows('ALREADY_REVOKED');
  });

  it('R18: the predecessor can be revoked by hand during its grace (reason REVOKED); then the grace ends with nothing to record', () => {
    organization
      .given(inGrace)
      .when({ type: 'RevokeApiKey', keyId: 'key-1' }, admin)
      .then([apiKeyRevoked('key-1')]);
    organization
      .given([...inGrace, apiKeyRevoked('key-1')])
      .when(endApiKeyGrace('key-1', at(HOUR)), SCHEDULER)
      .thenNothing();
  });

  it('R18, R1: the predecessor in its grace does not count as the last key: revoking its successor, the last one left, is LAST_API_KEY', () => {
    const one = [orgCreated(), apiKeyCreated('key-1', 'Deploy'), apiKeyRotated('key-1', 'key-2', 'Deploy', iso(HOUR))];
    organization.given(one).when({ type: 'RevokeApiKey', keyId: 'key-2' }, admin).thenThrows('LAST_API_KEY');
    organization
      .given(one)
      .when({ type: 'RevokeApiKey', keyId: 'key-1' }, admin)
      .then([apiKeyRevoked('key-1')]);
  });

  it('R18, R20: rotating needs api_keys_write and api_keys_delete (FORBIDDEN before any lookup); a foreign key is NOT_FOUND', () => {
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', HOUR), standard)
      .thenThrows('FORBIDDEN');
    organization
      .given(twoKeys)
      .when(rotateApiKey('no-such-key', 'key-3', HOUR), standard)
      .thenThrows('FORBIDDEN');
    const writeOnly = actorOf('admin', { principalId: ADMIN, scopes: ['api_keys_write'] });
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', HOUR), writeOnly)
      .thenThrows('FORBIDDEN');
    organization
      .given(twoKeys)
      .when(rotateApiKey('no-such-key', 'key-3', HOUR), admin)
      .thenThrows('NOT_FOUND');
    organization
      .given(twoKeys)
      .when(rotateApiKey('key-1', 'key-3', HOUR), foreignAdmin)
      .thenThrows('NOT_FOUND');
  });
});

describe("the end of an API key's grace (R18), the scheduler's", () => {
  it('R18: when the grace ends the predecessor is revoked, reason ROTATED; asked again, nothing more is decided (exactly once)', () => {
    organization
      .given(inGrace)
      .when(endApiKeyGrace('key-1', at(HOUR)), SCHEDULER)
      .then([apiKeyRevoked('key-1', 'ROTATED')]);
    organization
      .given([...inGrace, apiKeyRevoked('key-1', 'ROTATED')])
      .when(endApiKeyGrace('key-1', at(HOUR + 1)), SCHEDULER)
      .thenNothing();
  });

  it('R18: before the grace ends, or for a key not rotated, there is nothing to record', () => {
    organization
      .given(inGrace)
      .when(endApiKeyGrace('key-1', at(HOUR - 1)), SCHEDULER)
      .thenNothing();
    organization
      .given(inGrace)
      .when(endApiKeyGrace('key-2', at(HOUR)), SCHEDULER)
      .thenNothing();
  });

  it('R18: only the scheduler ends a grace, and the scheduler does nothing else', () => {
    organization
      .given(inGrace)
      .when(endApiKeyGrace('key-1', at(HOUR)), admin)
      .thenThrows('FORBIDDEN');
    organization
      .given(inGrace)
      .when(endApiKeyGrace('key-1', at(HOUR)), OPERATOR)
      .thenThrows('FORBIDDEN');
    organization.given(inGrace).when({ type: 'RevokeApiKey', keyId: 'key-2' }, SCHEDULER).thenThrows('FORBIDDEN');
    organization
      .given(inGrace)
      .when(rotateApiKey('key-2', 'key-4', 0), SCHEDULER)
      .thenThrows('FORBIDDEN');
  });
});

// ── a principal's stream: application keys ──────────────────────────────────

const invited = (role: 'admin' | 'standard' = 'standard'): PrincipalEvent => ({
  type: 'UserInvited',
  data: { principalId: ALICE, orgId: ORG_ID, email: 'alice@example.test', name: 'Alice', role },
});
const keyCreated = (keyId: string, name: string, scopes: Permission[] | null = null, expiresAt: string | null = null): PrincipalEvent => ({
  type: 'ApplicationKeyCreated',
  data: { principalId: ALICE, orgId: ORG_ID, keyId, name, digest: `digest-${keyId}`, last4: `l4-${keyId}`, scopes, expiresAt, createdBy: ALICE },
});
const keyRotated = (
  keyId: string,
  successorId: string,
  name: string,
  revokeAt: string,
  more: { scopes?: Permission[] | null; expiresAt?: string | null; createdBy?: string } = {},
): PrincipalEvent => ({
  type: 'ApplicationKeyRotated',
  data: {
    principalId: ALICE,
    orgId: ORG_ID,
    keyId,
    successorId,
    name,
    digest: `digest-${successorId}`,
    last4: `l4-${successorId}`,
    scopes: more.scopes ?? null,
    expiresAt: more.expiresAt ?? null,
    createdBy: more.createdBy ?? ALICE,
    revokeAt,
  },
});
const keyRevoked = (keyId: string, reason: 'REVOKED' | 'ROTATED' = 'REVOKED'): PrincipalEvent => ({
  type: 'ApplicationKeyRevoked',
  data: { principalId: ALICE, orgId: ORG_ID, keyId, reason },
});
const keyExpired = (keyId: string, expiresAt: string): PrincipalEvent => ({ type: 'ApplicationKeyExpired', data: { principalId: ALICE, orgId: ORG_ID, keyId, expiresAt } });

const rotateKey = (keyId: string, successorId: string, gracePeriodSeconds: number, now = NOW): PrincipalCommand => ({
  type: 'RotateApplicationKey',
  keyId,
  successorId,
  gracePeriodSeconds,
  now,
  digest: `digest-${successorId}`,
  last4: `l4-${successorId}`,
});
const endKeyGrace = (keyId: string, now: Date): PrincipalCommand => ({ type: 'EndApplicationKeyGrace', keyId, now });
const recordExpiry = (keyId: string, now: Date): PrincipalCommand => ({ type: 'RecordApplicationKeyExpiry', keyId, now });

const SCOPES: Permission[] = ['dashboards_read', 'monitors_read'];
/** Alice with `k1` "laptop", scoped, expiring in a day. */
const aliceWithKey = [invited(), keyCreated('k1', 'laptop', SCOPES, iso(24 * HOUR))];
const aliceInGrace = [...aliceWithKey, keyRotated('k1', 'k2', 'laptop', iso(HOUR), { scopes: SCOPES, expiresAt: iso(24 * HOUR) })];

describe('rotating an application key (R18)', () => {
  it('R18: rotateApplicationKey decides ApplicationKeyRotated: the same name, scopes, owner and expiry, a new secret', () => {
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), standard)
      .then([keyRotated('k1', 'k2', 'laptop', iso(HOUR), { scopes: SCOPES, expiresAt: iso(24 * HOUR) })]);
    // An admin rotates Alice's key (org_app_keys_write): the successor is Alice's, made by the admin.
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), admin)
      .then([keyRotated('k1', 'k2', 'laptop', iso(HOUR), { scopes: SCOPES, expiresAt: iso(24 * HOUR), createdBy: ADMIN })]);
  });

  it('R18: a grace of 0 revokes the predecessor at once, reason ROTATED, in the same append', () => {
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', 0), standard)
      .then([keyRotated('k1', 'k2', 'laptop', iso(0), { scopes: SCOPES, expiresAt: iso(24 * HOUR) }), keyRevoked('k1', 'ROTATED')]);
  });

  it('R18, R3: the successor takes the name, never NAME_TAKEN; the predecessor in its grace holds it no longer', () => {
    principal
      .given(aliceInGrace)
      .when({ type: 'CreateApplicationKey', keyId: 'k3', name: 'Laptop', scopes: null, expiresAt: null, now: NOW, digest: 'd', last4: 'l4' }, standard)
      .thenThrows('NAME_TAKEN');
    principal
      .given(aliceInGrace)
      .when({ type: 'RenameApplicationKey', keyId: 'k2', name: 'LAPTOP' }, standard)
      .then([{ type: 'ApplicationKeyRenamed', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k2', name: 'LAPTOP', previousName: 'laptop' } }]);
  });

  it('R18: a key in its grace is ALREADY_ROTATED (rotate, rename, scope); it can still be revoked by hand', () => {
    principal
      .given(aliceInGrace)
      .when(rotateKey('k1', 'k3', HOUR), standard)
      .thenThrows('ALREADY_ROTATED');
    principal.given(aliceInGrace).when({ type: 'RenameApplicationKey', keyId: 'k1', name: 'old' }, standard).thenThrows('ALREADY_ROTATED');
    principal.given(aliceInGrace).when({ type: 'ScopeApplicationKey', keyId: 'k1', scopes: null }, standard).thenThrows('ALREADY_ROTATED');
    principal
      .given(aliceInGrace)
      .when({ type: 'RevokeApplicationKey', keyId: 'k1' }, standard)
      .then([keyRevoked('k1')]);
    principal
      .given([...aliceWithKey, keyRevoked('k1')])
      .when(rotateKey('k1', 'k2', HOUR), standard)
      .thenThrows('ALREADY_REVOKED');
  });

  it('R18: an expired key is not rotated (its successor would be expired): BAD_USER_INPUT', () => {
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR, at(24 * HOUR)), standard)
      .thenThrows('BAD_USER_INPUT');
  });

  it('R18, R8, R9: rotating is creating and revoking: FORBIDDEN without the permission, or without the scopes to grant', () => {
    const readOnly = actorOf('read_only', { principalId: ALICE });
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), readOnly)
      .thenThrows('FORBIDDEN');
    const bob = actorOf('standard', { principalId: 'bob' });
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), bob)
      .thenThrows('FORBIDDEN');
    const narrow = actorOf('standard', { principalId: ALICE, scopes: ['user_app_keys', 'dashboards_read'] });
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), narrow)
      .thenThrows('FORBIDDEN');
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', HOUR), foreignAdmin)
      .thenThrows('NOT_FOUND');
    principal
      .given(aliceWithKey)
      .when(rotateKey('k1', 'k2', -5), standard)
      .thenThrows('BAD_USER_INPUT');
  });
});

describe("the end of an application key's grace (R18) and its expiry (R19), the scheduler's", () => {
  it('R18: when the grace ends the predecessor is revoked, reason ROTATED, once', () => {
    principal
      .given(aliceInGrace)
      .when(endKeyGrace('k1', at(HOUR)), SCHEDULER)
      .then([keyRevoked('k1', 'ROTATED')]);
    principal
      .given([...aliceInGrace, keyRevoked('k1', 'ROTATED')])
      .when(endKeyGrace('k1', at(2 * HOUR)), SCHEDULER)
      .thenNothing();
    principal
      .given(aliceInGrace)
      .when(endKeyGrace('k1', at(HOUR - 1)), SCHEDULER)
      .thenNothing();
    principal
      .given([
        ...aliceInGrace,
        { type: 'PrincipalDisabled', data: { principalId: ALICE, orgId: ORG_ID } },
        { type: 'ApplicationKeyOwnerDisabled', data: { principalId: ALICE, orgId: ORG_ID, keyId: 'k1', reason: 'OWNER_DISABLED' } },
      ])
      .when(endKeyGrace('k1', at(HOUR)), SCHEDULER)
      .thenNothing();
  });

  it('R19: when a key passes its expiresAt, ApplicationKeyExpired is decided once; not before, not for a revoked key', () => {
    principal
      .given(aliceWithKey)
      .when(recordExpiry('k1', at(24 * HOUR)), SCHEDULER)
      .then([keyExpired('k1', iso(24 * HOUR))]);
    principal
      .given([...aliceWithKey, keyExpired('k1', iso(24 * HOUR))])
      .when(recordExpiry('k1', at(25 * HOUR)), SCHEDULER)
      .thenNothing();
    principal
      .given(aliceWithKey)
      .when(recordExpiry('k1', at(24 * HOUR - 1)), SCHEDULER)
      .thenNothing();
    principal
      .given([...aliceWithKey, keyRevoked('k1')])
      .when(recordExpiry('k1', at(24 * HOUR)), SCHEDULER)
      .thenNothing();
    principal
      .given([invited(), keyCreated('k9', 'forever')])
      .when(recordExpiry('k9', at(24 * HOUR)), SCHEDULER)
      .thenNothing();
  });

  it('R19: a predecessor and its successor expire together: each expiry is recorded, and the grace still ends', () => {
    const expiredBoth = [...aliceInGrace, keyExpired('k1', iso(24 * HOUR))];
    principal
      .given(expiredBoth)
      .when(recordExpiry('k2', at(24 * HOUR)), SCHEDULER)
      .then([keyExpired('k2', iso(24 * HOUR))]);
    principal
      .given(expiredBoth)
      .when(endKeyGrace('k1', at(24 * HOUR)), SCHEDULER)
      .then([keyRevoked('k1', 'ROTATED')]);
  });

  it('R18, R19: only the scheduler records what time brings', () => {
    principal
      .given(aliceInGrace)
      .when(endKeyGrace('k1', at(HOUR)), standard)
      .thenThrows('FORBIDDEN');
    principal
      .given(aliceWithKey)
      .when(recordExpiry('k1', at(24 * HOUR)), OPERATOR)
      .thenThrows('FORBIDDEN');
    principal.given(aliceWithKey).when({ type: 'RevokeApplicationKey', keyId: 'k1' }, SCHEDULER).thenThrows('FORBIDDEN');
  });
});
