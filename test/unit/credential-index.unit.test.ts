// The CredentialIndex keeps following the store after a failure: a stale index would honour a
// revoked key on this instance.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import type { EventStore, Subscription } from '../../src/eventstore/port.js';
import { CredentialIndex } from '../../projections/credentials/credential-index.js';
import { digestSecret, issueSecret } from '../../src/domain/secrets.js';
import { silentLogger } from '../../src/platform/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CredentialIndex', () => {
  it('R17: follows revocations, and resumes after the store fails under it', async () => {
    const store = openSqliteEventStore(join(dir, 'index.db'));
    let failures = 1;
    // The first subscription breaks after its first batch, as a lost connection would.
    const flaky: EventStore = Object.create(store, {
      subscribe: {
        value: (options: Parameters<EventStore['subscribe']>[0]): Subscription => {
          const inner = store.subscribe(options);
          if (failures-- <= 0) return inner;
          return {
            close: () => inner.close(),
            async *[Symbol.asyncIterator]() {
              for await (const batch of inner) {
                yield batch;
                throw new Error('connection lost');
              }
            },
          };
        },
      },
    });
    const index = new CredentialIndex();
    index.start(flaky, silentLogger(), 10);
    const key = issueSecret('API_KEY');
    const keyId = randomUUID();
    const orgId = randomUUID();
    await store.append(`org-${orgId}`, [{ id: randomUUID(), type: 'OrganizationCreated', data: { orgId, name: 'o', apiKeyLimit: 50 } }]);
    const created = await store.append(`org-${orgId}`, [
      { id: randomUUID(), type: 'ApiKeyCreated', data: { orgId, keyId, name: 'k', digest: key.digest, last4: key.last4, createdBy: null } },
    ]);
    await index.waitFor(created.position, 5000);
    expect(index.credential(digestSecret(key.secret))).toMatchObject({ id: keyId, active: true });
    const revoked = await store.append(`org-${orgId}`, [{ id: randomUUID(), type: 'ApiKeyRevoked', data: { orgId, keyId, reason: 'REVOKED' } }]);
    await index.waitFor(revoked.position, 5000);
    expect(index.credential(key.digest)?.active).toBe(false);
    await vi.waitUntil(() => index.following);
    await index.stop();
    await store.close();
  });
});
