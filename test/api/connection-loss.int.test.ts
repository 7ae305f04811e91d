// R30, in part: PostgreSQL ends every connection of a gateway (as a restart, a failover or an
// operator's pg_terminate_backend would). The process stays up, answers again by itself, and
// loses nothing it acknowledged. Only this gateway's backends are ended: they carry its own
// application_name, and the database is shared with other tests and applications.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { ApiKeysDocument, CreateApiKeyDocument, ViewerDocument } from '../gql/graphql.js';
import { startGateway } from '../support/gateway.js';
import { describePg, PG_URL, pgReachable } from '../support/pg.js';

const available = await pgReachable();

async function terminateBackends(applicationName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    const ended = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()', [applicationName]);
    return ended.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describePg(available, 'losing every PostgreSQL connection', () => {
  describe('a gateway whose backends are all terminated', () => {
    it('R30: stays up, answers again within seconds, and loses nothing it acknowledged', async () => {
      const applicationName = `kl_survive_${randomBytes(4).toString('hex')}`;
      const g = await startGateway({ store: 'postgres', applicationName, logLevel: 'info' });
      try {
        const acknowledged: string[] = [];
        for (let i = 0; i < 5; i++) {
          const created = await g.call(CreateApiKeyDocument, { name: `before ${i}` });
          expect(created.errors).toBeUndefined();
          acknowledged.push(`before ${i}`);
        }
        // Idle pool connections, the LISTEN connection and any checked-out one: all of them.
        expect(await terminateBackends(applicationName)).toBeGreaterThan(1);
        expect((await fetch(`${g.url}/health`)).status).toBe(200);

        // The pools open new connections and the subscriptions follow the store again.
        await vi.waitFor(
          async () => {
            const viewer = await g.call(ViewerDocument, {});
            if (viewer.status !== 200 || viewer.errors) throw new Error(`viewer answered ${viewer.status} ${viewer.code ?? ''}`);
          },
          { timeout: 10_000, interval: 200 },
        );
        const after = await g.call(CreateApiKeyDocument, { name: 'after' });
        expect(after.errors).toBeUndefined();
        acknowledged.push('after');
        await vi.waitFor(async () => expect((await fetch(`${g.url}/ready`)).status).toBe(200), { timeout: 10_000, interval: 200 });

        const listed = await g.call(ApiKeysDocument, { first: 50 });
        expect(listed.data?.apiKeys.edges.map((e) => e.node.name).sort()).toEqual([...acknowledged, 'Default API key'].sort());
        expect(g.logs.join('')).toContain('a PostgreSQL connection failed');
      } finally {
        await g.close();
      }
    });
  });
});
