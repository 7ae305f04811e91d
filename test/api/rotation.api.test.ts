// Rotation (R18) and expiry (R19) as a user meets them: GraphQL over HTTP against a running
// gateway whose clock the test moves (no test sleeps through a grace period). Accepted mutations
// are checked down to the events they appended, and what the scheduler appends when time comes:
// once, across a restart too. The PostgreSQL failover case is in rotation-failover.int.test.ts.

import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ApiKeysDocument,
  AuditLogDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  OrganizationDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  RotateApiKeyDocument,
  RotateApplicationKeyDocument,
  RotatedApiKeysDocument,
  RotatedApplicationKeysDocument,
  ViewerDocument,
} from '../gql/graphql.js';
import { TestClock } from '../support/clock.js';
import {
  actingAs,
  apiKeyRevoked,
  apiKeyRotated,
  applicationKeyCreated,
  applicationKeyExpired,
  applicationKeyRevoked,
  applicationKeyRotated,
  expectNoSecretIn,
  uuidOf,
} from '../support/events.js';
import { startGateway, type Credentials, type TestGateway } from '../support/gateway.js';
import { expectNoNewEvent, member } from '../support/members.js';

const SECOND = 1000;
const HOUR = 3600;
const clock = new TestClock();
let g: TestGateway;

beforeAll(async () => {
  g = await startGateway({ clock });
});
afterAll(async () => {
  await g.close();
});

const isoIn = (seconds: number) => new Date(clock.now().getTime() + seconds * SECOND).toISOString();

/** GET /api/v1/validate: 200 for an API key that authenticates agents (R4), 403 otherwise. */
async function validates(apiKey: string): Promise<number> {
  return (await fetch(`${g.url}/api/v1/validate`, { headers: { 'x-api-key': apiKey } })).status;
}

/** Whether an API key and an application key open the GraphQL API (200) or not (401). */
async function opens(credentials: Credentials): Promise<number> {
  return (await g.call(ViewerDocument, {}, credentials)).status;
}

/** The stored events of a type about a credential (data.keyId), with their metadata. */
async function eventsAbout(type: string, keyId: string) {
  const found = [];
  for await (const page of g.app.store.readAll()) {
    for (const e of page) if (e.type === type && (e.data as { keyId?: string }).keyId === uuidOf(keyId)) found.push(e);
  }
  return found;
}

/**
 * Moves the clock, and waits until the scheduler has done what that made due: first what the
 * last mutations asked of it (a rotation lands: it looks for the next due time), then what the
 * timer it set fires.
 */
async function advance(seconds: number) {
  await g.app.scheduler.idle();
  clock.advance(seconds * SECOND);
  await g.app.scheduler.idle();
}

async function expectEvents(type: string, keyId: string, count: number) {
  expect(await eventsAbout(type, keyId), `${type} about ${keyId}`).toHaveLength(count);
}

async function apiKey(name: string, as: Credentials = g.admin) {
  const created = await g.call(CreateApiKeyDocument, { name }, as);
  expect(created.errors).toBeUndefined();
  return created.data!.createApiKey;
}

