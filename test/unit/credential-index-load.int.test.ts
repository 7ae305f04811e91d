// The CredentialIndex loaded from the read models holds exactly what an index that applied every
// event holds, then follows the store from their checkpoints: on SQLite and on PostgreSQL, over
// many chunks, for ids and digests of any shape (those that hold the load's separators too).

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CredentialIndex } from '../../projections/credentials/credential-index.js';
import { openReadStore, type ReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner } from '../../projections/core/runner.js';
import { keyledgerProjections } from '../../projections/index.js';
import type { ReadModels } from '../../projections/read-models.js';
import type { OrganizationEvent, PrincipalEvent } from '../../src/domain/events.js';
import type { JsonValue, Position } from '../../src/eventstore/port.js';
import { decodeEvent } from '../../src/eventstore/recorded.js';
import { openSqliteEventStore, type SqliteEventStore } from '../../src/eventstore/sqlite.js';
import type { ReadStoreLocation } from '../../src/platform/config.js';
import { silentLogger } from '../../src/platform/logger.js';
import { createTestSchema, describePg, PG_URL, pgReachable } from '../support/pg.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-index-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = () => randomBytes(32).toString('hex');
const GRACE_END = '2031-06-01T00:00:00.000Z';

/** What the index answers about each digest and principal, and how many credentials it holds. */
function contents(index: CredentialIndex, digests: readonly string[], principals: readonly string[]) {
  return {
    size: index.size,
    credentials: digests.map((digest) => [digest, index.credential(digest) ?? null]),
    principals: principals.map((id) => [id, index.principal(id) ?? null]),
  };
}

/** Events of every kind that reaches the index, with ids and digests of many shapes. */
class Scenario {
  readonly digests: string[] = [];
  readonly principals: string[] = [];
  readonly #store: SqliteEventStore;
  #n = 0;

  constructor(store: SqliteEventStore) {
    this.#store = store;
  }

