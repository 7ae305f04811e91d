// R30: PostgreSQL goes away (every connection cut, new ones refused, as a partition or a restart
// would) under a light load. The gateway stays up, answers 2xx or 503 with STORE_UNAVAILABLE or
// AUDIT_UNAVAILABLE within its bound, says why it is not ready, resumes by itself once the store
// is back, and nothing it acknowledged is lost: every acknowledged request has exactly one audit
// entry, and every acknowledged key is listed. Both stores go through a TCP proxy of the test's.

import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { describe, expect, it, vi } from 'vitest';
import type { RequestEntry } from '../../src/domain/requests.js';
import { ApiKeysDocument, CreateApiKeyDocument, type ApiKeysQuery } from '../gql/graphql.js';
import { startGateway, type Answer, type TestGateway } from '../support/gateway.js';
import { describePg, PG_URL, pgReachable } from '../support/pg.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const available = await pgReachable();

const TIMEOUT_MS = 1500;
/** An answer during the cut may wait for the bound twice (a command's read-your-writes, then its audit entry) and then some. */
const ANSWER_BOUND_MS = 2 * TIMEOUT_MS + 1000;
const CUT_MS = 3000;
const LOAD_MS = 6000;
const RECOVERY_MS = 5000;

interface Sent {
  readonly requestId: string;
  readonly kind: 'create' | 'list';
  readonly startedAt: number;
  readonly ms: number;
  readonly status: number;
  readonly code: string | undefined;
  /** The key's name, for a createApiKey that answered with one. */
  readonly created: string | null;
}