describe('rotating an API key (R18)', () => {
  it('R18: the successor has the same name and a new secret, shown once; both keys work during the grace; the predecessor is listed with its successor and revokesAt', async () => {
    const { orgId, principalId } = await actingAs(g, g.admin);
    const old = await apiKey('ci agents');
    const revokeAt = isoIn(HOUR);
    const { result, events } = await g.appendedBy(() => g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: HOUR }));
    expect(result.errors).toBeUndefined();
    const rotated = result.data!.rotateApiKey;
    expect(events).toEqual([
      apiKeyRotated({ orgId, keyId: old.apiKey.id, successorId: rotated.apiKey.id, name: 'ci agents', secret: rotated.secret, createdBy: principalId, revokeAt }),
    ]);
    expectNoSecretIn(events, rotated.secret, old.secret);

    // A new key: its own id and secret, the same name, active; the secret is this payload's alone.
    expect(rotated.apiKey).toMatchObject({ name: 'ci agents', status: 'ACTIVE', last4: rotated.secret.slice(-4), revokesAt: null, successor: null });
    expect(rotated.apiKey.id).not.toBe(old.apiKey.id);
    expect(rotated.secret).not.toBe(old.secret);
    expect(rotated.predecessor).toMatchObject({
      id: old.apiKey.id,
      status: 'ACTIVE',
      revocationReason: null,
      revokesAt: revokeAt,
      successor: { id: rotated.apiKey.id, name: 'ci agents', status: 'ACTIVE' },
    });

    // Both authenticate until the grace ends.
    expect(await validates(old.secret)).toBe(200);
    expect(await validates(rotated.secret)).toBe(200);
    expect(await opens({ apiKey: old.secret, applicationKey: g.admin.applicationKey })).toBe(200);
    expect(await opens({ apiKey: rotated.secret, applicationKey: g.admin.applicationKey })).toBe(200);

    // Listed: the predecessor names its successor and when it is revoked; no list shows a secret.
    const listed = await g.call(RotatedApiKeysDocument, { filter: { nameContains: 'ci agents' } });
    expect(listed.data?.apiKeys.totalCount).toBe(2);
    const byId = new Map(listed.data!.apiKeys.edges.map((e) => [e.node.id, e.node]));
    expect(byId.get(old.apiKey.id)).toMatchObject({ status: 'ACTIVE', revokesAt: revokeAt, successor: { id: rotated.apiKey.id } });
    expect(byId.get(rotated.apiKey.id)).toMatchObject({ status: 'ACTIVE', revokesAt: null, successor: null });
    expect(JSON.stringify(listed.data)).not.toContain(rotated.secret.slice(8));
  });

  it('R18: when the grace ends the scheduler revokes the predecessor once (reason ROTATED): by the injected clock, not before', async () => {
    const { orgId } = await actingAs(g, g.admin);
    const old = await apiKey('nightly');
    const rotated = (await g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: 10 * 60 })).data!.rotateApiKey;

    // A second before the end: nothing is due, and the key works.
    await advance(10 * 60 - 1);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 0);
    expect(await validates(old.secret)).toBe(200);

    const { events } = await g.appendedBy(() => advance(1));
    expect(events).toEqual([apiKeyRevoked({ orgId, keyId: old.apiKey.id, reason: 'ROTATED' })]);
    // The scheduler acted, as keyledger itself: no principal, no credential.
    const [revocation] = await eventsAbout('ApiKeyRevoked', old.apiKey.id);
    expect(revocation!.metadata).toMatchObject({ via: 'scheduler', actorPrincipalId: null, actorApiKeyId: null, actorAppKeyId: null });

    expect(await validates(old.secret)).toBe(403);
    expect(await validates(rotated.secret)).toBe(200);
    const listed = await g.call(RotatedApiKeysDocument, { filter: { nameContains: 'nightly' } });
    const predecessor = listed.data!.apiKeys.edges.find((e) => e.node.id === old.apiKey.id)!.node;
    expect(predecessor).toMatchObject({ status: 'REVOKED', revocationReason: 'ROTATED', successor: { id: rotated.apiKey.id } });

    // Exactly once: more time, nothing more.
    await advance(HOUR);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 1);
  });

  it('R18: a grace of 0 (the default) revokes the predecessor at once, reason ROTATED, in the same append', async () => {
    const { orgId, principalId } = await actingAs(g, g.admin);
    const old = await apiKey('deploy');
    const { result, events } = await g.appendedBy(() => g.call(RotateApiKeyDocument, { id: old.apiKey.id }));
    const rotated = result.data!.rotateApiKey;
    expect(events).toEqual([
      apiKeyRotated({ orgId, keyId: old.apiKey.id, successorId: rotated.apiKey.id, name: 'deploy', secret: rotated.secret, createdBy: principalId, revokeAt: isoIn(0) }),
      apiKeyRevoked({ orgId, keyId: old.apiKey.id, reason: 'ROTATED' }),
    ]);
    expect(rotated.predecessor).toMatchObject({ status: 'REVOKED', revocationReason: 'ROTATED', successor: { id: rotated.apiKey.id } });
    expect(await validates(old.secret)).toBe(403);
    expect(await validates(rotated.secret)).toBe(200);
    await advance(HOUR);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 1);
  });

  it('R18, R2, R3: an organization at its API-key limit rotates: the predecessor in its grace holds neither a slot nor its name', async () => {
    const { org, admin } = await g.newOrg();
    await g.app.keyledger.setApiKeyLimit(org.organization.id, 2);
    const second = await apiKey('second', admin);
    expect((await g.call(CreateApiKeyDocument, { name: 'third' }, admin)).code).toBe('API_KEY_LIMIT');
    for (const id of [second.apiKey.id, encodeGlobalID('ApiKey', org.apiKey.credential.id)]) {
      const rotated = await g.call(RotateApiKeyDocument, { id, gracePeriod: HOUR }, admin);
      expect(rotated.errors, id).toBeUndefined();
    }
    // Two keys hold the two slots (the successors); the predecessors still work, and count for nothing.
    expect((await g.call(OrganizationDocument, {}, admin)).data?.organization).toMatchObject({ apiKeyLimit: 2, activeApiKeyCount: 2 });
    expect((await g.call(ApiKeysDocument, { filter: { status: 'ACTIVE' } }, admin)).data?.apiKeys.totalCount).toBe(4);
    expect((await g.call(CreateApiKeyDocument, { name: 'third' }, admin)).code).toBe('API_KEY_LIMIT');
    // The name is the successor's: a new key cannot take it.
    expect((await g.call(CreateApiKeyDocument, { name: 'SECOND' }, admin)).code).toBe('NAME_TAKEN');
  });

  it('R18: a key in its grace is ALREADY_ROTATED; revoked by hand it stops at once and its grace ends with nothing to record; a revoked key cannot be rotated', async () => {
    const { orgId } = await actingAs(g, g.admin);
    const old = await apiKey('rotated twice');
    await g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: HOUR });
    const again = await expectNoNewEvent(g, () => g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: HOUR }));
    expect(again.code).toBe('ALREADY_ROTATED');

    const byHand = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: old.apiKey.id }));
    expect(byHand.result.data?.revokeApiKey.apiKey).toMatchObject({ status: 'REVOKED', revocationReason: 'REVOKED' });
    expect(byHand.events).toEqual([apiKeyRevoked({ orgId, keyId: old.apiKey.id, reason: 'REVOKED' })]);
    expect(await validates(old.secret)).toBe(403);
    await advance(2 * HOUR);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 1);

    const revoked = await expectNoNewEvent(g, () => g.call(RotateApiKeyDocument, { id: old.apiKey.id }));
    expect(revoked.code).toBe('ALREADY_REVOKED');
  });

  it('R18, R29: gracePeriod outside 0 to 7 days is BAD_USER_INPUT on gracePeriod, and nothing is stored', async () => {
    const key = await apiKey('bounded');
    for (const gracePeriod of [-1, 7 * 24 * HOUR + 1, 2 ** 31 - 1]) {
      const refused = await expectNoNewEvent(g, () => g.call(RotateApiKeyDocument, { id: key.apiKey.id, gracePeriod }));
      expect(refused.code, String(gracePeriod)).toBe('BAD_USER_INPUT');
      expect(refused.errors?.[0]?.extensions?.field).toBe('gracePeriod');
    }
    const week = await g.call(RotateApiKeyDocument, { id: key.apiKey.id, gracePeriod: 7 * 24 * HOUR });
    expect(week.data?.rotateApiKey.predecessor.revokesAt).toBe(isoIn(7 * 24 * HOUR));
  });

  it('R18, R20: rotating needs api_keys_write and api_keys_delete (FORBIDDEN); another organization’s key is NOT_FOUND', async () => {
    const key = await apiKey('guarded');
    const standard = await member(g, 'STANDARD');
    expect((await expectNoNewEvent(g, () => g.call(RotateApiKeyDocument, { id: key.apiKey.id }, standard.credentials))).code).toBe('FORBIDDEN');
    const other = await g.newOrg();
    expect((await expectNoNewEvent(g, () => g.call(RotateApiKeyDocument, { id: key.apiKey.id }, other.admin))).code).toBe('NOT_FOUND');
  });
});

