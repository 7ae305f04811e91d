// The audit log's projection, chain and export (R22-R24), run on every read store (SQLite,
// PostgreSQL): entries in global order, one hash chain per organization, the store refusing
// changes, tampering found by the verifier, rebuilds that reproduce every hash, streaming export.

import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { sql, type Selectable } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventMetadata, OPERATOR, type PrincipalActor } from '../../src/domain/actor.js';
import { requestEvent, requestStream, type RequestEntry } from '../../src/domain/requests.js';
import type { EventStore, JsonObject, JsonValue, Position, RecordedEvent } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';
import { exportAudit } from '../../src/audit/export.js';
import { verifyAuditChain } from '../../projections/audit/integrity.js';
import { auditProjection } from '../../projections/audit/projection.js';
import { LIFECYCLE_EVENT_TYPES, type KeyledgerEvent, type OrganizationEvent, type PrincipalEvent } from '../../src/domain/events.js';
import { decodeEvent, type Recorded } from '../../src/eventstore/recorded.js';
import { GENESIS_HASH, canonicalJson, entryHash } from '../../projections/audit/chain.js';
import type { ReadModels } from '../../projections/read-models.js';
import type { ReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner } from '../../projections/core/runner.js';
import type { AuditLogTable } from '../../projections/audit/tables.js';

