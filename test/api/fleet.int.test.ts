// Three gateway processes on one PostgreSQL, as production runs them behind a load balancer:
// exactly one applies the projections (the lease's holder); SIGKILL it and another takes over;
// read-your-writes holds on every instance; a revocation on one is refused by the others within
// a second (R17); and the org-wide rules (R1-R3) hold under concurrent writes spread over all three.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startFleet, type Fleet, type FleetInstance } from '../support/fleet.js';
import { describePg, pgReachable } from '../support/pg.js';

const available = await pgReachable();

interface Ready {
  status: string;
  instance: string;
  lease: { held: boolean; holder: string | null };
  projections: { name: string; state: string; position: string }[];
}

interface Listed {
  edges: { node: { id: string; name: string } }[];
}

interface Created {
  createApiKey: { secret: string; apiKey: { id: string; name: string } };
}

const CREATE = 'mutation ($name: String!) { createApiKey(name: $name) { secret apiKey { id name } } }';
const REVOKE = 'mutation ($id: ID!) { revokeApiKey(id: $id) { apiKey { id status } } }';
const LIST = 'query { apiKeys(first: 100, filter: { status: ACTIVE }) { edges { node { id name } } } }';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function ready(instance: FleetInstance): Promise<Ready | null> {
  try {
    const response = await fetch(`${instance.url}/ready`);
    return (await response.json()) as Ready;
  } catch {
    return null;
  }
}

async function validates(instance: FleetInstance, apiKey: string): Promise<number> {
  return (await fetch(`${instance.url}/api/v1/validate`, { headers: { 'x-api-key': apiKey } })).status;
}