describe('rotating an application key (R18)', () => {
  it('R18: the successor has the same name, scopes, owner and expiry and a new secret; both work during the grace; at its end the predecessor is revoked once', async () => {
    const { orgId, principalId: adminId } = await actingAs(g, g.admin);
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const expiresAt = isoIn(30 * 24 * HOUR);
    const created = await g.appendedBy(() =>
      g.call(CreateApplicationKeyDocument, { name: 'deployer', ownerId: robot.id, scopes: ['dashboards_read', 'monitors_read'], expiresAt }),
    );
    const old = created.result.data!.createApplicationKey;
    expect(created.events).toEqual([
      applicationKeyCreated({
        principalId: robot.id,
        orgId,
        keyId: old.applicationKey.id,
        name: 'deployer',
        secret: old.secret,
        scopes: ['dashboards_read', 'monitors_read'],
        expiresAt,
        createdBy: adminId,
      }),
    ]);

    const revokeAt = isoIn(HOUR);
    const { result, events } = await g.appendedBy(() => g.call(RotateApplicationKeyDocument, { id: old.applicationKey.id, gracePeriod: HOUR }));
    expect(result.errors).toBeUndefined();
    const rotated = result.data!.rotateApplicationKey;
    expect(events).toEqual([
      applicationKeyRotated({
        principalId: robot.id,
        orgId,
        keyId: old.applicationKey.id,
        successorId: rotated.applicationKey.id,
        name: 'deployer',
        secret: rotated.secret,
        scopes: ['dashboards_read', 'monitors_read'],
        expiresAt,
        createdBy: adminId,
        revokeAt,
      }),
    ]);
    expectNoSecretIn(events, rotated.secret, old.secret);
    expect(rotated.applicationKey).toMatchObject({
      name: 'deployer',
      scopes: ['dashboards_read', 'monitors_read'],
      expiresAt,
      owner: { id: robot.id },
      status: 'ACTIVE',
      last4: rotated.secret.slice(-4),
      successor: null,
    });
    expect(rotated.secret).not.toBe(old.secret);
    expect(rotated.predecessor).toMatchObject({ status: 'ACTIVE', revokesAt: revokeAt, successor: { id: rotated.applicationKey.id, name: 'deployer' } });

    const withOld = { apiKey: g.admin.apiKey, applicationKey: old.secret };
    const withNew = { apiKey: g.admin.apiKey, applicationKey: rotated.secret };
    expect(await opens(withOld)).toBe(200);
    expect(await opens(withNew)).toBe(200);
    const listed = await g.call(RotatedApplicationKeysDocument, { filter: { ownerId: robot.id } });
    expect(listed.errors).toBeUndefined();
    const byId = new Map(listed.data!.applicationKeys.edges.map((e) => [e.node.id, e.node]));
    expect(byId.get(old.applicationKey.id)).toMatchObject({ status: 'ACTIVE', revokesAt: revokeAt, successor: { id: rotated.applicationKey.id } });

    const end = await g.appendedBy(() => advance(HOUR));
    expect(end.events).toEqual([applicationKeyRevoked({ principalId: robot.id, orgId, keyId: old.applicationKey.id, reason: 'ROTATED' })]);
    expect(await opens(withOld)).toBe(401);
    expect(await opens(withNew)).toBe(200);
    await advance(HOUR);
    await expectEvents('ApplicationKeyRevoked', old.applicationKey.id, 1);
  });

  it('R18, R3, R8, R20: one’s own key rotates with user_app_keys and keeps its name; without the permission FORBIDDEN; another organization’s NOT_FOUND; in its grace ALREADY_ROTATED', async () => {
    const standard = await member(g, 'STANDARD');
    const own = await g.call(RotateApplicationKeyDocument, { id: standard.keyId, gracePeriod: 60 }, standard.credentials);
    expect(own.errors).toBeUndefined();
    expect(own.data?.rotateApplicationKey.applicationKey.name).toBe(standard.keyName);
    const again = await expectNoNewEvent(g, () => g.call(RotateApplicationKeyDocument, { id: standard.keyId }, standard.credentials));
    expect(again.code).toBe('ALREADY_ROTATED');
    // By hand, at any time.
    expect((await g.call(RevokeApplicationKeyDocument, { id: standard.keyId })).data?.revokeApplicationKey.applicationKey.status).toBe('REVOKED');

    const readOnly = await member(g, 'READ_ONLY');
    expect((await expectNoNewEvent(g, () => g.call(RotateApplicationKeyDocument, { id: readOnly.keyId }, readOnly.credentials))).code).toBe('FORBIDDEN');
    const other = await g.newOrg();
    expect((await expectNoNewEvent(g, () => g.call(RotateApplicationKeyDocument, { id: readOnly.keyId }, other.admin))).code).toBe('NOT_FOUND');
  });
});