export interface AuditFixture {
  store: EventStore;
  readStore: ReadStore<ReadModels>;
  /** Runs `work` with the append-only triggers off, as someone holding the store's own keys could. */
  withoutTriggers(work: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();

interface Org {
  orgId: string;
  adminId: string;
  apiKeyId: string;
  applicationKeyId: string;
  actor: PrincipalActor;
}

function newOrg(): Org {
  const orgId = randomUUID();
  const adminId = randomUUID();
  const apiKeyId = randomUUID();
  const applicationKeyId = randomUUID();
  return {
    orgId,
    adminId,
    apiKeyId,
    applicationKeyId,
    actor: { kind: 'principal', orgId, principalId: adminId, principalKind: 'USER', role: 'admin', apiKeyId, applicationKeyId, scopes: null, permissions: new Set() },
  };
}

function requestEntry(org: Org, minute: number, overrides: Partial<RequestEntry> = {}): RequestEntry {
  return {
    at: at(minute),
    requestId: randomUUID(),
    orgId: org.orgId,
    apiKeyId: org.apiKeyId,
    applicationKeyId: org.applicationKeyId,
    clientTokenId: null,
    principalId: org.adminId,
    operationType: 'query',
    operationName: 'ApiKeys',
    rootFields: ['apiKeys'],
    outcome: 'ALLOWED',
    errorCode: null,
    clientIp: '203.0.113.7',
    userAgent: 'curl/8.5.0',
    ...overrides,
  };
}

type Row = Omit<Selectable<AuditLogTable>, 'seq' | 'org_seq'> & { seq: number; org_seq: number };

export function describeAuditProjectionContract(name: string, open: () => Promise<AuditFixture>): void {
  describe(`audit log: ${name}`, () => {
    let f: AuditFixture;
    let runner: ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>;
    let last: Position;

    beforeEach(async () => {
      f = await open();
      runner = new ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>({
        store: f.store,
        readStore: f.readStore,
        projections: [auditProjection],
        decode: decodeEvent,
        batchSize: 50,
        retryDelayMs: 20,
      });
      await runner.migrate();
      runner.start();
      last = START;
    });
    afterEach(async () => {
      await runner.stop();
      await f.close();
    });

    async function lifecycle(stream: string, events: readonly (OrganizationEvent | PrincipalEvent)[], metadata: JsonObject): Promise<void> {
      const result = await f.store.append(
        stream,
        events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data as unknown as JsonValue, metadata })),
      );
      last = result.position;
    }

    async function requests(entries: readonly RequestEntry[]): Promise<void> {
      for (const entry of entries) {
        const event = requestEvent(entry);
        last = (await f.store.append(requestStream(entry.orgId), [{ id: randomUUID(), type: event.type, data: event.data }])).position;
      }
    }

    /** An org as init-org makes it (by the operator), then changes by its admin. */
    async function lifecycleOf(org: Org, minute: number): Promise<void> {
      const { orgId, adminId, apiKeyId, applicationKeyId } = org;
      await lifecycle(
        `org-${orgId}`,
        [
          { type: 'OrganizationCreated', data: { orgId, name: 'Acme', apiKeyLimit: 50 } },
          { type: 'ApiKeyCreated', data: { orgId, keyId: apiKeyId, name: 'Default API key', digest: 'a'.repeat(64), last4: 'abcd', createdBy: adminId } },
        ],
        eventMetadata(OPERATOR, 'init', new Date(at(minute))),
      );
      await lifecycle(
        `principal-${adminId}`,
        [
          { type: 'UserInvited', data: { principalId: adminId, orgId, email: 'ada@example.test', name: 'Ada', role: 'admin' } },
          {
            type: 'ApplicationKeyCreated',
            data: {
              principalId: adminId,
              orgId,
              keyId: applicationKeyId,
              name: 'Default application key',
              digest: 'b'.repeat(64),
              last4: 'wxyz',
              scopes: null,
              expiresAt: null,
              createdBy: null,
            },
          },
        ],
        eventMetadata(OPERATOR, 'init', new Date(at(minute))),
      );
    }

    async function caughtUp(): Promise<void> {
      await runner.waitFor(last);
    }

    async function rows(orgId?: string): Promise<Row[]> {
      let query = f.readStore.db.selectFrom('audit_log').selectAll();
      if (orgId) query = query.where('org_id', '=', orgId);
      const found = await query.orderBy('seq').execute();
      return found.map((row) => ({ ...row, seq: Number(row.seq), org_seq: Number(row.org_seq) }));
    }

    async function events(): Promise<RecordedEvent[]> {
      const all: RecordedEvent[] = [];
      for await (const page of f.store.readAll()) all.push(...page);
      return all;
    }

    const tamper = (statement: ReturnType<typeof sql>) => f.withoutTriggers(async () => void (await statement.execute(f.readStore.db)));

    it('R23: every lifecycle event becomes an entry, in global order, with the acting credentials and its data without digests', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      const userId = randomUUID();
      const keyId = randomUUID();
      const { orgId } = org;
      const byAdmin = eventMetadata(org.actor, 'req-1', new Date(at(5)));
      await lifecycle(`principal-${userId}`, [{ type: 'UserInvited', data: { principalId: userId, orgId, email: 'bob@example.test', name: 'Bob', role: 'standard' } }], byAdmin);
      await lifecycle(
        `principal-${userId}`,
        [
          {
            type: 'ApplicationKeyCreated',
            data: { principalId: userId, orgId, keyId, name: 'ci', digest: 'c'.repeat(64), last4: 'q1w2', scopes: ['dashboards_read'], expiresAt: null, createdBy: org.adminId },
          },
          { type: 'ApplicationKeyScoped', data: { principalId: userId, orgId, keyId, scopes: ['monitors_read'], previousScopes: ['dashboards_read'] } },
          { type: 'ApplicationKeyRenamed', data: { principalId: userId, orgId, keyId, name: 'ci-2', previousName: 'ci' } },
          { type: 'PrincipalRoleChanged', data: { principalId: userId, orgId, role: 'read_only', previousRole: 'standard' } },
          { type: 'PrincipalDisabled', data: { principalId: userId, orgId } },
          { type: 'ApplicationKeyOwnerDisabled', data: { principalId: userId, orgId, keyId, reason: 'OWNER_DISABLED' } },
        ],
        byAdmin,
      );
      await lifecycle(`org-${orgId}`, [{ type: 'ApiKeyLimitChanged', data: { orgId, apiKeyLimit: 10, previousLimit: 50 } }], eventMetadata(OPERATOR, 'cli-1', new Date(at(6))));
      await caughtUp();

      const stored = await events();
      const entries = await rows();
      expect(entries.map((e) => e.event_id)).toEqual(stored.map((e) => e.id));
      expect(entries.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
      expect(entries.map((e) => e.org_seq)).toEqual(stored.map((_, i) => i + 1));
      expect(entries.map((e) => e.position)).toEqual(stored.map((e) => e.position));
      expect(entries.every((e) => e.kind === 'LIFECYCLE' && e.outcome === 'ALLOWED' && e.org_id === orgId && e.root_fields === null)).toBe(true);
      expect(entries.some((e) => e.details?.includes('digest'))).toBe(false);

      const byType = new Map(entries.map((e) => [e.event_type, e]));
      // The operator (the command line) acts with no credential.
      expect(byType.get('OrganizationCreated')).toMatchObject({ api_key_id: null, application_key_id: null, principal_id: null, subject_id: orgId, request_id: 'init', at: at(0) });
      expect(byType.get('ApiKeyCreated')).toMatchObject({ subject_id: org.apiKeyId });
      expect(JSON.parse(byType.get('ApiKeyCreated')!.details!)).toEqual({ orgId, keyId: org.apiKeyId, name: 'Default API key', last4: 'abcd', createdBy: org.adminId });
      // The admin's changes name the admin and the admin's credentials.
      for (const type of ['ApplicationKeyScoped', 'ApplicationKeyRenamed', 'PrincipalRoleChanged', 'PrincipalDisabled', 'ApplicationKeyOwnerDisabled']) {
        expect(byType.get(type), type).toMatchObject({
          api_key_id: org.apiKeyId,
          application_key_id: org.applicationKeyId,
          principal_id: org.adminId,
          request_id: 'req-1',
          at: at(5),
        });
      }
      expect(byType.get('ApplicationKeyScoped')).toMatchObject({
        subject_id: keyId,
        details: canonicalJson({ principalId: userId, orgId, keyId, scopes: ['monitors_read'], previousScopes: ['dashboards_read'] }),
      });
      expect(byType.get('PrincipalRoleChanged')).toMatchObject({ subject_id: userId });
      expect(JSON.parse(byType.get('PrincipalRoleChanged')!.details!)).toMatchObject({ role: 'read_only', previousRole: 'standard' });
      expect(byType.get('ApiKeyLimitChanged')).toMatchObject({ principal_id: null, request_id: 'cli-1', subject_id: orgId });
      expect(JSON.parse(byType.get('ApiKeyLimitChanged')!.details!)).toEqual({ orgId, apiKeyLimit: 10, previousLimit: 50 });
    });

    it('R23: the projection handles every lifecycle event type of the domain', () => {
      expect(auditProjection.handles).toEqual(expect.arrayContaining([...LIFECYCLE_EVENT_TYPES, 'RequestAuthenticated', 'RequestDenied']));
    });

    it('R22: every request event becomes an entry with its time, request id, credentials, operation, outcome, error code, IP and user agent', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      const allowed = requestEntry(org, 1);
      const denied = requestEntry(org, 2, {
        applicationKeyId: null,
        principalId: null,
        operationType: 'mutation',
        operationName: null,
        rootFields: ['createApiKey', 'renameApiKey'],
        outcome: 'DENIED',
        errorCode: 'UNAUTHENTICATED',
        userAgent: 'Mozilla/5.0 (X11; "quoted", comma)',
      });
      const intake = requestEntry(org, 3, {
        apiKeyId: null,
        applicationKeyId: null,
        clientTokenId: randomUUID(),
        principalId: null,
        operationType: 'http',
        operationName: 'GET /api/v1/validate',
        rootFields: [],
      });
      await requests([allowed, denied, intake]);
      await caughtUp();

      const entries = (await rows()).slice(4);
      expect(entries).toHaveLength(3);
      expect(entries[0]).toMatchObject({
        kind: 'REQUEST',
        event_type: 'RequestAuthenticated',
        org_id: org.orgId,
        org_seq: 5,
        at: allowed.at,
        request_id: allowed.requestId,
        api_key_id: org.apiKeyId,
        application_key_id: org.applicationKeyId,
        client_token_id: null,
        principal_id: org.adminId,
        operation_type: 'query',
        operation_name: 'ApiKeys',
        root_fields: '["apiKeys"]',
        outcome: 'ALLOWED',
        error_code: null,
        client_ip: '203.0.113.7',
        user_agent: 'curl/8.5.0',
        subject_id: null,
        details: null,
      });
      expect(entries[1]).toMatchObject({
        event_type: 'RequestDenied',
        outcome: 'DENIED',
        error_code: 'UNAUTHENTICATED',
        application_key_id: null,
        root_fields: '["createApiKey","renameApiKey"]',
      });
      expect(entries[2]).toMatchObject({ operation_type: 'http', operation_name: 'GET /api/v1/validate', client_token_id: intake.clientTokenId, root_fields: '[]' });
    });

