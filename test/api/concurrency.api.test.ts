// Races over HTTP, on SQLite and on PostgreSQL: the org's invariants hold whatever the
// interleaving (R1, R2, R3), because they are decided on one stream with its expected revision.
// The events appended are exactly those of the winners.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ApiKeysDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  OrganizationDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  ViewerDocument,
} from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { apiKeyCreated, apiKeyRevoked, applicationKeyRevoked, clientTokenCreated, expectNoSecretIn, uuidOf } from '../support/events.js';
import { describePg, pgReachable } from '../support/pg.js';

const pg = await pgReachable();

function races(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway({ store });
  });
  afterAll(async () => {
    await g.close();
  });

  it(`R2: 20 concurrent createApiKey with 3 slots left: exactly 3 succeed (${store})`, async () => {
    const { org, admin } = await g.newOrg();
    await g.app.keyledger.setApiKeyLimit(org.organization.id, 4);
    const before = await g.eventCount();
    const { result: answers, events } = await g.appendedBy(() => Promise.all(Array.from({ length: 20 }, (_, i) => g.call(CreateApiKeyDocument, { name: `racer ${i}` }, admin))));
    const created = answers.filter((a) => a.errors === undefined);
    expect(created).toHaveLength(3);
    expect(answers.filter((a) => a.code === 'API_KEY_LIMIT')).toHaveLength(17);
    expect(await g.eventCount()).toBe(before + 3);
    // One ApiKeyCreated per winner, none for the others.
    const byKeyId = (e: { data: unknown }) => (e.data as { keyId: string }).keyId;
    const winners = created.map((a) => a.data!.createApiKey);
    expect([...events].sort((a, b) => byKeyId(a).localeCompare(byKeyId(b)))).toEqual(
      winners
        .map((w) => apiKeyCreated({ orgId: org.organization.id, keyId: w.apiKey.id, name: w.apiKey.name, secret: w.secret, createdBy: org.admin.id }))
        .sort((a, b) => byKeyId(a).localeCompare(byKeyId(b))),
    );
    expectNoSecretIn(events, ...winners.map((w) => w.secret));
    expect((await g.call(OrganizationDocument, {}, admin)).data?.organization.activeApiKeyCount).toBe(4);
  });

  it(`R1: concurrent revokes of an org's last two API keys: exactly one succeeds (${store})`, async () => {
    const { org, admin } = await g.newOrg();
    await g.call(CreateApiKeyDocument, { name: 'second' }, admin);
    const keys = (await g.call(ApiKeysDocument, {}, admin)).data!.apiKeys.edges.map((e) => e.node.id);
    expect(keys).toHaveLength(2);
    const { result: answers, events } = await g.appendedBy(() =>
      Promise.all(keys.flatMap((id) => [g.call(RevokeApiKeyDocument, { id }, admin), g.call(RevokeApiKeyDocument, { id }, admin)])),
    );
    const revoked = answers.filter((a) => a.errors === undefined);
    expect(revoked).toHaveLength(1);
    expect(events).toEqual([apiKeyRevoked({ orgId: org.organization.id, keyId: revoked[0]!.data!.revokeApiKey.apiKey.id, reason: 'REVOKED' })]);
    for (const a of answers.filter((a) => a.errors !== undefined)) expect(['LAST_API_KEY', 'ALREADY_REVOKED', 'UNAUTHENTICATED']).toContain(a.code);
    const remaining = await g.app.readStore.db
      .selectFrom('credentials')
      .select(['id', 'status'])
      .where('kind', '=', 'API_KEY')
      .where(
        'id',
        'in',
        keys.map((id) => Buffer.from(id, 'base64').toString().split(':')[1]!),
      )
      .execute();
    expect(remaining.filter((k) => k.status === 'ACTIVE')).toHaveLength(1);
  });

  it(`R3: concurrent creates with one name: exactly one succeeds (${store})`, async () => {
    const { org, admin } = await g.newOrg();
    const orgId = org.organization.id;
    const before = await g.eventCount();
    const names = ['Ingest', 'ingest', ' INGEST ', 'Ingest', 'iNgEsT', 'Ingest ', 'ingest', 'INGEST'];
    const { result: apiKeys, events: apiKeyEvents } = await g.appendedBy(() => Promise.all(names.map((name) => g.call(CreateApiKeyDocument, { name }, admin))));
    const { result: tokens, events: tokenEvents } = await g.appendedBy(() => Promise.all(names.map((name) => g.call(CreateClientTokenDocument, { name }, admin))));
    for (const answers of [apiKeys, tokens]) {
      expect(answers.filter((a) => a.errors === undefined)).toHaveLength(1);
      expect(answers.filter((a) => a.code === 'NAME_TAKEN')).toHaveLength(names.length - 1);
    }
    expect(await g.eventCount()).toBe(before + 2);
    // The winner's event, under the winner's (trimmed) spelling.
    const key = apiKeys.find((a) => a.errors === undefined)!.data!.createApiKey;
    const token = tokens.find((a) => a.errors === undefined)!.data!.createClientToken;
    expect(names.map((n) => n.trim())).toContain(key.apiKey.name);
    expect(names.map((n) => n.trim())).toContain(token.clientToken.name);
    expect(apiKeyEvents).toEqual([apiKeyCreated({ orgId, keyId: key.apiKey.id, name: key.apiKey.name, secret: key.secret, createdBy: org.admin.id })]);
    expect(tokenEvents).toEqual([clientTokenCreated({ orgId, tokenId: token.clientToken.id, name: token.clientToken.name, secret: token.secret, createdBy: org.admin.id })]);
    expectNoSecretIn([...apiKeyEvents, ...tokenEvents], key.secret, token.secret);
  });

  // Two processes on one SQLite file are not a deployment keyledger supports; on PostgreSQL they are.
  it.skipIf(store === 'sqlite')(`R2: two gateway instances on one store share the limit (${store})`, async () => {
    const { org, admin } = await g.newOrg();
    await g.app.keyledger.setApiKeyLimit(org.organization.id, 5);
    const twin = await g.twin();
    try {
      const { result: answers, events } = await g.appendedBy(() =>
        Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? g : twin).call(CreateApiKeyDocument, { name: `twin racer ${i}` }, admin))),
      );
      expect(answers.filter((a) => a.errors === undefined)).toHaveLength(4);
      expect(answers.filter((a) => a.code === 'API_KEY_LIMIT')).toHaveLength(12);
      // Both instances appended to the one org stream: one ApiKeyCreated per winner, whichever instance it asked.
      const winners = answers.filter((a) => a.errors === undefined).map((a) => a.data!.createApiKey);
      expect(events.map((e) => [e.type, e.stream])).toEqual(winners.map(() => ['ApiKeyCreated', `org-${org.organization.id}`]));
      expect(events.map((e) => (e.data as { keyId: string }).keyId).sort()).toEqual(winners.map((w) => uuidOf(w.apiKey.id, ['ApiKey'])).sort());
      expectNoSecretIn(events, ...winners.map((w) => w.secret));
    } finally {
      await twin.close();
    }
  });

  it.skipIf(store === 'sqlite')(`R17: a revocation on one instance is refused by another within one second (${store})`, async () => {
    const twin = await g.twin();
    try {
      const key = (await g.call(CreateApplicationKeyDocument, { name: `revoked across ${Math.random()}` })).data!.createApplicationKey;
      const credentials = { apiKey: g.admin.apiKey, applicationKey: key.secret };
      // The twin learns of the new key from the store, then of its revocation.
      await vi.waitUntil(async () => (await twin.call(ViewerDocument, {}, credentials)).status === 200, { timeout: 5000, interval: 20 });
      const { events } = await g.appendedBy(() => g.call(RevokeApplicationKeyDocument, { id: key.applicationKey.id }));
      const revokedAt = performance.now();
      expect(events).toEqual([applicationKeyRevoked({ principalId: g.org.admin.id, orgId: g.org.organization.id, keyId: key.applicationKey.id, reason: 'REVOKED' })]);
      await vi.waitUntil(async () => (await twin.call(ViewerDocument, {}, credentials)).status === 401, { timeout: 1000, interval: 10 });
      expect(performance.now() - revokedAt).toBeLessThan(1000);
    } finally {
      await twin.close();
    }
  });
}

describe('races on SQLite', () => {
  races('sqlite');
});
describePg(pg, 'races on PostgreSQL', () => races('postgres'));