describePg(available, 'three gateway processes on one PostgreSQL', () => {
  let fleet: Fleet;
  let alive: FleetInstance[] = [];
  /** The admin's, until the R1 race revokes the admin's API key: then the org's last API key with the admin's application key. */
  let credentials: { apiKey: string; applicationKey: string };

  beforeAll(async () => {
    fleet = await startFleet({ size: 3 });
    alive = [...fleet.instances];
    credentials = fleet.admin;
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
  }, 60_000);

  /** The instances' views of the lease, once they agree on one holder among the living. */
  async function agreedHolder(timeoutMs: number): Promise<FleetInstance> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(alive.map(ready));
      const holders = alive.filter((_, i) => views[i]?.lease.held === true);
      const named = new Set(views.map((v) => v?.lease.holder));
      if (holders.length === 1 && named.size === 1 && named.has(holders[0]!.instanceId) && views.every((v) => v?.status === 'ready')) return holders[0]!;
      if (Date.now() > deadline)
        throw new Error(`no single lease holder within ${timeoutMs} ms: ${JSON.stringify(views.map((v) => v && { instance: v.instance, lease: v.lease, status: v.status }))}`);
      await sleep(50);
    }
  }

  it('exactly one instance applies the projections; the others follow it', async () => {
    const holder = await agreedHolder(10_000);
    for (const instance of alive) {
      const view = (await ready(instance))!;
      expect(view.instance).toBe(instance.instanceId);
      expect(view.lease).toEqual({ held: instance === holder, holder: holder.instanceId });
      for (const p of view.projections) expect(p.state).toBe(instance === holder ? 'running' : 'following');
    }
  });

  it('`keyledger projections status` beside the fleet names the holder', async () => {
    const holder = await agreedHolder(10_000);
    const store = (schema: string) => {
      const url = new URL(fleet.pgUrl);
      url.searchParams.set('schema', schema);
      return url.toString();
    };
    const result = await runCli(['projections', 'status', '--json'], { KEYLEDGER_EVENT_STORE: store(fleet.eventSchema), KEYLEDGER_READ_STORE: store(fleet.readSchema) });
    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as { lease: { kind: string; holder: { instance: string; backendPid: number } | null }; projections: { name: string }[] };
    expect(status.lease.kind).toBe('postgres');
    expect(status.lease.holder?.instance).toBe(holder.instanceId);
    expect(status.lease.holder?.backendPid).toBeGreaterThan(0);
    expect(status.projections.length).toBeGreaterThan(0);
  });

  it('read-your-writes holds on every instance: a key created on one is listed by it at once', async () => {
    for (const [i, instance] of alive.entries()) {
      const created = await fleet.graphql<Created>(instance, CREATE, { name: `ryw-${i}` });
      expect(created.body.errors).toBeUndefined();
      const listed = await fleet.graphql<{ apiKeys: Listed }>(instance, LIST);
      expect(listed.body.errors, JSON.stringify(listed.body.errors)).toBeUndefined();
      expect(listed.body.data?.apiKeys.edges.map((e) => e.node.id)).toContain(created.body.data!.createApiKey.apiKey.id);
      const revoked = await fleet.graphql(instance, REVOKE, { id: created.body.data!.createApiKey.apiKey.id });
      expect(revoked.body.errors).toBeUndefined();
    }
  });

  it('R17: a key revoked on one instance is refused by the two others within one second', async () => {
    const [a, ...others] = alive;
    for (let round = 0; round < 5; round++) {
      const created = await fleet.graphql<Created>(a!, CREATE, { name: `r17-${round}` });
      const { secret, apiKey } = created.body.data!.createApiKey;
      for (const other of others) expect(await validates(other, secret)).toBe(200);
      const revoked = await fleet.graphql(a!, REVOKE, { id: apiKey.id });
      expect(revoked.body.errors).toBeUndefined();
      const at = Date.now();
      await Promise.all(
        others.map(async (other) => {
          while ((await validates(other, secret)) !== 403) {
            expect(Date.now() - at, `${other.name} still accepts the revoked key`).toBeLessThan(1000);
          }
        }),
      );
    }
  });

  it('R1-R3 hold under concurrent writes spread over the three instances', async () => {
    const on = (i: number) => alive[i % alive.length]!;
    // R3: nine creates of one name, three per instance: exactly one succeeds.
    const named = await Promise.all(Array.from({ length: 9 }, (_, i) => fleet.graphql<Created>(on(i), CREATE, { name: 'Shared Name' })));
    expect(named.filter((r) => r.body.data?.createApiKey).length).toBe(1);
    expect(named.filter((r) => r.body.errors?.[0]?.extensions?.code === 'NAME_TAKEN').length).toBe(8);

    // R2: the org holds the admin's key and that one; 60 creates race for the 48 slots left of 50.
    const many = await Promise.all(Array.from({ length: 60 }, (_, i) => fleet.graphql<Created>(on(i), CREATE, { name: `many-${i}` })));
    const made = many.flatMap((r) => (r.body.data ? [r.body.data.createApiKey] : []));
    const codes = many.flatMap((r) => (r.body.errors ? [r.body.errors[0]?.extensions?.code] : []));
    expect(made.length).toBe(48);
    expect(codes, JSON.stringify(codes)).toEqual(Array.from({ length: 12 }, () => 'API_KEY_LIMIT'));
    for (const instance of alive) {
      const listed = await fleet.graphql<{ apiKeys: Listed }>(instance, LIST);
      expect(listed.body.data?.apiKeys.edges.length).toBe(50);
    }

    // R1: revoke all but the admin's key and the shared one, then race to revoke those two: exactly one goes.
    await Promise.all(made.map((k, i) => fleet.graphql(on(i), REVOKE, { id: k.apiKey.id })));
    const shared = named.find((r) => r.body.data)!.body.data!.createApiKey;
    const listed = await fleet.graphql<{ apiKeys: Listed }>(on(0), LIST);
    const remaining = listed.body.data!.apiKeys.edges.map((e) => e.node);
    expect(remaining.length).toBe(2);
    expect(remaining.map((n) => n.id)).toContain(shared.apiKey.id);
    const adminKey = remaining.find((n) => n.id !== shared.apiKey.id)!;
    const last = await Promise.all([fleet.graphql(on(1), REVOKE, { id: adminKey.id }), fleet.graphql(on(2), REVOKE, { id: shared.apiKey.id })]);
    expect(last.filter((r) => r.body.errors === undefined).length).toBe(1);
    expect(last.filter((r) => r.body.errors?.[0]?.extensions?.code === 'LAST_API_KEY').length).toBe(1);
    if (last[0].body.errors === undefined) credentials = { apiKey: shared.secret, applicationKey: fleet.admin.applicationKey };
  });

  it('SIGKILL the holder: another takes over within 5 s, and the projections go on', async () => {
    const holder = await agreedHolder(10_000);
    const before = Object.fromEntries((await ready(holder))!.projections.map((p) => [p.name, p.position]));
    const killedAt = Date.now();
    await holder.kill('SIGKILL');
    alive = alive.filter((i) => i !== holder);
    const next = await agreedHolder(5_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(5000);
    expect(next).not.toBe(holder);

    // A write on the survivor that does not hold the lease is read back at once: the new holder applied it.
    const follower = alive.find((i) => i !== next)!;
    const created = await fleet.graphql<Created>(follower, CREATE, { name: 'after-failover' }, credentials);
    expect(created.body.errors).toBeUndefined();
    const listed = await fleet.graphql<{ apiKeys: Listed }>(follower, LIST, {}, credentials);
    expect(listed.body.data?.apiKeys.edges.map((e) => e.node.id)).toContain(created.body.data!.createApiKey.apiKey.id);
    const after = (await ready(next))!.projections;
    expect(after.some((p) => p.position > (before[p.name] ?? ''))).toBe(true);
  });
});