    it('R24: each organization has its own hash chain, its entries interleaved with the other organization’s in the global order', async () => {
      const a = newOrg();
      const b = newOrg();
      await lifecycleOf(a, 0);
      await lifecycleOf(b, 0);
      for (let i = 1; i <= 6; i++) await requests([requestEntry(i % 2 === 0 ? a : b, i), requestEntry(a, i)]);
      await caughtUp();

      const all = await rows();
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      for (const org of [a, b]) {
        const chain = all.filter((e) => e.org_id === org.orgId);
        expect(chain.map((e) => e.org_seq)).toEqual(chain.map((_, i) => i + 1));
        expect(chain[0]!.prev_hash).toBe(GENESIS_HASH);
        chain.forEach((entry, i) => {
          if (i > 0) expect(entry.prev_hash).toBe(chain[i - 1]!.hash);
          expect(entry.hash).toBe(entryHash(entry.prev_hash, entry));
          expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
        });
        const head = await f.readStore.db.selectFrom('audit_chain_heads').selectAll().where('org_id', '=', org.orgId).executeTakeFirstOrThrow();
        expect({ seq: Number(head.last_org_seq), hash: head.last_hash }).toEqual({ seq: chain.length, hash: chain[chain.length - 1]!.hash });
        expect(await verifyAuditChain(f.readStore.db, org.orgId)).toEqual({ ok: true, checked: chain.length, firstBroken: null });
      }
      expect(all.filter((e) => e.org_id === a.orgId)).toHaveLength(4 + 9);
      // The hash does not cover seq or position: an entry's hash is the same whatever the global numbering.
      const sample = all[5]!;
      expect(entryHash(sample.prev_hash, { ...sample, seq: 999, position: 'elsewhere' } as Row)).toBe(sample.hash);
    });

