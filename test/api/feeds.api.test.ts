// The change feeds (R26) as a consumer meets them: `credentialEvents` and `auditEntries` over
// SSE (graphql-sse, both modes) and WebSocket (graphql-ws), with the real client libraries, on
// SQLite and on PostgreSQL with two gateway instances.

import { randomBytes } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditLogDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  DisablePrincipalDocument,
  RenameApiKeyDocument,
  RevokeApplicationKeyDocument,
} from '../gql/graphql.js';
import { isCredentialEvent } from '../../src/domain/events.js';
import { decodeEvent } from '../../src/eventstore/recorded.js';
import { encodeCursor } from '../../src/feeds/cursor.js';
import { startGateway, type Credentials, type TestGateway } from '../support/gateway.js';
import { lastErrorCode, refusalOf, subscribe, TRANSPORTS, type FeedSubscription, type Received, type Transport } from '../support/feeds.js';
import { member } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';

const CREDENTIAL_FEED = `subscription CredentialFeed($after: String) {
  credentialEvents(after: $after) {
    cursor
    type
    occurredAt
    credential { __typename ... on ApiKey { id name } ... on ApplicationKey { id name } ... on ClientToken { id name } }
  }
}`;

const AUDIT_FEED = `subscription AuditFeed($after: String, $filter: AuditLogFilter) {
  auditEntries(after: $after, filter: $filter) { cursor type occurredAt entry { seq eventType operationType rootFields outcome subjectId } }
}`;

interface CredentialPayload {
  readonly cursor: string;
  readonly type: string;
  readonly credential: { readonly __typename: string; readonly id: string; readonly name: string };
}