describe('expiry (R19)', () => {
  it('R19: when an application key passes its expiresAt, one ApplicationKeyExpired is recorded; it reads EXPIRED and authentication refuses it', async () => {
    const { orgId } = await actingAs(g, g.admin);
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const expiresAt = isoIn(2 * HOUR);
    const key = (await g.call(CreateApplicationKeyDocument, { name: 'short-lived', ownerId: robot.id, expiresAt })).data!.createApplicationKey;
    const credentials = { apiKey: g.admin.apiKey, applicationKey: key.secret };
    expect(await opens(credentials)).toBe(200);

    await advance(2 * HOUR - 1);
    await expectEvents('ApplicationKeyExpired', key.applicationKey.id, 0);
    expect(await opens(credentials)).toBe(200);

    const { events } = await g.appendedBy(() => advance(1));
    expect(events).toEqual([applicationKeyExpired({ principalId: robot.id, orgId, keyId: key.applicationKey.id, expiresAt })]);
    const refused = await g.call(ViewerDocument, {}, credentials);
    expect(refused.status).toBe(401);
    expect(refused.code).toBe('UNAUTHENTICATED');
    const listed = await g.call(RotatedApplicationKeysDocument, { filter: { ownerId: robot.id, status: 'EXPIRED' } });
    expect(listed.data?.applicationKeys.edges.map((e) => e.node)).toEqual([expect.objectContaining({ id: key.applicationKey.id, status: 'EXPIRED', revocationReason: null })]);

    await advance(24 * HOUR);
    await expectEvents('ApplicationKeyExpired', key.applicationKey.id, 1);
  });
});