    it('R24: the store refuses UPDATE and DELETE on audit_log', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      await caughtUp();
      const db = f.readStore.db;
      await expect(sql`update audit_log set client_ip = ${'198.51.100.1'} where seq = 2`.execute(db)).rejects.toThrow(/append-only/);
      await expect(sql`update audit_log set hash = prev_hash`.execute(db)).rejects.toThrow(/append-only/);
      await expect(sql`delete from audit_log where seq = 4`.execute(db)).rejects.toThrow(/append-only/);
      await expect(sql`delete from audit_log`.execute(db)).rejects.toThrow(/append-only/);
      if (f.readStore.kind === 'postgres') await expect(sql`truncate audit_log`.execute(db)).rejects.toThrow(/append-only/);
      expect(await rows()).toHaveLength(4);
      expect(await verifyAuditChain(db, org.orgId)).toMatchObject({ ok: true, checked: 4 });
    });

    it('R24: a changed entry is named by the verifier (hash mismatch), and only that one', async () => {
      const a = newOrg();
      const b = newOrg();
      await lifecycleOf(a, 0);
      await lifecycleOf(b, 0);
      for (let i = 1; i <= 5; i++) await requests([requestEntry(a, i), requestEntry(b, i)]);
      await caughtUp();
      const target = (await rows(a.orgId))[6]!;

      await tamper(sql`update audit_log set client_ip = ${'198.51.100.66'} where seq = ${target.seq}`);
      expect((await rows(a.orgId))[6]!.client_ip).toBe('198.51.100.66');
      const result = await verifyAuditChain(f.readStore.db, a.orgId);
      expect(result).toEqual({ ok: false, checked: 7, firstBroken: { seq: target.seq, orgSeq: 7, eventId: target.event_id, at: target.at, reason: 'hash mismatch' } });
      // The other organization's chain is intact.
      expect(await verifyAuditChain(f.readStore.db, b.orgId)).toMatchObject({ ok: true, checked: 9 });
      // The triggers are back.
      await expect(sql`update audit_log set client_ip = null where seq = ${target.seq}`.execute(f.readStore.db)).rejects.toThrow(/append-only/);
    });

    it('R24: an entry replaced with a consistent hash breaks the next link; deleted entries are gaps', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      for (let i = 1; i <= 6; i++) await requests([requestEntry(org, i)]);
      await caughtUp();
      const chain = await rows(org.orgId);
      expect(chain).toHaveLength(10);

      // Entry 5 rewritten, its hash recomputed: entry 6 no longer links to it.
      const forged = { ...chain[4]!, outcome: 'DENIED' as const };
      await tamper(sql`update audit_log set outcome = ${'DENIED'}, hash = ${entryHash(forged.prev_hash, forged)} where seq = ${forged.seq}`);
      expect((await verifyAuditChain(f.readStore.db, org.orgId)).firstBroken).toEqual({
        seq: chain[5]!.seq,
        orgSeq: 6,
        eventId: chain[5]!.event_id,
        at: chain[5]!.at,
        reason: 'broken link',
      });

      // The last entry rewritten the same way: the chain head no longer links to it.
      const tail = { ...chain[9]!, user_agent: 'forged' };
      await tamper(sql`update audit_log set user_agent = ${'forged'}, hash = ${entryHash(tail.prev_hash, tail)} where seq = ${tail.seq}`);
      expect(await verifyAuditChain(f.readStore.db, org.orgId, { from: new Date(at(5)) })).toMatchObject({ ok: false, firstBroken: { orgSeq: 10, reason: 'broken link' } });

      // Entry 8 deleted: entry 9 follows a gap. The last entry deleted: the chain ends early.
      await tamper(sql`delete from audit_log where seq = ${chain[7]!.seq}`);
      expect(await verifyAuditChain(f.readStore.db, org.orgId, { from: new Date(at(3)) })).toMatchObject({ ok: false, checked: 2, firstBroken: { orgSeq: 9, reason: 'gap' } });
      await tamper(sql`delete from audit_log where seq >= ${chain[7]!.seq}`);
      expect(await verifyAuditChain(f.readStore.db, org.orgId, { from: new Date(at(3)) })).toMatchObject({ ok: false, firstBroken: { orgSeq: 7, reason: 'gap' } });
    });

    it('R24: verifying a time range starts from the stored prev_hash of its first entry and checks it against the entry before', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      for (let i = 1; i <= 9; i++) await requests([requestEntry(org, i)]);
      await caughtUp();
      const chain = await rows(org.orgId);
      const range = { from: new Date(at(3)), to: new Date(at(7)) };
      expect(await verifyAuditChain(f.readStore.db, org.orgId, range)).toEqual({ ok: true, checked: 4, firstBroken: null });
      expect(await verifyAuditChain(f.readStore.db, org.orgId, { from: new Date(at(30)) })).toEqual({ ok: true, checked: 0, firstBroken: null });

      // A change before the range is not in it; the whole chain shows it.
      const early = chain[5]!; // the request at minute 2
      await tamper(sql`update audit_log set client_ip = ${'192.0.2.1'} where seq = ${early.seq}`);
      expect(await verifyAuditChain(f.readStore.db, org.orgId, range)).toMatchObject({ ok: true, checked: 4 });
      expect((await verifyAuditChain(f.readStore.db, org.orgId)).firstBroken).toMatchObject({ orgSeq: 6, reason: 'hash mismatch' });

      // The entry just before the range replaced whole: the range's first entry no longer links to it.
      const before = { ...chain[5]!, client_ip: '192.0.2.1' };
      await tamper(sql`update audit_log set hash = ${entryHash(before.prev_hash, before)} where seq = ${before.seq}`);
      expect(await verifyAuditChain(f.readStore.db, org.orgId, range)).toMatchObject({
        ok: false,
        checked: 1,
        firstBroken: { orgSeq: 7, eventId: chain[6]!.event_id, reason: 'broken link' },
      });
    });

    it('R24: a rebuild reproduces every entry, seq and hash', async () => {
      const a = newOrg();
      const b = newOrg();
      await lifecycleOf(a, 0);
      await lifecycleOf(b, 1);
      for (let i = 0; i < 12; i++) await requests([requestEntry(i % 3 === 0 ? b : a, i), requestEntry(a, i, { outcome: 'FAILED', errorCode: 'NAME_TAKEN' })]);
      await caughtUp();
      const before = await rows();
      const heads = await f.readStore.db.selectFrom('audit_chain_heads').selectAll().orderBy('org_id').execute();

      const rebuilt = await runner.rebuild('audit_log');
      expect(rebuilt.events).toBe(before.length);
      expect(await rows()).toEqual(before);
      expect(await f.readStore.db.selectFrom('audit_chain_heads').selectAll().orderBy('org_id').execute()).toEqual(heads);
      // Still append-only, and still growing from where it was.
      await expect(sql`delete from audit_log`.execute(f.readStore.db)).rejects.toThrow(/append-only/);
      await requests([requestEntry(b, 30)]);
      await caughtUp();
      const after = await rows();
      expect(after[after.length - 1]).toMatchObject({ seq: before.length + 1, org_id: b.orgId, prev_hash: before.filter((e) => e.org_id === b.orgId).at(-1)!.hash });
      expect((await verifyAuditChain(f.readStore.db, b.orgId)).ok).toBe(true);
    });

    it('R24: a batch larger than one INSERT is written in chunks, in order', async () => {
      const org = newOrg();
      const recorded: RecordedEvent[] = Array.from({ length: 2500 }, (_, i) => {
        const entry = requestEntry(org, i % 60);
        return {
          id: randomUUID(),
          type: 'RequestAuthenticated',
          data: entry,
          metadata: {},
          stream: requestStream(org.orgId),
          revision: BigInt(i),
          position: `p${String(i).padStart(6, '0')}` as Position,
          recordedAt: new Date(),
        };
      });
      await runner.stop();
      await f.readStore.writeLock.run(() =>
        f.readStore.db.transaction().execute((tx) =>
          auditProjection.handleBatch!(
            recorded.flatMap((event) => decodeEvent(event) ?? []),
            tx,
          ),
        ),
      );
      const chain = await rows(org.orgId);
      expect(chain).toHaveLength(2500);
      expect(chain.map((e) => e.event_id)).toEqual(recorded.map((e) => e.id));
      expect(await verifyAuditChain(f.readStore.db, org.orgId)).toEqual({ ok: true, checked: 2500, firstBroken: null });
    });

    it('exports every entry of an organization as CSV and NDJSON, streaming', async () => {
      const a = newOrg();
      const b = newOrg();
      await lifecycleOf(a, 0);
      await lifecycleOf(b, 0);
      for (let i = 1; i <= 25; i++) await requests([requestEntry(a, i, i === 3 ? { userAgent: 'Agent "X", v2\r\nline two' } : {}), requestEntry(b, i)]);
      await caughtUp();
      const chain = await rows(a.orgId);
      expect(chain).toHaveLength(29);

      const csv = await collect((out) => exportAudit(f.readStore.db, { orgId: a.orgId, format: 'csv', pageSize: 7 }, out));
      expect(csv.result).toEqual({ entries: 29 });
      const records = parseCsv(csv.text);
      expect(records[0]).toEqual([
        'seq',
        'org_id',
        'org_seq',
        'event_id',
        'position',
        'at',
        'kind',
        'event_type',
        'request_id',
        'api_key_id',
        'application_key_id',
        'client_token_id',
        'principal_id',
        'operation_type',
        'operation_name',
        'root_fields',
        'outcome',
        'error_code',
        'client_ip',
        'user_agent',
        'subject_id',
        'details',
        'prev_hash',
        'hash',
      ]);
      expect(records).toHaveLength(30);
      expect(records.slice(1).map((r) => r[3])).toEqual(chain.map((e) => e.event_id));
      expect(records.find((r) => r[19]?.startsWith('Agent'))?.[19]).toBe('Agent "X", v2\r\nline two');
      expect(csv.text).toContain('"Agent ""X"", v2\r\nline two"');

      const ndjson = await collect((out) => exportAudit(f.readStore.db, { orgId: a.orgId, format: 'ndjson' }, out));
      const lines = ndjson.text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as Row);
      expect(lines).toHaveLength(29);
      expect(lines.map((e) => e.seq)).toEqual(chain.map((e) => e.seq));
      // An exported entry can be checked against its hash offline.
      for (const entry of lines) expect(entryHash(entry.prev_hash, entry)).toBe(entry.hash);

      const ranged = await collect((out) => exportAudit(f.readStore.db, { orgId: a.orgId, format: 'ndjson', from: new Date(at(10)), to: new Date(at(20)) }, out));
      expect(ranged.result.entries).toBe(10);
    });

    it('export waits for a slow reader to drain before reading the next page', async () => {
      const org = newOrg();
      await lifecycleOf(org, 0);
      for (let i = 0; i < 6; i++) await requests(Array.from({ length: 10 }, (_, j) => requestEntry(org, i * 10 + j)));
      await caughtUp();
      let peak = 0;
      let largestChunk = 0;
      let drains = 0;
      let text = '';
      const slow = new Writable({
        highWaterMark: 256,
        write(chunk: Buffer, _encoding, done) {
          peak = Math.max(peak, this.writableLength);
          largestChunk = Math.max(largestChunk, chunk.length);
          text += chunk.toString();
          setTimeout(done, 2);
        },
      });
      slow.on('drain', () => drains++);
      const { entries } = await exportAudit(f.readStore.db, { orgId: org.orgId, format: 'ndjson', pageSize: 10 }, slow);
      expect(entries).toBe(64);
      expect(text.trimEnd().split('\n')).toHaveLength(64);
      expect(drains).toBeGreaterThanOrEqual(6);
      // Never more than one page waiting in the stream.
      expect(peak).toBeLessThanOrEqual(largestChunk);
    });
  });
}

async function collect<T>(work: (out: Writable) => Promise<T>): Promise<{ text: string; result: T }> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const result = await work(out);
  return { text, result };
}

/** A strict RFC 4180 reader, for checking the writer. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else {
          field += text[i];
          i++;
        }
      }
    } else if (text[i] === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (text.startsWith('\r\n', i)) {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else {
      field += text[i];
      i++;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('CSV does not end with CRLF');
  return records;
}
