// The fleet helper (test/support/fleet.ts) itself: two `keyledger serve` processes on one
// PostgreSQL database, both ready and answering, each with its own application_name, and nothing
// left behind by close() (processes, schemas).

import pg from 'pg';
import { expect, it, vi } from 'vitest';
import { startFleet } from '../support/fleet.js';
import { describePg, PG_URL, pgReachable } from '../support/pg.js';

const available = await pgReachable();

async function query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describePg(available, 'a fleet of gateway processes on one PostgreSQL', () => {
  it('starts two instances that both answer, each under its own application_name, and close() leaves nothing behind', { timeout: 120_000 }, async () => {
    const fleet = await startFleet({ size: 2 });
    let closed = false;
    try {
      const [a, b] = fleet.instances;
      expect(fleet.instances).toHaveLength(2);
      expect(a!.url).not.toBe(b!.url);
      expect(fleet.admin.apiKey).toMatch(/^klk_api_/);
      expect(fleet.admin.applicationKey).toMatch(/^klk_app_/);
      for (const instance of [a!, b!]) {
        expect((await fetch(`${instance.url}/ready`)).status).toBe(200);
        const viewer = await fleet.graphql<{ viewer: { principal: { name: string } } }>(instance, '{ viewer { principal { name } } }');
        expect(viewer.status).toBe(200);
        expect(viewer.body).toEqual({ data: { viewer: { principal: { name: 'Admin' } } } });
      }

      // One database, two processes: a key made on a is known to b.
      const created = await fleet.graphql<{ createApiKey: { secret: string } }>(a!, 'mutation($n: String!) { createApiKey(name: $n) { secret } }', { n: 'fleet smoke' });
      const secret = created.body.data?.createApiKey.secret ?? '';
      expect(secret).toMatch(/^klk_api_/);
      await vi.waitFor(async () => expect((await fetch(`${b!.url}/api/v1/validate`, { headers: { 'x-api-key': secret } })).status).toBe(200), { timeout: 10_000 });

      const names = await query<{ application_name: string }>('select distinct application_name from pg_stat_activity where application_name = any($1)', [
        fleet.instances.map((i) => i.instanceId),
      ]);
      expect(names.map((r) => r.application_name).sort()).toEqual(fleet.instances.map((i) => i.instanceId).sort());

      await fleet.close();
      closed = true;
      expect(fleet.instances.every((i) => i.exited)).toBe(true);
      const schemas = await query('select nspname from pg_namespace where nspname = any($1)', [[fleet.eventSchema, fleet.readSchema]]);
      expect(schemas).toEqual([]);
    } finally {
      if (!closed) await fleet.close();
    }
  });

  it('fails fast with the output of an instance that exits before it is ready, and drops the schemas it made', { timeout: 60_000 }, async () => {
    const started = performance.now();
    const failure = await startFleet({ size: 1, env: { KEYLEDGER_STORE_TIMEOUT_MS: '1' } }).then(
      async (fleet) => {
        await fleet.close();
        return null;
      },
      (error: unknown) => error,
    );
    const message = String(failure);
    expect(message).toMatch(
      /fleet instance a \(kl-fleet-[0-9a-f]{8}-a\) exited with code 2 before it was ready; its output:\n.*KEYLEDGER_STORE_TIMEOUT_MS must be at least 100 ms/,
    );
    expect(performance.now() - started).toBeLessThan(30_000);
    const id = /kl-fleet-([0-9a-f]{8})-a/.exec(message)![1]!;
    expect(await query('select nspname from pg_namespace where nspname = any($1)', [[`kl_fleet_${id}_events`, `kl_fleet_${id}_reads`]])).toEqual([]);
  });
});
