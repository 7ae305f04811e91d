// What the audit projection keeps besides the log, and the SQLite fast path of the chain check:
// `audit_counts` (the auditLog page's totalCount without counting) equals counting the log, as
// batches add to it, after a rebuild, and when its migration counts a log that is already there;
// on SQLite, the text the store makes for a row's hash is exactly what entryHash hashes.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requestEvent, requestStream, type RequestEntry } from '../../src/domain/requests.js';
import type { EventStore, Position } from '../../src/eventstore/port.js';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { openPostgresEventStore } from '../../src/eventstore/postgres.js';
import { decodeEvent, type Recorded } from '../../src/eventstore/recorded.js';
import type { KeyledgerEvent } from '../../src/domain/events.js';
import { SQLITE_HASHED_TEXT, entryHash, sha256Hex } from '../../projections/audit/chain.js';
import { verifyAuditChain } from '../../projections/audit/integrity.js';
import { auditProjection, AUDIT_COUNTED_COLUMNS } from '../../projections/audit/projection.js';
import { auditLogPage } from '../../projections/audit/queries.js';
import type { ReadModels } from '../../projections/read-models.js';
import { openReadStore, type ReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner } from '../../projections/core/runner.js';
import { PG_URL, createTestSchema, describePg, pgReachable } from '../support/pg.js';

