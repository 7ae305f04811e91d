// The gateway's HTTP skeleton and its CLI, as an operator meets them.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/platform/config.js';
import { buildApp } from '../../src/gateway/app.js';
import { silentLogger } from '../../src/platform/logger.js';
import { runCli, serveCli } from '../support/cli.js';
import { streamActivityProjection } from '../support/stream-activity.js';
import { keyledgerProjections, type KeyledgerProjection } from '../../projections/index.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-gateway-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gateway HTTP', () => {
  it('serves /health and /ready, reports its projections, and stops cleanly', async () => {
    const config = loadConfig({ KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'http.db')}`, PORT: '0', KEYLEDGER_BOOTSTRAP: 'false' });
    // A projection with its own tables, to see readiness follow the runner.
    const projection = streamActivityProjection() as unknown as KeyledgerProjection;
    const app = await buildApp(config, { logger: silentLogger(), projections: [...keyledgerProjections(), projection] });
    const { url } = await app.start();
    try {
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });

      const appended = await app.store.append('probe-1', [{ id: randomUUID(), type: 'Happened', data: {} }]);
      await app.runner.waitFor(appended.position);
      const ready = await fetch(`${url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: 'ready',
        eventStore: 'sqlite',
        readStore: 'sqlite',
        instance: config.instanceId,
        // SQLite: no lease; this process applies the projections.
        lease: { held: true, holder: config.instanceId },
        projections: [...keyledgerProjections().map((p) => p.name), 'stream_activity'].map((name) => ({ name, state: 'running', position: appended.position })),
      });

      expect((await fetch(`${url}/nowhere`)).status).toBe(404);
      expect((await fetch(`${url}/health`, { method: 'DELETE' })).status).toBe(405);
    } finally {
      await app.stop();
    }
    await expect(fetch(`${url}/health`)).rejects.toThrow('fetch failed');
  });

  it('is not ready while a projection has failed', async () => {
    const config = loadConfig({ KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'failing.db')}`, PORT: '0', KEYLEDGER_BOOTSTRAP: 'false' });
    // The gateway's runner hands projections keyledger's own events only: this one fails on the first.
    const failing = streamActivityProjection({
      handles: ['OrganizationCreated'],
      beforeEach: () => {
        throw new Error('broken read model');
      },
    }) as unknown as KeyledgerProjection;
    const app = await buildApp(config, { logger: silentLogger(), projections: [...keyledgerProjections(), failing] });
    const { url } = await app.start();
    try {
      const orgId = randomUUID();
      await app.store.append(`org-${orgId}`, [{ id: randomUUID(), type: 'OrganizationCreated', data: { orgId, name: 'probe', apiKeyLimit: 50 } }]);
      let body: { status?: string; reasons?: string[] } = {};
      for (let i = 0; i < 50 && body.status !== 'not_ready'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const res = await fetch(`${url}/ready`);
        body = (await res.json()) as typeof body;
        if (body.status === 'not_ready') expect(res.status).toBe(503);
      }
      expect(body.status).toBe('not_ready');
      expect(body.reasons).toEqual(['projection stream_activity is failed: broken read model']);
    } finally {
      await app.stop();
    }
  });
});

describe('keyledger CLI', () => {
  const env = { KEYLEDGER_EVENT_STORE: `sqlite:${join(dir, 'cli.db')}`, KEYLEDGER_BOOTSTRAP: 'false' };

  it('prints help for every command, with exit code 0', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['projections', '--help'], ['projections', 'status', '--help'], ['projections', 'rebuild', '--help']]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Usage: keyledger/);
    }
  });

  it('exits 2 on a wrong command, a bad option or a bad configuration, saying why', async () => {
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");

    const badPort = await runCli(['serve', '--port', 'eighty'], env);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('a port is a whole number');

    const badStore = await runCli(['projections', 'status'], { KEYLEDGER_EVENT_STORE: 'redis://127.0.0.1:6379' });
    expect(badStore.code).toBe(2);
    expect(badStore.stderr).toContain('KEYLEDGER_EVENT_STORE: "redis://127.0.0.1:6379" is not a store keyledger knows');

    const noSuchProjection = await runCli(['projections', 'rebuild', 'nope'], env);
    expect(noSuchProjection.code).toBe(2);
    expect(noSuchProjection.stderr).toContain('no projection named "nope"');
  });

  it('exits 1 when a store cannot be reached', async () => {
    const result = await runCli(['projections', 'status'], { KEYLEDGER_EVENT_STORE: 'postgres://127.0.0.1:1/test' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/keyledger: .*(unavailable|ECONNREFUSED|connect)/i);
  });

  it('reports projection status as JSON', async () => {
    const result = await runCli(['projections', 'status', '--json'], env);
    expect(result.code).toBe(0);
    const { lease, projections: statuses } = JSON.parse(result.stdout) as { lease: { kind: string }; projections: { name: string; lagEvents: number }[] };
    expect(lease.kind).toBe('sole');
    expect(statuses.map((s) => s.name)).toEqual(keyledgerProjections().map((p) => p.name));
    for (const s of statuses) expect(s.lagEvents).toBe(0);
  });

  it('serves /health until SIGTERM, then exits 0', async () => {
    const served = await serveCli(env);
    expect((await fetch(`${served.url}/health`)).status).toBe(200);
    expect(await served.stop()).toBe(0);
  });
});