describePg(available, 'PostgreSQL unreachable for a while', () => {
  describe('a gateway whose stores both go through a proxy that cuts them', () => {
    it('R30: stays up, answers 503 within its bound, says why it is not ready, resumes, and loses nothing it acknowledged', { timeout: 30_000 }, async () => {
      const target = new URL(PG_URL);
      let proxy: TcpProxy | undefined;
      let g: TestGateway | undefined;
      try {
        proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
        const through = new URL(PG_URL);
        through.port = String(proxy.port);
        g = await startGateway({ store: 'postgres', logLevel: 'info', pgUrl: through.toString(), env: { KEYLEDGER_STORE_TIMEOUT_MS: String(TIMEOUT_MS) } });
        const gw = g;
        const cutting = proxy;

        let n = 0;
        const sent: Sent[] = [];
        async function send<R, V extends Record<string, unknown>>(kind: Sent['kind'], document: TypedDocumentNode<R, V>, variables: V): Promise<void> {
          const requestId = `outage-${kind}-${++n}`;
          const startedAt = performance.now();
          const response = await fetch(`${gw.url}/graphql`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json',
              'x-request-id': requestId,
              'x-api-key': gw.admin.apiKey,
              'x-application-key': gw.admin.applicationKey,
            },
            body: JSON.stringify({ query: print(document), variables }),
          });
          const body = (await response.json()) as { data?: { createApiKey?: { apiKey: { name: string } } | null } | null; errors?: { extensions?: { code?: string } }[] };
          const created = kind === 'create' && body.errors === undefined ? (body.data?.createApiKey?.apiKey.name ?? null) : null;
          sent.push({ requestId, kind, startedAt, ms: performance.now() - startedAt, status: response.status, code: body.errors?.[0]?.extensions?.code, created });
        }

        // A light load: two loops creating keys (paced, the organization holds at most 50), two reading.
        const loadStart = performance.now();
        const loop = async (kind: Sent['kind'], pauseMs: number) => {
          let i = 0;
          while (performance.now() - loadStart < LOAD_MS) {
            if (kind === 'create') await send('create', CreateApiKeyDocument, { name: `outage key ${kind}-${n}-${i++}` });
            else await send('list', ApiKeysDocument, { first: 5 });
            await new Promise((resolve) => setTimeout(resolve, pauseMs));
          }
        };
        const load = Promise.all([loop('create', 400), loop('create', 400), loop('list', 100), loop('list', 100)]);

        await new Promise((resolve) => setTimeout(resolve, 1000));
        const cutStart = performance.now();
        const cut = cutting.cut(CUT_MS);
        // During the cut: alive, and not ready, saying why.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect((await fetch(`${gw.url}/health`)).status).toBe(200);
        const notReady = await fetch(`${gw.url}/ready`);
        const readiness = (await notReady.json()) as { reasons?: string[] };
        expect(notReady.status).toBe(503);
        expect(readiness.reasons?.join('; ')).toMatch(/event store|read store/);
        await cut;
        const cutEnd = performance.now();
        await load;

        // Back: /ready and every kind of request answer 200 within RECOVERY_MS of the cut's end.
        await vi.waitFor(async () => expect((await fetch(`${gw.url}/ready`)).status).toBe(200), { timeout: RECOVERY_MS, interval: 100 });
        const readyAfterMs = performance.now() - cutEnd;
        await vi.waitFor(
          async () => {
            const before = sent.length;
            await send('create', CreateApiKeyDocument, { name: `after the cut ${n}` });
            await send('list', ApiKeysDocument, { first: 5 });
            const [created, listed] = sent.slice(before);
            expect([created?.status, created?.code, listed?.status, listed?.code]).toEqual([200, undefined, 200, undefined]);
          },
          { timeout: Math.max(RECOVERY_MS - readyAfterMs, 500), interval: 100 },
        );
        const recoveredMs = performance.now() - cutEnd;

        // Answers while the store was away: 2xx, or 503 with an outage code, each within the bound.
        const during = sent.filter((s) => s.startedAt + s.ms >= cutStart && s.startedAt <= cutEnd);
        const figures: Record<string, number> = {};
        for (const s of during) figures[`${s.status} ${s.code ?? ''}`.trim()] = (figures[`${s.status} ${s.code ?? ''}`.trim()] ?? 0) + 1;
        console.info(
          `R30 figures: ${sent.length} requests, ${during.length} during the cut: ${JSON.stringify(figures)}; slowest during the cut ${Math.round(Math.max(...during.map((s) => s.ms)))} ms; /ready 200 after ${Math.round(readyAfterMs)} ms, everything 200 after ${Math.round(recoveredMs)} ms`,
        );
        expect(during.some((s) => s.status === 503)).toBe(true);
        for (const s of sent) {
          if (s.status >= 200 && s.status < 300) continue;
          expect(s.status, `${s.requestId}: ${s.status} ${s.code ?? ''}`).toBe(503);
          expect(['STORE_UNAVAILABLE', 'AUDIT_UNAVAILABLE'], s.requestId).toContain(s.code);
        }
        for (const s of during) expect(s.ms, `${s.requestId} took ${Math.round(s.ms)} ms`).toBeLessThan(ANSWER_BOUND_MS);
        // The resolvers' failures were the store's (STORE_UNAVAILABLE at the choke point, then
        // AUDIT_UNAVAILABLE when the entry could not be appended either), never unexpected ones.
        const log = gw.logs.join('');
        expect(log).toContain('GraphQL request failed: STORE_UNAVAILABLE');
        expect(log).not.toContain('unexpected error in a GraphQL request');

        // Nothing acknowledged is lost: one audit entry per acknowledged request id (a reader sees
        // an event once every older transaction has ended), and every acknowledged key is listed.
        const acknowledged = sent.filter((s) => s.status >= 200 && s.status < 300);
        await vi.waitFor(
          async () => {
            const entries = new Map<string, number>();
            for (const e of await gw.requestEvents()) {
              const id = (e.data as unknown as RequestEntry).requestId;
              entries.set(id, (entries.get(id) ?? 0) + 1);
            }
            for (const s of acknowledged) expect(entries.get(s.requestId) ?? 0, s.requestId).toBe(1);
          },
          { timeout: 5000, interval: 100 },
        );
        const names = new Set<string>();
        let after: string | null = null;
        for (;;) {
          const page: Answer<ApiKeysQuery> = await gw.call(ApiKeysDocument, { first: 50, after });
          expect(page.errors).toBeUndefined();
          for (const edge of page.data!.apiKeys.edges) names.add(edge.node.name);
          if (!page.data!.apiKeys.pageInfo.hasNextPage) break;
          after = page.data!.apiKeys.pageInfo.endCursor ?? null;
        }
        for (const s of acknowledged) if (s.created !== null) expect(names, s.requestId).toContain(s.created);
        expect(acknowledged.filter((s) => s.created !== null).length).toBeGreaterThan(2);
      } finally {
        try {
          await g?.close();
        } finally {
          await proxy?.close();
        }
      }
    });
  });
});
