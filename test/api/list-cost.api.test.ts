// What a list page costs the read store, over GraphQL over HTTP: at most 3 statements beyond
// authentication (which reads nothing: the CredentialIndex is in memory), the same for a page of
// 1, 10 or 50, for the dashboard (two lists side by side, with owners and creators) and for
// every connection. A page reads its rows and its totalCount in one statement, and the principals
// all the lists of a request show in one batch.

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyDocument, CreateApplicationKeyDocument, CreateClientTokenDocument, DashboardDocument } from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { member, type Member } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';

const pg = await pgReachable();

const SIZES = [1, 10, 50] as const;
/** Beyond authentication: a page and its count, a page and its count, one batch of principals. */
const MAX_STATEMENTS = 3;

type Page = { totalCount: number; pageInfo?: { endCursor: string | null; hasNextPage: boolean }; edges: { node: Record<string, unknown> }[] };
type Variables = { first: number; after?: string | null };

function document<R, V extends Record<string, unknown> = Variables>(text: string): TypedDocumentNode<R, V> {
  return parse(text);
}

const PRINCIPAL = 'id name role';
const CONNECTIONS: Record<string, TypedDocumentNode<Record<string, Page>, Variables>> = {
  apiKeys: document(`query($first: Int, $after: String) { apiKeys(first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage } edges { cursor node { id name status createdBy { ${PRINCIPAL} } } } } }`),
  applicationKeys: document(`query($first: Int, $after: String) { applicationKeys(first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage } edges { node { id name scopes effectivePermissions owner { ${PRINCIPAL} } createdBy { ${PRINCIPAL} } } } } }`),
  clientTokens: document(`query($first: Int, $after: String) { clientTokens(first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage } edges { node { id name allowedOrigins createdBy { ${PRINCIPAL} } } } } }`),
  principals: document(`query($first: Int, $after: String) { principals(first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage } edges { node { __typename ${PRINCIPAL} ... on User { email } } } } }`),
  auditLog: document(`query($first: Int, $after: String) { auditLog(first: $first, after: $after) {
    totalCount pageInfo { endCursor hasNextPage } edges { node { seq eventType principal { ${PRINCIPAL} } subjectId } } } }`),
};