interface Fixture {
  store: EventStore;
  readStore: ReadStore<ReadModels>;
  close(): Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'keyledger-audit-counts-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every count the table should hold, by counting the log. */
async function countedFromLog(db: Kysely<ReadModels>): Promise<string[]> {
  const rows: string[] = [];
  for (const { org_id, n } of await db
    .selectFrom('audit_log')
    .select(['org_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('org_id')
    .execute()) {
    rows.push(`${org_id} ORG  ${Number(n)}`);
  }
  for (const [dimension, column] of Object.entries(AUDIT_COUNTED_COLUMNS)) {
    const found = await db
      .selectFrom('audit_log')
      .select(['org_id', sql<string>`${sql.ref(column)}`.as('id'), (eb) => eb.fn.countAll<number | string>().as('n')])
      .where(column, 'is not', null)
      .groupBy(['org_id', column])
      .execute();
    for (const { org_id, id, n } of found) rows.push(`${org_id} ${dimension} ${id} ${Number(n)}`);
  }
  return rows.sort();
}

async function kept(db: Kysely<ReadModels>): Promise<string[]> {
  const rows = await db.selectFrom('audit_counts').selectAll().execute();
  return rows.map((r) => `${r.org_id} ${r.dimension} ${r.id} ${Number(r.entries)}`).sort();
}

function describeCounts(name: string, open: () => Promise<Fixture>): void {
  describe(`audit counts: ${name}`, () => {
    let f: Fixture;
    let runner: ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>;
    let last: Position;

    beforeEach(async () => {
      f = await open();
      runner = new ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>({
        store: f.store,
        readStore: f.readStore,
        projections: [auditProjection],
        decode: decodeEvent,
        batchSize: 7,
        retryDelayMs: 20,
      });
      await runner.migrate();
      runner.start();
    });
    afterEach(async () => {
      await runner.stop();
      await f.close();
    });

    /** Requests of two orgs, each presenting one of a few API keys, application keys and client tokens (or none). */
    async function requests(n: number): Promise<{ orgs: string[]; apiKeys: string[] }> {
      const orgs = [randomUUID(), randomUUID()];
      const apiKeys = [randomUUID(), randomUUID(), randomUUID()];
      const appKeys = [randomUUID(), randomUUID()];
      const principals = [randomUUID(), randomUUID()];
      const token = randomUUID();
      for (let i = 0; i < n; i++) {
        const withToken = i % 5 === 4;
        const entry: RequestEntry = {
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          requestId: randomUUID(),
          orgId: orgs[i % 2]!,
          apiKeyId: withToken ? null : apiKeys[i % 3]!,
          applicationKeyId: withToken || i % 4 === 0 ? null : appKeys[i % 2]!,
          clientTokenId: withToken ? token : null,
          principalId: withToken ? null : principals[i % 2]!,
          operationType: 'query',
          operationName: 'ApiKeys',
          rootFields: ['apiKeys'],
          outcome: i % 7 === 0 ? 'DENIED' : 'ALLOWED',
          errorCode: i % 7 === 0 ? 'FORBIDDEN' : null,
          clientIp: '203.0.113.7',
          userAgent: 'curl/8.5.0',
        };
        const event = requestEvent(entry);
        last = (await f.store.append(requestStream(entry.orgId), [{ id: randomUUID(), type: event.type, data: event.data }])).position;
      }
      await runner.waitFor(last);
      return { orgs, apiKeys };
    }

    it('audit_counts equals counting the log, after batches, a rebuild, and a migration over a log already there', async () => {
      const { orgs, apiKeys } = await requests(60);
      const expected = await countedFromLog(f.readStore.db);
      expect(expected.length).toBeGreaterThan(10);
      expect(await kept(f.readStore.db)).toEqual(expected);

      // The page's totalCount comes from the table: the same as counting.
      const page = await auditLogPage(f.readStore.db, orgs[0]!, { credential: { kind: 'API_KEY', id: apiKeys[0]! } }, 'NEWEST_FIRST', { first: 3, totalCount: true });
      const counted = await f.readStore.db
        .selectFrom('audit_log')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('org_id', '=', orgs[0]!)
        .where('api_key_id', '=', apiKeys[0]!)
        .executeTakeFirstOrThrow();
      expect(await page.totalCount()).toBe(Number(counted.n));
      expect(page.edges).toHaveLength(3);
      // Past the last entry (no row to carry the count), and with no filter at all.
      const whole = await auditLogPage(f.readStore.db, orgs[0]!, { credential: { kind: 'API_KEY', id: apiKeys[0]! } }, 'NEWEST_FIRST', { first: 100 });
      const past = await auditLogPage(f.readStore.db, orgs[0]!, { credential: { kind: 'API_KEY', id: apiKeys[0]! } }, 'NEWEST_FIRST', {
        first: 3,
        after: whole.pageInfo.endCursor,
        totalCount: true,
      });
      expect(past.edges).toHaveLength(0);
      expect(await past.totalCount()).toBe(Number(counted.n));
      const all = await auditLogPage(f.readStore.db, orgs[1]!, null, 'NEWEST_FIRST', { first: 1, totalCount: true });
      expect(await all.totalCount()).toBe(30);
      expect(await (await auditLogPage(f.readStore.db, randomUUID(), null, 'NEWEST_FIRST', { first: 1, totalCount: true })).totalCount()).toBe(0);

      await runner.rebuild('audit_log');
      expect(await kept(f.readStore.db)).toEqual(expected);

      // The migration counts the log it finds (a store that had entries before audit_counts existed).
      const migration = auditProjection.migrations['0002_counts']!;
      await f.readStore.writeLock.run(async () => {
        await migration.down(f.readStore.db as unknown as Kysely<unknown>);
        await migration.up(f.readStore.db as unknown as Kysely<unknown>);
      });
      expect(await kept(f.readStore.db)).toEqual(expected);

      // And it goes on counting from there.
      await requests(9);
      expect(await kept(f.readStore.db)).toEqual(await countedFromLog(f.readStore.db));
    });
  });
}

describeCounts('sqlite', async () => {
  const path = join(dir, `keyledger-${files++}.db`);
  const store = openSqliteEventStore(path);
  const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
  return {
    store,
    readStore,
    async close() {
      await readStore.close();
      await store.close();
    },
  };
});

const available = await pgReachable();

describePg(available, 'audit counts on PostgreSQL', () => {
  describeCounts('postgres', async () => {
    const events = await createTestSchema('kl_auditc_events');
    const reads = await createTestSchema('kl_auditc_reads');
    const store = await openPostgresEventStore(PG_URL, { schema: events.schema, poolSize: 5 });
    const readStore = await openReadStore<ReadModels>({ kind: 'postgres', url: PG_URL, schema: reads.schema });
    return {
      store,
      readStore,
      async close() {
        await readStore.close();
        await store.close();
        await events.drop();
        await reads.drop();
      },
    };
  });
});

describe('the SQLite text of a stored entry’s hash', () => {
  it('is what entryHash hashes, for every kind of text a column can hold; the verifier agrees', async () => {
    const path = join(dir, `keyledger-${files++}.db`);
    const readStore = await openReadStore<ReadModels>({ kind: 'sqlite', path });
    try {
      await readStore.db.transaction().execute(async (tx) => {
        for (const m of Object.keys(auditProjection.migrations).sort()) await auditProjection.migrations[m]!.up(tx as unknown as Kysely<unknown>);
      });
      const awkward = [
        '',
        'plain',
        'quote " and backslash \\',
        'controls \u0000\u0001\b\t\n\u000b\f\r\u001f\u007f',
        'unicode é ß 中文 \u2028\u2029 \ufeff \uffff',
        'astral 😀 𝄞',
        '=HYPERLINK("x")',
        '{"json":[1,2]}',
      ];
      // Every BMP character but the surrogates, in a few long texts.
      const bmp: string[] = [];
      for (let start = 0; start < 0x10000; start += 0x1000) {
        let text = '';
        for (let c = start; c < start + 0x1000; c++) if (c < 0xd800 || c > 0xdfff) text += String.fromCharCode(c);
        bmp.push(text);
      }
      const texts = [...awkward, ...bmp];
      const orgId = randomUUID();
      let prev = '0'.repeat(64);
      const rows = texts.map((text, i) => {
        const row = {
          seq: i + 1,
          org_id: orgId,
          org_seq: i + 1,
          event_id: randomUUID(),
          position: String(i),
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          kind: 'LIFECYCLE' as const,
          event_type: 'ApiKeyRenamed',
          request_id: i % 2 === 0 ? null : text,
          api_key_id: text,
          application_key_id: null,
          client_token_id: null,
          principal_id: text,
          operation_type: null,
          operation_name: text,
          root_fields: null,
          outcome: 'ALLOWED' as const,
          error_code: null,
          client_ip: null,
          user_agent: text,
          subject_id: text,
          details: text,
          prev_hash: prev,
          hash: '',
        };
        row.hash = entryHash(prev, row);
        prev = row.hash;
        return row;
      });
      await readStore.db.insertInto('audit_log').values(rows).execute();
      await readStore.db.insertInto('audit_chain_heads').values({ org_id: orgId, last_org_seq: rows.length, last_hash: prev }).execute();
      const made = await readStore.db
        .selectFrom('audit_log')
        .select(['seq', 'hash', sql.raw<string>(SQLITE_HASHED_TEXT).as('hashed')])
        .orderBy('seq')
        .execute();
      expect(made).toHaveLength(rows.length);
      for (const [i, row] of made.entries()) {
        expect(sha256Hex(row.hashed)).toBe(rows[i]!.hash);
        expect(row.hash).toBe(rows[i]!.hash);
      }
      expect(await verifyAuditChain(readStore.db, orgId)).toEqual({ ok: true, checked: rows.length, firstBroken: null });
    } finally {
      await readStore.close();
    }
  });
});