  /** A digest and an id: mostly a hex digest and a UUID, sometimes another shape, and now and then one holding the load's separators. */
  #shape(): { id: string; digest: string } {
    const n = this.#n++;
    const shapes = [
      { id: randomUUID(), digest: hex() },
      { id: `key-${n}`, digest: `d${n}` },
      { id: randomUUID().toUpperCase(), digest: hex().toUpperCase() },
      { id: randomUUID(), digest: `${hex().slice(0, 40)}\u001f${n}` },
      { id: `k\u001e${n}`, digest: hex() },
      { id: randomUUID(), digest: hex() },
    ];
    const shape = shapes[n % shapes.length]!;
    this.digests.push(shape.digest);
    return shape;
  }

  async #append(stream: string, events: readonly (OrganizationEvent | PrincipalEvent)[]): Promise<Position> {
    const appended = await this.#store.append(
      stream,
      events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as unknown as JsonValue })),
    );
    return appended.position;
  }

  /** An org with API keys (one revoked, one rotated), client tokens and principals with application keys (scoped, expiring, revoked, rotated); a user disabled, one promoted. */
  async org(): Promise<Position> {
    const orgId = randomUUID();
    const org: OrganizationEvent[] = [{ type: 'OrganizationCreated', data: { orgId, name: `org ${orgId}`, apiKeyLimit: 50 } }];
    const apiKeys = Array.from({ length: 6 }, () => this.#shape());
    for (const { id, digest } of apiKeys) org.push({ type: 'ApiKeyCreated', data: { orgId, keyId: id, name: id, digest, last4: 'abcd', createdBy: null } });
    for (let t = 0; t < 3; t++) {
      const { id, digest } = this.#shape();
      const allowedOrigins = [[], ['https://app.example.com'], ['https://a.example', 'https://b.example']][t]!;
      org.push({ type: 'ClientTokenCreated', data: { orgId, tokenId: id, name: id, digest, last4: 'abcd', allowedOrigins, createdBy: null } });
    }
    org.push({ type: 'ApiKeyRevoked', data: { orgId, keyId: apiKeys[1]!.id, reason: 'REVOKED' } });
    const successor = this.#shape();
    org.push({
      type: 'ApiKeyRotated',
      data: { orgId, keyId: apiKeys[2]!.id, successorId: successor.id, name: 'rotated', digest: successor.digest, last4: 'abcd', createdBy: null, revokeAt: GRACE_END },
    });
    let position = await this.#append(`org-${orgId}`, org);
    for (let p = 0; p < 3; p++) {
      const principalId = p === 1 ? `principal-${this.#n}` : randomUUID();
      this.principals.push(principalId);
      const events: PrincipalEvent[] = [
        p === 2
          ? { type: 'ServiceAccountCreated', data: { principalId, orgId, name: 'robot', role: 'standard' } }
          : { type: 'UserInvited', data: { principalId, orgId, email: `u${p}@example.test`, name: 'user', role: 'standard' } },
      ];
      const keys = Array.from({ length: 5 }, () => this.#shape());
      const scopes = [null, [], ['api_keys_read'], ['dashboards_read', 'monitors_read'], ['api_keys_read']] as const;
      keys.forEach(({ id, digest }, k) =>
        events.push({
          type: 'ApplicationKeyCreated',
          data: {
            principalId,
            orgId,
            keyId: id,
            name: id,
            digest,
            last4: 'abcd',
            scopes: scopes[k] === null ? null : [...scopes[k]!],
            expiresAt: k === 4 ? '2030-01-01T00:00:00.000Z' : null,
            createdBy: null,
          },
        }),
      );
      events.push({ type: 'ApplicationKeyScoped', data: { principalId, orgId, keyId: keys[0]!.id, scopes: ['monitors_read'], previousScopes: null } });
      events.push({ type: 'ApplicationKeyRevoked', data: { principalId, orgId, keyId: keys[1]!.id, reason: 'REVOKED' } });
      const next = this.#shape();
      events.push({
        type: 'ApplicationKeyRotated',
        data: {
          principalId,
          orgId,
          keyId: keys[3]!.id,
          successorId: next.id,
          name: 'rotated',
          digest: next.digest,
          last4: 'abcd',
          scopes: ['dashboards_read', 'monitors_read'],
          expiresAt: null,
          createdBy: null,
          revokeAt: GRACE_END,
        },
      });
      if (p === 0) events.push({ type: 'PrincipalRoleChanged', data: { principalId, orgId, role: 'admin', previousRole: 'standard' } });
      if (p === 1) {
        events.push({ type: 'PrincipalDisabled', data: { principalId, orgId } });
        for (const { id } of keys) events.push({ type: 'ApplicationKeyOwnerDisabled', data: { principalId, orgId, keyId: id, reason: 'OWNER_DISABLED' } });
      }
      position = await this.#append(`principal-${principalId}`, events);
    }
    return position;
  }
}

function describeLoad(name: string, readStoreAt: () => Promise<{ location: ReadStoreLocation; drop: () => Promise<void> }>): void {
  describe(`CredentialIndex.load, ${name}`, () => {
    it('holds what applying every event gives, over chunks of any size, then follows the store from the checkpoints', async () => {
      const store = openSqliteEventStore(join(dir, `${randomUUID()}.db`));
      const { location, drop } = await readStoreAt();
      const readStore: ReadStore<ReadModels> = await openReadStore<ReadModels>(location);
      const indexes: CredentialIndex[] = [];
      try {
        const scenario = new Scenario(store);
        let head: Position | undefined;
        for (let o = 0; o < 8; o++) head = await scenario.org();
        const runner = new ProjectionRunner({
          store,
          readStore,
          projections: keyledgerProjections().filter((p) => p.name === 'principals' || p.name === 'credentials'),
          decode: decodeEvent,
          logger: silentLogger(),
          batchSize: 37,
        });
        await runner.migrate();
        runner.start();
        await runner.waitFor(head!);
        await runner.stop();
        // Events the read models do not hold yet: the loaded index applies them from the store.
        for (let o = 0; o < 2; o++) head = await scenario.org();

        const reference = new CredentialIndex();
        for await (const batch of store.readAll()) for (const event of batch) reference.apply(event);
        const expected = contents(reference, scenario.digests, scenario.principals);
        expect(expected.size).toBe(280);

        for (const chunkRows of [32_768, 1, 7, 64]) {
          const index = new CredentialIndex();
          indexes.push(index);
          await index.load(readStore.db, { chunkRows });
          index.start(store, silentLogger(), 10);
          await index.waitFor(head!, 5000);
          expect(contents(index, scenario.digests, scenario.principals), `chunks of ${chunkRows} rows`).toEqual(expected);
        }

        // Changes by id reach the loaded credentials (their ids were indexed by the load).
        head = await scenario.org();
        const revoked: PrincipalEvent[] = [];
        for (const event of (await store.readStream(`principal-${scenario.principals[0]}`)).map(decodeEvent)) {
          if (event?.type === 'ApplicationKeyCreated')
            revoked.push({ type: 'ApplicationKeyRevoked', data: { principalId: event.data.principalId, orgId: event.data.orgId, keyId: event.data.keyId, reason: 'REVOKED' } });
        }
        head = (
          await store.append(
            `principal-${scenario.principals[0]}`,
            revoked.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as unknown as JsonValue })),
          )
        ).position;
        const after = new CredentialIndex();
        for await (const batch of store.readAll()) for (const event of batch) after.apply(event);
        const changed = contents(after, scenario.digests, scenario.principals);
        expect(changed).not.toEqual(expected);
        for (const index of indexes) {
          await index.waitFor(head, 5000);
          expect(contents(index, scenario.digests, scenario.principals)).toEqual(changed);
        }
      } finally {
        for (const index of indexes) await index.stop();
        await readStore.close();
        await store.close();
        await drop();
      }
    });
  });
}

describeLoad('SQLite', async () => ({ location: { kind: 'sqlite', path: join(dir, `${randomUUID()}-read.db`) }, drop: async () => undefined }));

const pgAvailable = await pgReachable();
describePg(pgAvailable, 'CredentialIndex.load on PostgreSQL', () => {
  describeLoad('PostgreSQL', async () => {
    const created = await createTestSchema('kl_index_load');
    return { location: { kind: 'postgres', url: PG_URL, schema: created.schema }, drop: () => created.drop() };
  });
});
