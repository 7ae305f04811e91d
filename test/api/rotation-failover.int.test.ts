// The end of a rotation's grace (R18) and an expiry (R19) on PostgreSQL with two instances: only
// the projection lease's holder runs the scheduler; stop it while the work falls due, and the
// other instance takes the lease and appends each event, exactly once, however the instances
// come and go. The instances share one clock, which the test moves.

import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { CreateApiKeyDocument, CreateApplicationKeyDocument, RotateApiKeyDocument } from '../gql/graphql.js';
import { TestClock } from '../support/clock.js';
import { uuidOf } from '../support/events.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { member } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';
import type { App } from '../../src/gateway/app.js';

const available = await pgReachable();

const SECOND = 1000;
const HOUR = 3600;

describePg(available, 'rotation and expiry across a lease failover (PostgreSQL)', () => {
  const clock = new TestClock();
  let g: TestGateway;
  let twin: Awaited<ReturnType<TestGateway['twin']>>;

  beforeAll(async () => {
    g = await startGateway({ store: 'postgres', clock });
    twin = await g.twin();
  }, 60_000);
  afterAll(async () => {
    await twin?.close();
    await g?.close();
  });

  async function eventsAbout(app: App, type: string, keyId: string) {
    const found = [];
    for await (const page of app.store.readAll()) {
      for (const e of page) if (e.type === type && (e.data as { keyId?: string }).keyId === uuidOf(keyId)) found.push(e);
    }
    return found;
  }

  it('R18, R19: the holder stops during the grace; the other instance takes the lease and records the revocation and the expiry, once', async () => {
    // The first instance holds the lease: its scheduler runs, the twin's does not.
    await vi.waitFor(() => expect(g.app.runner.leading).toBe(true), { timeout: 10_000 });
    expect(twin.app.runner.leading).toBe(false);

    const old = (await g.call(CreateApiKeyDocument, { name: 'failover' })).data!.createApiKey;
    const rotated = await g.call(RotateApiKeyDocument, { id: old.apiKey.id, gracePeriod: HOUR });
    expect(rotated.errors).toBeUndefined();
    const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT' });
    const expiresAt = new Date(clock.now().getTime() + (HOUR / 2) * SECOND).toISOString();
    const expiring = (await g.call(CreateApplicationKeyDocument, { name: 'failover', ownerId: robot.id, expiresAt })).data!.createApplicationKey;
    await g.app.scheduler.idle();

    // The holder goes down; while it is down the grace ends and the key expires: the twin takes over and records both.
    await g.restart(async () => {
      clock.advance(2 * HOUR * SECOND);
      await vi.waitFor(() => expect(twin.app.runner.leading).toBe(true), { timeout: 15_000 });
      await vi.waitFor(
        async () => {
          expect(await eventsAbout(twin.app, 'ApiKeyRevoked', old.apiKey.id)).toHaveLength(1);
          expect(await eventsAbout(twin.app, 'ApplicationKeyExpired', expiring.applicationKey.id)).toHaveLength(1);
        },
        { timeout: 15_000, interval: 100 },
      );
    });
    const [revocation] = await eventsAbout(twin.app, 'ApiKeyRevoked', old.apiKey.id);
    expect(revocation!.data).toMatchObject({ reason: 'ROTATED' });
    expect(revocation!.metadata).toMatchObject({ via: 'scheduler' });

    // Back up, the first instance follows; nothing is appended twice, whoever runs the scheduler next.
    expect(g.app.runner.leading).toBe(false);
    clock.advance(HOUR * SECOND);
    await twin.app.scheduler.idle();
    await twin.close();
    await vi.waitFor(() => expect(g.app.runner.leading).toBe(true), { timeout: 15_000 });
    // Its scheduler starts with the lease (a first look at what is due), then the clock moves on.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await g.app.scheduler.idle();
    clock.advance(HOUR * SECOND);
    await g.app.scheduler.idle();
    expect(await eventsAbout(g.app, 'ApiKeyRevoked', old.apiKey.id)).toHaveLength(1);
    expect(await eventsAbout(g.app, 'ApplicationKeyExpired', expiring.applicationKey.id)).toHaveLength(1);
    // Refused on every instance: the grace is over.
    expect((await fetch(`${g.url}/api/v1/validate`, { headers: { 'x-api-key': old.secret } })).status).toBe(403);
  }, 90_000);
});