describe('across a restart (R18, R19)', () => {
  it('R18, R19: stopped during the grace, restarted after it (and after an expiry): the new gateway records each once', async () => {
    const old = await apiKey('survives restarts');
    const rotated = (await g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: HOUR })).data!.rotateApiKey;
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const expiring = (await g.call(CreateApplicationKeyDocument, { name: 'expiring', ownerId: robot.id, expiresAt: isoIn(HOUR / 2) })).data!.createApplicationKey;

    // Down while both fall due.
    await g.app.scheduler.idle();
    await g.restart(async () => {
      clock.advance(2 * HOUR * SECOND);
    });
    await vi.waitFor(async () => expect(await eventsAbout('ApiKeyRevoked', old.apiKey.id)).toHaveLength(1), { timeout: 10_000, interval: 50 });
    await vi.waitFor(async () => expect(await eventsAbout('ApplicationKeyExpired', expiring.applicationKey.id)).toHaveLength(1), { timeout: 10_000, interval: 50 });
    const [revocation] = await eventsAbout('ApiKeyRevoked', old.apiKey.id);
    expect(revocation!.data).toMatchObject({ reason: 'ROTATED' });
    expect(await validates(old.secret)).toBe(403);
    expect(await validates(rotated.secret)).toBe(200);

    // Restarted again: nothing is due any more, and nothing is appended twice.
    await g.app.scheduler.idle();
    await g.restart(async () => {
      clock.advance(HOUR * SECOND);
    });
    await vi.waitFor(() => expect(g.app.runner.leading).toBe(true));
    await advance(0);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 1);
    await expectEvents('ApplicationKeyExpired', expiring.applicationKey.id, 1);
  });
});

describe('the audit log (R23)', () => {
  it('R23: rotations, the revocations at the end of a grace and expiries are lifecycle entries', async () => {
    const { principalId: adminId } = await actingAs(g, g.admin);
    const old = await apiKey('audited');
    const rotated = (await g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: 60 })).data!.rotateApiKey;
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const expiring = (await g.call(CreateApplicationKeyDocument, { name: 'audited', ownerId: robot.id, expiresAt: isoIn(30) })).data!.createApplicationKey;
    await advance(60);
    await expectEvents('ApiKeyRevoked', old.apiKey.id, 1);
    await expectEvents('ApplicationKeyExpired', expiring.applicationKey.id, 1);

    const entriesAbout = async (credentialId: string) => {
      // The lifecycle projection (audit_log) follows the same events; wait for it too.
      let found: { eventType: string; subjectId: string | null; details: string | null; principal: { id: string } | null; apiKeyId: string | null }[] = [];
      await vi.waitFor(
        async () => {
          const log = await g.call(AuditLogDocument, { filter: { kind: 'LIFECYCLE' }, first: 100 });
          found = log.data!.auditLog.edges.map((e) => e.node).filter((e) => e.subjectId === credentialId);
          expect(found.length).toBeGreaterThan(0);
        },
        { timeout: 10_000 },
      );
      return found;
    };
    const aboutOld = await entriesAbout(old.apiKey.id);
    const rotation = aboutOld.find((e) => e.eventType === 'ApiKeyRotated')!;
    // Made by the admin through their keys; its details name the successor and the end of the grace, never a digest.
    expect(rotation).toMatchObject({ principal: { id: expect.any(String) }, apiKeyId: expect.any(String) });
    expect(uuidOf(rotation.principal!.id)).toBe(adminId);
    expect(JSON.parse(rotation.details!)).toMatchObject({ successorId: uuidOf(rotated.apiKey.id), name: 'audited', last4: rotated.secret.slice(-4) });
    expect(rotation.details).not.toMatch(/digest/);
    // Made by the scheduler: no principal, no credential.
    const revocation = aboutOld.find((e) => e.eventType === 'ApiKeyRevoked')!;
    expect(revocation).toMatchObject({ principal: null, apiKeyId: null });
    expect(JSON.parse(revocation.details!)).toMatchObject({ reason: 'ROTATED' });
    const expiry = (await entriesAbout(expiring.applicationKey.id)).find((e) => e.eventType === 'ApplicationKeyExpired');
    expect(expiry).toMatchObject({ principal: null, apiKeyId: null });
  });
});