function payloads(received: Received): CredentialPayload[] {
  return received.results.flatMap((r) => {
    const item = (r.data as { credentialEvents?: CredentialPayload } | null | undefined)?.credentialEvents;
    return item ? [item] : [];
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const gid = (typename: string, id: string) => encodeGlobalID(typename, id);

/** The organization's credential events in the store, as the feed must show them to its admin: cursor, type, credential. */
async function credentialHistory(g: TestGateway, orgId: string): Promise<string[]> {
  const history: string[] = [];
  for await (const page of g.app.store.readAll()) {
    for (const recorded of page) {
      const event = decodeEvent(recorded);
      if (event === null || !isCredentialEvent(event) || (event.data as { orgId: string }).orgId !== orgId) continue;
      history.push(`${encodeCursor(recorded.position)} ${event.type}`);
    }
  }
  return history;
}

const keyOf = (p: CredentialPayload) => `${p.cursor} ${p.type}`;

/** Keeps writing credential events (renames, now and then a new client token) until stopped. */
function writer(g: TestGateway, as: Credentials, keyId: string): { stop(): Promise<number> } {
  let running = true;
  let writes = 0;
  const loop = (async () => {
    while (running) {
      const n = writes++;
      const answer =
        n % 7 === 6
          ? await g.call(CreateClientTokenDocument, { name: `token-${n}-${randomBytes(2).toString('hex')}` }, as)
          : await g.call(RenameApiKeyDocument, { id: keyId, name: `agents-${n}` }, as);
      expect(answer.errors, 'a write of the writer').toBeUndefined();
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return writes;
    },
  };
}

/**
 * R26: subscribe, receive, drop the connection while a writer keeps writing, resume with the last
 * cursor (on another instance where there is one): the two parts make the whole history, in
 * order, once each.
 */
async function expectGaplessResume(g: TestGateway, transport: Transport, urls: { first: string; second: string }): Promise<void> {
  const { org, admin } = await g.newOrg();
  const keyId = gid('ApiKey', org.apiKey.credential.id);
  const w = writer(g, admin, keyId);
  let first: FeedSubscription | undefined;
  let second: FeedSubscription | undefined;
  try {
    await sleep(50);
    first = subscribe(transport, urls.first, admin, CREDENTIAL_FEED, { after: '' });
    await first.until((r) => payloads(r).length >= 6, 10_000, 'the first payloads');
    await first.drop();
    const before = payloads(first);
    await sleep(150);
    second = subscribe(transport, urls.second, admin, CREDENTIAL_FEED, { after: before[before.length - 1]!.cursor });
    await sleep(150);
    const writes = await w.stop();
    expect(writes).toBeGreaterThan(5);
    const history = await credentialHistory(g, org.organization.id);
    await second.until((r) => payloads(r).at(-1)?.cursor === history.at(-1)?.split(' ')[0], 10_000, 'the last event');
    const received = [...before, ...payloads(second)].map(keyOf);
    expect(received).toEqual(history);
    expect(new Set(received).size).toBe(received.length);
  } finally {
    await w.stop();
    await first?.drop();
    await second?.drop();
  }
}

async function waitFor(probe: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('change feeds on SQLite', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startGateway();
  });
  afterAll(async () => {
    await g.close();
  });

  for (const transport of TRANSPORTS) {
    it(`R26: over ${transport}, a consumer that drops and resumes from its last cursor gets the whole history, in order, once`, async () => {
      await expectGaplessResume(g, transport, { first: g.url, second: g.url });
      await sleep(100);
      expect(g.app.feeds.open, 'a dropped connection ends its feed').toBe(0);
    });
  }

  it('R26: without after, a feed starts live: it shows what happens after it started, nothing before', async () => {
    const { org, admin } = await g.newOrg();
    const s = subscribe('sse-distinct', g.url, admin, CREDENTIAL_FEED);
    try {
      await sleep(300);
      const made = await g.call(CreateApiKeyDocument, { name: 'after-start' }, admin);
      await s.until((r) => payloads(r).length >= 1);
      expect(payloads(s).map((p) => [p.type, p.credential.id])).toEqual([['ApiKeyCreated', made.data!.createApiKey.apiKey.id]]);
      expect(payloads(s).some((p) => p.credential.id === gid('ApiKey', org.apiKey.credential.id))).toBe(false);
    } finally {
      await s.drop();
    }
  });

  for (const [after, why] of [
    ['not-a-cursor', 'garbage'],
    [encodeCursor('ffffffffffffffff' as never), 'a position past the head'],
    [Buffer.from('kl1:0000000000000001\n').toString('base64url'), 'a cursor that is not one of ours'],
  ] as const) {
    it(`R26: a bad cursor (${why}) is BAD_USER_INPUT`, async () => {
      for (const transport of TRANSPORTS) {
        const s = subscribe(transport, g.url, g.admin, CREDENTIAL_FEED, { after });
        try {
          await s.until((r) => r.results.length > 0 || r.ended !== null, 5000, `the refusal over ${transport}`);
          expect(lastErrorCode(s), transport).toBe('BAD_USER_INPUT');
          expect(s.results.at(-1)?.errors?.[0]?.extensions?.field).toBe('after');
        } finally {
          await s.drop();
        }
      }
    });
  }

  it('R20: a feed never shows another organization’s events', async () => {
    const a = await g.newOrg();
    const b = await g.newOrg();
    const creds = subscribe('ws', g.url, a.admin, CREDENTIAL_FEED, { after: '' });
    const audit = subscribe('sse-single', g.url, a.admin, AUDIT_FEED, { after: '' });
    try {
      await g.call(CreateApiKeyDocument, { name: 'b-secret-project' }, b.admin);
      await g.call(CreateClientTokenDocument, { name: 'b-token' }, b.admin);
      const marker = await g.call(CreateApiKeyDocument, { name: 'a-marker' }, a.admin);
      const markerId = marker.data!.createApiKey.apiKey.id;
      await creds.until((r) => payloads(r).some((p) => p.credential.id === markerId));
      const orgOfA = await credentialHistory(g, a.org.organization.id);
      expect(payloads(creds).map(keyOf)).toEqual(orgOfA);
      expect(payloads(creds).some((p) => p.credential.name.startsWith('b-'))).toBe(false);
      await audit.until((r) => JSON.stringify(r.results).includes(markerId), 10_000, "the marker's audit entry");
      await sleep(300);
      const feedSeqs = audit.results.map((r) => (r.data as { auditEntries: { entry: { seq: number } } }).auditEntries.entry.seq);
      const log = await g.call(AuditLogDocument, { first: 100, order: 'OLDEST_FIRST' }, a.admin);
      const orgSeqs = new Set(log.data!.auditLog.edges.map((e) => e.node.seq));
      expect(feedSeqs.length).toBeGreaterThan(3);
      expect(
        feedSeqs.filter((seq) => !orgSeqs.has(seq)),
        "entries that are not the organization's",
      ).toEqual([]);
      expect(audit.results.every((r) => r.errors === undefined)).toBe(true);
    } finally {
      await creds.drop();
      await audit.drop();
    }
  });

  it('R26: a credential sees only what it may read: no API keys without api_keys_read, no client tokens without client_tokens_read, only its own application keys', async () => {
    // Scoped to what lets it read its own keys and nothing else of the organization's credentials.
    const reader = await member(g, 'STANDARD', { scopes: ['user_access_read'] });
    const other = await member(g, 'STANDARD');
    const s = subscribe('sse-distinct', g.url, reader.credentials, CREDENTIAL_FEED, { after: '' });
    try {
      await g.call(CreateApiKeyDocument, { name: `hidden-${randomBytes(2).toString('hex')}` });
      await g.call(CreateClientTokenDocument, { name: `hidden-${randomBytes(2).toString('hex')}` });
      await g.call(CreateApplicationKeyDocument, { name: 'hidden', ownerId: other.id });
      const mine = await g.call(CreateApplicationKeyDocument, { name: 'visible', ownerId: reader.id });
      const mineId = mine.data!.createApplicationKey.applicationKey.id;
      await s.until((r) => payloads(r).some((p) => p.credential.id === mineId));
      await sleep(200);
      const seen = payloads(s);
      expect(new Set(seen.map((p) => p.credential.__typename))).toEqual(new Set(['ApplicationKey']));
      expect(new Set(seen.map((p) => p.credential.id))).toEqual(new Set([reader.keyId, mineId]));
      expect(s.results.every((r) => r.errors === undefined)).toBe(true);
    } finally {
      await s.drop();
    }
  });

  it('R26: a ninth feed open at once on one application key is RATE_LIMITED (429), over every transport', async () => {
    const who = await member(g, 'STANDARD');
    const open = Array.from({ length: 8 }, () => subscribe('ws', g.url, who.credentials, CREDENTIAL_FEED));
    try {
      await waitFor(() => g.app.feeds.open >= 8, 'eight feeds open');
      for (const transport of TRANSPORTS) {
        const s = subscribe(transport, g.url, who.credentials, CREDENTIAL_FEED);
        try {
          await s.until((r) => r.results.length > 0 || r.ended !== null, 5000, `the refusal over ${transport}`);
          // Distinct connections: yoga answers the refusal with its status, and its event stream says why.
          expect(await refusalOf(s), transport).toBe(transport === 'sse-distinct' ? 429 : 'RATE_LIMITED');
        } finally {
          await s.drop();
        }
      }
      const raw = await fetch(`${g.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': who.credentials.apiKey, 'x-application-key': who.credentials.applicationKey },
        body: JSON.stringify({ query: CREDENTIAL_FEED }),
      });
      expect(raw.status).toBe(429);
      expect(await raw.text()).toContain('"code":"RATE_LIMITED"');
    } finally {
      await Promise.all(open.map((s) => s.drop()));
    }
  });

  it('R26: auditEntries needs audit_logs_read (FORBIDDEN), over every transport', async () => {
    const reader = await member(g, 'STANDARD');
    for (const transport of TRANSPORTS) {
      const s = subscribe(transport, g.url, reader.credentials, AUDIT_FEED, { after: '' });
      try {
        await s.until((r) => r.results.length > 0 || r.ended !== null, 5000, `the refusal over ${transport}`);
        // Distinct connections: yoga answers the refusal with its status, 403 (spec section 7).
        expect(await refusalOf(s), transport).toBe(transport === 'sse-distinct' ? 403 : 'FORBIDDEN');
      } finally {
        await s.drop();
      }
    }
  });

  it('R26: auditEntries shows the audit log’s entries with its filter, from a cursor', async () => {
    const { admin } = await g.newOrg();
    const made = await g.call(CreateApiKeyDocument, { name: 'audited' }, admin);
    const s = subscribe('ws', g.url, admin, AUDIT_FEED, { after: '', filter: { kind: 'LIFECYCLE' } });
    try {
      await s.until((r) => JSON.stringify(r.results).includes(made.data!.createApiKey.apiKey.id));
      const entries = s.results.map((r) => (r.data as { auditEntries: { type: string; entry: { eventType: string; seq: number } } }).auditEntries);
      expect(entries.map((e) => e.type)).toEqual(['OrganizationCreated', 'ApiKeyCreated', 'UserInvited', 'ApplicationKeyCreated', 'ApiKeyCreated']);
      expect(entries.map((e) => e.entry.eventType)).toEqual(entries.map((e) => e.type));
      const seqs = entries.map((e) => e.entry.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    } finally {
      await s.drop();
    }
  });

  it('R22: starting a subscription leaves exactly one audit entry, over every transport', async () => {
    const { admin } = await g.newOrg();
    for (const transport of TRANSPORTS) {
      const operationName = `Start${transport.replace('-', '')}`;
      const s = subscribe(transport, g.url, admin, CREDENTIAL_FEED.replace('CredentialFeed', operationName));
      try {
        await sleep(400);
        const entries = (await g.requestEvents()).filter((e) => (e.data as { operationName: string | null }).operationName === operationName);
        expect(
          entries.map((e) => [e.type, (e.data as { operationType: string }).operationType, (e.data as { rootFields: string[] }).rootFields]),
          transport,
        ).toEqual([['RequestAuthenticated', 'subscription', ['credentialEvents']]]);
      } finally {
        await s.drop();
      }
    }
  });

  describe('R26: a feed ends with UNAUTHENTICATED within a second', () => {
    for (const transport of TRANSPORTS) {
      it(`when its application key is revoked (${transport})`, async () => {
        const who = await member(g, 'STANDARD');
        const s = subscribe(transport, g.url, who.credentials, CREDENTIAL_FEED);
        await sleep(300);
        const revoked = await g.call(RevokeApplicationKeyDocument, { id: who.keyId });
        expect(revoked.errors).toBeUndefined();
        const at = Date.now();
        await s.until((r) => lastErrorCode(r) === 'UNAUTHENTICATED', 1000, 'UNAUTHENTICATED');
        expect(Date.now() - at).toBeLessThan(1000);
        await s.until((r) => r.ended !== null, 1000, 'the end of the feed');
        await s.drop();
      });
    }

    it('when its owner is disabled', async () => {
      const who = await member(g, 'STANDARD');
      const s = subscribe('sse-single', g.url, who.credentials, CREDENTIAL_FEED, { after: '' });
      await s.until((r) => payloads(r).length > 0);
      const disabled = await g.call(DisablePrincipalDocument, { principalId: who.id });
      expect(disabled.errors).toBeUndefined();
      const at = Date.now();
      await s.until((r) => lastErrorCode(r) === 'UNAUTHENTICATED', 1000, 'UNAUTHENTICATED');
      expect(Date.now() - at).toBeLessThan(1000);
      await s.drop();
    });

    it('when its application key expires (checked on a timer, with nothing to deliver)', async () => {
      const expiresAt = new Date(Date.now() + 1500);
      const owner = await member(g, 'STANDARD');
      const key = await g.call(CreateApplicationKeyDocument, { name: 'short-lived', ownerId: owner.id, expiresAt: expiresAt.toISOString() });
      expect(key.errors).toBeUndefined();
      const credentials = { apiKey: g.admin.apiKey, applicationKey: key.data!.createApplicationKey.secret };
      const s = subscribe('ws', g.url, credentials, 'subscription Expiring { credentialEvents { cursor } }');
      await s.until((r) => lastErrorCode(r) === 'UNAUTHENTICATED', 4000, 'UNAUTHENTICATED');
      expect(Date.now() - expiresAt.getTime()).toBeLessThan(1000);
      await s.drop();
    });
  });
});

describe('slow consumers', () => {
  let g: TestGateway;
  beforeAll(async () => {
    // One payload of buffer: a burst of two live events is more than a consumer can take at once.
    g = await startGateway({ feeds: { bufferSize: 1 } });
  });
  afterAll(async () => {
    await g.close();
  });

  for (const transport of TRANSPORTS) {
    it(`R26: a consumer that cannot keep up is ended with SLOW_CONSUMER and resumes from its last cursor (${transport})`, async () => {
      const { org, admin } = await g.newOrg();
      const s = subscribe(transport, g.url, admin, CREDENTIAL_FEED);
      let resumed: FeedSubscription | undefined;
      try {
        await sleep(300);
        const owner = await g.call(CreateApiKeyDocument, { name: `slow-${transport}` }, admin);
        expect(owner.errors).toBeUndefined();
        await s.until((r) => payloads(r).length === 1);
        // A service account with two keys, disabled: its keys' revocations come in one append.
        const robot = await member(g, 'STANDARD', { kind: 'SERVICE_ACCOUNT', as: admin });
        await g.call(CreateApplicationKeyDocument, { name: 'robot-two', ownerId: robot.id }, admin);
        await g.call(DisablePrincipalDocument, { principalId: robot.id }, admin);
        await s.until((r) => lastErrorCode(r) === 'SLOW_CONSUMER', 5000, 'SLOW_CONSUMER');
        const got = payloads(s);
        resumed = subscribe(transport, g.url, admin, CREDENTIAL_FEED, { after: got.at(-1)!.cursor });
        const history = await credentialHistory(g, org.organization.id);
        await resumed.until((r) => payloads(r).at(-1)?.cursor === history.at(-1)?.split(' ')[0], 5000, 'the rest');
        const all = [...got, ...payloads(resumed)].map(keyOf);
        // Everything since the feed started, once, in order.
        expect(all).toEqual(history.slice(history.indexOf(all[0]!)));
      } finally {
        await s.drop();
        await resumed?.drop();
      }
    });
  }
});

const pgAvailable = await pgReachable();

describePg(pgAvailable, 'change feeds on PostgreSQL, two instances', () => {
  let g: TestGateway;
  let twin: Awaited<ReturnType<TestGateway['twin']>>;
  beforeAll(async () => {
    g = await startGateway({ store: 'postgres' });
    twin = await g.twin();
  });
  afterAll(async () => {
    await twin?.close();
    await g?.close();
  });

  for (const transport of TRANSPORTS) {
    it(`R26: over ${transport}, drop on one instance, resume on the other: the whole history, in order, once`, async () => {
      await expectGaplessResume(g, transport, { first: g.url, second: twin.url });
    });
    it(`R26: over ${transport}, drop on the second instance, resume on the first`, async () => {
      await expectGaplessResume(g, transport, { first: twin.url, second: g.url });
    });
  }

  it('R26: revoking the key on one instance ends a feed on the other within a second', async () => {
    const who = await member(g, 'STANDARD');
    const s = subscribe('ws', twin.url, who.credentials, CREDENTIAL_FEED);
    await sleep(300);
    await g.call(RevokeApplicationKeyDocument, { id: who.keyId });
    const at = Date.now();
    await s.until((r) => lastErrorCode(r) === 'UNAUTHENTICATED', 1000, 'UNAUTHENTICATED');
    expect(Date.now() - at).toBeLessThan(1000);
    await s.drop();
  });
});