function listCost(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  let members: Member[];

  beforeAll(async () => {
    g = await startGateway({ store });
    // 55 API keys, application keys and client tokens each: full pages of 50, with several owners and creators.
    await g.app.keyledger.setApiKeyLimit(g.org.organization.id, 100);
    members = [];
    for (let i = 0; i < 6; i++) members.push(await member(g, i % 2 === 0 ? 'ADMIN' : 'STANDARD', { kind: i % 3 === 2 ? 'SERVICE_ACCOUNT' : 'USER' }));
    for (let i = 0; i < 55; i++) {
      const by = members[i % 3 === 0 ? 0 : 2]!;
      expect((await g.call(CreateApiKeyDocument, { name: `key ${i}` }, i % 2 === 0 ? g.admin : by.credentials)).errors).toBeUndefined();
      const owner = members[i % members.length]!;
      expect((await g.call(CreateApplicationKeyDocument, { name: `app key ${i}`, ownerId: owner.id }, i % 2 === 0 ? g.admin : members[0]!.credentials)).errors).toBeUndefined();
      expect((await g.call(CreateClientTokenDocument, { name: `token ${i}` }, i % 2 === 0 ? g.admin : by.credentials)).errors).toBeUndefined();
    }
  });
  afterAll(async () => {
    await g?.close();
  });

  /** The read-store statements of each call, with the projections paused (every request is audited, and the audit log written in the background). */
  async function costs<R>(calls: readonly (() => Promise<R>)[]): Promise<{ statements: number; answer: R }[]> {
    await g.app.runner.stop();
    try {
      const measured: { statements: number; answer: R }[] = [];
      for (const call of calls) {
        const before = g.statements();
        const answer = await call();
        measured.push({ statements: g.statements() - before, answer });
      }
      return measured;
    } finally {
      g.app.runner.start();
    }
  }

  it(`serves the dashboard in at most ${MAX_STATEMENTS} statements, the same for pages of 1, 10 and 50 (${store})`, async () => {
    const measured = await costs(SIZES.map((first) => () => g.call(DashboardDocument, { first })));
    for (const [i, { answer }] of measured.entries()) {
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.apiKeys.edges.length).toBe(SIZES[i]);
      expect(answer.data!.applicationKeys.edges.length).toBe(SIZES[i]);
      expect(answer.data!.apiKeys.totalCount).toBe(56);
      // The admin's own, one per member, and 55.
      expect(answer.data!.applicationKeys.totalCount).toBe(1 + members.length + 55);
    }
    const large = measured[2]!.answer.data!;
    expect(new Set(large.applicationKeys.edges.map((e) => e.node.owner.id)).size).toBe(members.length);
    expect(new Set([...large.apiKeys.edges, ...large.applicationKeys.edges].map((e) => e.node.createdBy?.id)).size).toBeGreaterThan(2);
    expect(measured.map((m) => m.statements)).toEqual(SIZES.map(() => MAX_STATEMENTS));
  });

  for (const [name, query] of Object.entries(CONNECTIONS)) {
    it(`serves ${name} in at most ${MAX_STATEMENTS} statements, the same for pages of 1, 10 and 50 (${store})`, async () => {
      const measured = await costs(SIZES.map((first) => () => g.call(query, { first })));
      const counts = measured.map(({ answer }, i) => {
        expect(answer.errors).toBeUndefined();
        const page = answer.data![name]!;
        expect(page.edges.length).toBe(Math.min(SIZES[i]!, page.totalCount));
        return page.totalCount;
      });
      // The audit log grows with each request (its entry), the other lists do not.
      if (name !== 'auditLog') expect(new Set(counts).size).toBe(1);
      const statements = measured.map((m) => m.statements);
      expect(new Set(statements).size, `${name}: ${statements.join(', ')}`).toBe(1);
      expect(statements[0]).toBeLessThanOrEqual(MAX_STATEMENTS);
    });
  }

  it(`reads when each credential was last used with its page, as a credential read alone reads it (${store})`, async () => {
    type Used = { edges: { node: { id: string; lastUsedAt: string | null } }[] };
    const lists = document<{ apiKeys: Used; applicationKeys: Used }>(
      'query($first: Int) { apiKeys(first: $first) { edges { node { id lastUsedAt } } } applicationKeys(first: $first) { edges { node { id lastUsedAt } } } }',
    );
    const alone = document<{ node: { lastUsedAt: string | null } }, { id: string }>(
      'query($id: ID!) { node(id: $id) { ... on ApiKey { lastUsedAt } ... on ApplicationKey { lastUsedAt } } }',
    );
    // The admin's keys (the oldest) authenticate every request of this file. The projections are
    // paused throughout, so that no use is recorded between the two reads.
    await g.app.runner.stop();
    try {
      const before = g.statements();
      const page = await g.call(lists, { first: 100 });
      expect(page.errors).toBeUndefined();
      expect(g.statements() - before).toBe(2);
      const keys = [...page.data!.apiKeys.edges, ...page.data!.applicationKeys.edges].map((e) => e.node);
      const sample = [...keys.filter((k) => k.lastUsedAt !== null), ...keys.slice(0, 3)];
      expect(sample.length).toBeGreaterThan(3);
      const one = await Promise.all(sample.map((k) => g.call(alone, { id: k.id })));
      expect(one.map((o) => o.data?.node.lastUsedAt)).toEqual(sample.map((k) => k.lastUsedAt));
    } finally {
      g.app.runner.start();
    }
  });

  it(`counts the filter, not the page, after a cursor and past the end (${store})`, async () => {
    const query = CONNECTIONS.apiKeys!;
    const first = (await g.call(query, { first: 20 })).data!.apiKeys!;
    const second = (await g.call(query, { first: 20, after: first.pageInfo!.endCursor })).data!.apiKeys!;
    const last = (await g.call(query, { first: 20, after: second.pageInfo!.endCursor })).data!.apiKeys!;
    expect([first.edges.length, second.edges.length, last.edges.length, last.pageInfo!.hasNextPage]).toEqual([20, 20, 16, false]);
    // A page after the last row is empty: its count is read on its own, and is the same.
    const [past, none] = await costs([
      () => g.call(query, { first: 20, after: last.pageInfo!.endCursor }),
      () => g.call(document<Record<string, Page>>('{ apiKeys(filter: { nameContains: "no such key" }) { totalCount edges { node { id } } } }'), { first: 0 }),
    ]);
    expect([first.totalCount, second.totalCount, last.totalCount, past!.answer.data!.apiKeys!.totalCount]).toEqual([56, 56, 56, 56]);
    expect([past!.answer.data!.apiKeys!.edges.length, past!.statements]).toEqual([0, 2]);
    // Nothing matches and no cursor: the page's statement says so, no count needed.
    expect([none!.answer.data!.apiKeys!.totalCount, none!.statements]).toEqual([0, 1]);
  });
}

describe('list pages at a fixed cost on SQLite', () => {
  listCost('sqlite');
});
describePg(pg, 'list pages at a fixed cost on PostgreSQL', () => {
  listCost('postgres');
});
