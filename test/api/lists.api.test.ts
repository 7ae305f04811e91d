// Lists as dashboards use them: Relay connections with totalCount, filters and an order, and
// a page of keys with their owners and creators at a fixed number of store queries.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeysDocument,
  ApplicationKeysDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  DashboardDocument,
  PrincipalsDocument,
  RevokeApiKeyDocument,
  type ApiKeysQuery,
} from '../gql/graphql.js';
import { startGateway, type Answer, type TestGateway } from '../support/gateway.js';
import { apiKeyRevoked } from '../support/events.js';
import { member, type Member } from '../support/members.js';

let g: TestGateway;
let members: Member[];
const names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo', 'foxtrot', 'golf'];

beforeAll(async () => {
  g = await startGateway();
  for (const name of names) {
    const created = await g.call(CreateApiKeyDocument, { name });
    expect(created.errors).toBeUndefined();
  }
  members = [];
  for (let i = 0; i < 6; i++) members.push(await member(g, i % 3 === 0 ? 'ADMIN' : 'STANDARD', { kind: i % 2 === 0 ? 'USER' : 'SERVICE_ACCOUNT' }));
  // Keys made by the members themselves, so owners and creators vary.
  for (const m of members.filter((m) => m.kind === 'USER')) await g.call(CreateApplicationKeyDocument, { name: 'own' }, m.credentials);
});
afterAll(async () => {
  await g.close();
});

describe('lists', () => {
  it('pages through API keys with a stable cursor, by name or creation, both ways', async () => {
    const all = ['Default API key', ...names];
    const byName = [...all].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    for (const [orderBy, expected] of [
      [{ field: 'NAME' as const, direction: 'ASC' as const }, byName],
      [{ field: 'NAME' as const, direction: 'DESC' as const }, [...byName].reverse()],
      [{ field: 'CREATED_AT' as const, direction: 'ASC' as const }, all],
      [{ field: 'CREATED_AT' as const, direction: 'DESC' as const }, [...all].reverse()],
    ] as const) {
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 10; page++) {
        const answer: Answer<ApiKeysQuery> = await g.call(ApiKeysDocument, { first: 3, after, orderBy });
        const connection: ApiKeysQuery['apiKeys'] = answer.data!.apiKeys;
        expect(connection.totalCount).toBe(all.length);
        seen.push(...connection.edges.map((e) => e.node.name));
        if (!connection.pageInfo.hasNextPage) break;
        after = connection.pageInfo.endCursor ?? null;
      }
      expect(seen, JSON.stringify(orderBy)).toEqual(expected);
    }
  });

  it('filters by status, name, creator and creation time', async () => {
    const golf = (await g.call(ApiKeysDocument, { filter: { nameContains: 'GOL' } })).data!.apiKeys;
    expect(golf.edges.map((e) => e.node.name)).toEqual(['golf']);
    const revoked = await g.appendedBy(() => g.call(RevokeApiKeyDocument, { id: golf.edges[0]!.node.id }));
    expect(revoked.events).toEqual([apiKeyRevoked({ orgId: g.org.organization.id, keyId: golf.edges[0]!.node.id, reason: 'REVOKED' })]);
    expect((await g.call(ApiKeysDocument, { filter: { status: 'REVOKED' } })).data!.apiKeys.edges.map((e) => e.node.name)).toEqual(['golf']);
    expect((await g.call(ApiKeysDocument, { filter: { status: 'ACTIVE' } })).data!.apiKeys.totalCount).toBe(names.length);
    // `%` and `_` are matched literally.
    expect((await g.call(ApiKeysDocument, { filter: { nameContains: '%' } })).data!.apiKeys.totalCount).toBe(0);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await g.call(ApiKeysDocument, { filter: { createdAfter: future } })).data!.apiKeys.totalCount).toBe(0);
    expect((await g.call(ApiKeysDocument, { filter: { createdBefore: future } })).data!.apiKeys.totalCount).toBe(names.length + 1);
    const byMember = (await g.call(ApplicationKeysDocument, { filter: { createdById: members[0]!.id } })).data!.applicationKeys;
    expect(byMember.edges.map((e) => [e.node.name, e.node.owner.id])).toEqual([['own', members[0]!.id]]);
    expect((await g.call(ApiKeysDocument, { filter: { ownerId: members[0]!.id } })).code).toBe('BAD_USER_INPUT');
  });

  it('filters principals by kind, role and name, and refuses a cursor of another order', async () => {
    const robots = (await g.call(PrincipalsDocument, { filter: { kind: 'SERVICE_ACCOUNT' } })).data!.principals;
    expect(robots.totalCount).toBe(3);
    expect(robots.edges.every((e) => e.node.__typename === 'ServiceAccount')).toBe(true);
    const admins = (await g.call(PrincipalsDocument, { filter: { role: 'ADMIN', kind: 'USER' } })).data!.principals;
    expect(admins.edges.map((e) => e.node.name).sort()).toEqual(
      ['Ada Admin', expect.stringMatching(/^User /)].sort((a, b) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0)),
    );
    const page = (await g.call(ApiKeysDocument, { first: 2, orderBy: { field: 'NAME', direction: 'ASC' } })).data!.apiKeys;
    const wrongOrder = await g.call(ApiKeysDocument, { first: 2, after: page.pageInfo.endCursor, orderBy: { field: 'CREATED_AT', direction: 'ASC' } });
    expect([wrongOrder.code, wrongOrder.errors?.[0]?.extensions?.field]).toEqual(['BAD_USER_INPUT', 'after']);
  });

  it('serves a dashboard page of keys with owners and creators at a fixed number of store queries', async () => {
    const cost = async (first: number) => {
      const before = g.statements();
      const answer = await g.call(DashboardDocument, { first });
      expect(answer.errors).toBeUndefined();
      return { statements: g.statements() - before, answer };
    };
    // Projections write in the background (every request is audited): pause them to count the
    // queries of the request alone.
    await g.app.runner.stop();
    const small = await cost(2);
    const large = await cost(50);
    g.app.runner.start();
    expect(large.answer.data!.apiKeys.edges.length).toBe(names.length + 1);
    expect(large.answer.data!.applicationKeys.edges.length).toBeGreaterThan(8);
    // Same number of queries for 2 keys as for 50: owners and creators are batched.
    expect(large.statements).toBe(small.statements);
    // Authentication none (the CredentialIndex is in memory), two pages and two counts, one batch
    // of principals for each of the three principal fields at most: a small constant.
    expect(large.statements).toBeLessThanOrEqual(7);
    const owners = new Set(large.answer.data!.applicationKeys.edges.map((e) => e.node.owner.id));
    expect(owners.size).toBeGreaterThan(3);
  });
});
