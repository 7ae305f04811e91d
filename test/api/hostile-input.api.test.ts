// Hostile input, case by case, on SQLite and on PostgreSQL (R22, R27-R29): secrets a client put
// where they do not belong never come back, errors carry a code of the README's table and the
// status of spec section 7 (never INTERNAL_SERVER_ERROR for a client's mistake), every input is
// bounded and free of NUL and unpaired surrogates, and a refusal stores nothing but its audit entry.

import { randomUUID } from 'node:crypto';
import type { GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RequestEntry } from '../../src/domain/requests.js';
import { issueSecret } from '../../src/domain/secrets.js';
import {
  ApiKeysDocument,
  AuditLogDocument,
  ComplianceReportDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  InviteUserDocument,
  PrincipalsDocument,
  RenameApiKeyDocument,
  VerifyCredentialsDocument,
} from '../gql/graphql.js';
import { startGateway, type Answer, type TestGateway } from '../support/gateway.js';
import { expectNoNewEvent } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';

const pg = await pgReachable();

/** Shaped like secrets, known to nobody: one well-formed, one with a bad checksum. */
const FAKE = issueSecret('API_KEY').secret;
const BAD_CHECKSUM = `klk_app_${'Z'.repeat(32)}Qe3x00`;
const redacted = (secret: string) => `${secret.slice(0, 8)}…${secret.slice(-4)}`;

interface Raw {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  readonly errors: readonly GraphQLFormattedError[];
  readonly data: unknown;
}

function hostile(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  let auth: Record<string, string>;
  beforeAll(async () => {
    g = await startGateway({ store });
    auth = { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey };
  });
  afterAll(async () => {
    await g?.close();
  });

  /** A request as a hostile client sends it: any method, headers and body. */
  async function send(init: { method?: string; headers?: Record<string, string>; body?: string; query?: string }): Promise<Raw> {
    const response = await fetch(`${g.url}/graphql${init.query ?? ''}`, {
      method: init.method ?? 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...auth, ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    const text = await response.text();
    let parsed: { data?: unknown; errors?: GraphQLFormattedError[] } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON: the assertions below say so
    }
    return { status: response.status, text, headers: response.headers, errors: parsed.errors ?? [], data: parsed.data };
  }

  const post = (query: string, variables?: Record<string, unknown>, headers?: Record<string, string>) =>
    send({ body: JSON.stringify({ query, variables }), ...(headers ? { headers } : {}) });

  /** Every error coded, the first with `code` (and `field`), at `status`. */
  function expectRefused(raw: Raw, status: number, code: string, field?: string): void {
    expect(raw.headers.get('content-type') ?? '', raw.text).toContain('json');
    expect(raw.errors.length, raw.text).toBeGreaterThan(0);
    for (const error of raw.errors) expect(typeof error.extensions?.code, raw.text).toBe('string');
    expect([raw.status, raw.errors[0]?.extensions?.code], raw.text).toEqual([status, code]);
    if (field !== undefined) expect(raw.errors[0]?.extensions?.field, raw.text).toBe(field);
    expect(raw.text).not.toContain('INTERNAL_SERVER_ERROR');
  }

  function expectAnswerRefused(answer: Answer<unknown>, code: string, field: string): void {
    expect([answer.code, answer.errors?.[0]?.extensions?.field], JSON.stringify(answer.errors)).toEqual([code, field]);
  }

  /**
   * The request's audit entry. It is durable before the answer (R25), but on PostgreSQL a reader
   * sees it only once every older transaction of the cluster has ended: wait for it.
   */
  async function auditEntryOf(requestId: string): Promise<RequestEntry | undefined> {
    const find = async () => (await g.requestEvents()).find((e) => (e.data as unknown as RequestEntry).requestId === requestId);
    const found = await vi
      .waitFor(async () => (await find()) ?? Promise.reject(new Error(`no audit entry for ${requestId} yet`)), { timeout: 5000, interval: 50 })
      .catch(() => undefined);
    return found?.data as unknown as RequestEntry | undefined;
  }

  describe(`R27: no secret echoed (${store})`, () => {
    it(`R27: a secret in an enum variable, a scope, a field name, a literal or a malformed body comes back redacted (${store})`, async () => {
      const answers = [
        await post('query ($r: Role!) { principals(filter: { role: $r }) { totalCount } }', { r: FAKE }),
        await post(`mutation { createApplicationKey(name: "scoped", scopes: ["${FAKE}"]) { secret } }`),
        await post(`{ ${FAKE} }`),
        await post(`{ apiKeys(first: "${FAKE}") { totalCount } }`),
        await post(`{ apiKeys(first: ${FAKE}) { totalCount } }`),
        await send({ body: `{"query": "{ viewer { permissions } }", "variables": {"x": "${FAKE}"` }),
        await send({ method: 'GET', query: `?query=${encodeURIComponent('{ scopes { name } }')}&variables=${encodeURIComponent(`{"x": "${BAD_CHECKSUM}`)}` }),
        await send({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `query=${encodeURIComponent(`{ ${BAD_CHECKSUM} }`)}` }),
      ];
      for (const raw of answers) {
        expect(raw.errors.length, raw.text).toBeGreaterThan(0);
        expect(raw.text).not.toContain(FAKE);
        expect(raw.text).not.toContain(BAD_CHECKSUM);
        expect(raw.text).not.toContain('originalError');
      }
      expect(answers[0]!.text).toContain(redacted(FAKE));
      expect(answers[1]!.text).toContain(redacted(FAKE));
      expect(answers[2]!.text).toContain(redacted(FAKE));
    });

    it(`R27: verifyCredentials gets the real secrets, and never echoes one in missingScopes (${store})`, async () => {
      const answer = await g.call(
        VerifyCredentialsDocument,
        { usage: 'API', apiKey: g.admin.apiKey, applicationKey: g.admin.applicationKey, requiredScopes: ['dashboards_read', FAKE] },
        null,
      );
      expect(answer.data?.verifyCredentials).toMatchObject({ valid: true, requiredScopesGranted: false, missingScopes: [redacted(FAKE)] });
      const origin = await g.call(VerifyCredentialsDocument, { usage: 'BROWSER_INTAKE', clientToken: FAKE, origin: BAD_CHECKSUM }, null);
      expect(JSON.stringify(origin)).not.toMatch(/klk_(api|app)_[0-9A-Za-z]{20}/);
    });

    it(`R27: a secret in a name or an email is stored, answered and audited redacted (${store})`, async () => {
      const { result, events } = await g.appendedBy(() => g.call(CreateApiKeyDocument, { name: `leak ${FAKE}` }));
      expect(result.errors).toBeUndefined();
      expect(result.data?.createApiKey.apiKey.name).toBe(`leak ${redacted(FAKE)}`);
      expect(events).toHaveLength(1);
      expect((events[0]!.data as { name: string }).name).toBe(`leak ${redacted(FAKE)}`);
      const invited = await g.appendedBy(() => g.call(InviteUserDocument, { email: `${BAD_CHECKSUM}@example.test`, role: 'READ_ONLY' }));
      expect(invited.result.errors).toBeUndefined();
      expect(JSON.stringify(invited.events)).not.toContain(BAD_CHECKSUM);
      expect(JSON.stringify(invited.events)).toContain(redacted(BAD_CHECKSUM));
    });

    it(`R27: a secret as user agent or request id reaches neither the audit log nor the response headers (${store})`, async () => {
      const requestId = randomUUID();
      await send({ body: JSON.stringify({ query: '{ scopes { name } }' }), headers: { 'user-agent': `curl ${FAKE}`, 'x-request-id': requestId } });
      expect((await auditEntryOf(requestId))?.userAgent).toBe(`curl ${redacted(FAKE)}`);
      const asId = await send({ body: JSON.stringify({ query: '{ scopes { name } }' }), headers: { 'x-request-id': FAKE } });
      expect(asId.headers.get('x-request-id')).not.toBe(FAKE);
      expect(JSON.stringify((await g.requestEvents()).map((e) => e.data))).not.toContain(FAKE);
    });

    it(`R27: no log line holds a secret a client sent (${store})`, () => {
      const log = g.logs.join('');
      expect(log).not.toContain(FAKE);
      expect(log).not.toContain(BAD_CHECKSUM);
    });
  });

  describe(`R28: honest errors (${store})`, () => {
    it(`R28: 415, 405, 406, 413 and 431 answer with a GraphQL error and a code (${store})`, async () => {
      expectRefused(await send({ headers: { 'content-type': 'text/plain' }, body: '{ scopes { name } }' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectRefused(await send({ headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectRefused(await send({ method: 'PUT', body: '{}' }), 405, 'METHOD_NOT_ALLOWED');
      expectRefused(await send({ method: 'GET', query: `?query=${encodeURIComponent('mutation { createApiKey(name: "via get") { secret } }')}` }), 405, 'METHOD_NOT_ALLOWED');
      expectRefused(await send({ headers: { accept: 'image/png' }, body: JSON.stringify({ query: '{ scopes { name } }' }) }), 406, 'NOT_ACCEPTABLE');
      expectRefused(await send({ headers: { 'x-padding': 'p'.repeat(20_000) }, body: '{}' }), 431, 'HEADERS_TOO_LARGE');
    });

    it(`R28: graphql-armor's refusals are QUERY_TOO_COMPLEX, 400 for application/graphql-response+json (${store})`, async () => {
      const aliases = `{ ${Array.from({ length: 25 }, (_, i) => `a${i}: scopes { name }`).join(' ')} }`;
      const tokens = `{ ${'scopes { name } '.repeat(400)}}`;
      const nested = `{ ${'a: viewer { b: organization { '.repeat(0)}${'node(id: "x") { ... on ApiKey { createdBy { '.repeat(14)}id${' } } }'.repeat(14)} }`;
      for (const query of [aliases, tokens, nested]) {
        expectRefused(await post(query, undefined, { accept: 'application/graphql-response+json' }), 400, 'QUERY_TOO_COMPLEX');
        expectRefused(await post(query), 200, 'QUERY_TOO_COMPLEX');
      }
    });

    it(`R28: parse, validation and variable errors carry their codes and the statuses of section 7 (${store})`, async () => {
      const responseJson = { accept: 'application/graphql-response+json' };
      expectRefused(await post('{ scopes { name }', undefined, responseJson), 400, 'GRAPHQL_PARSE_FAILED');
      expectRefused(await post('{ scopes { name }'), 200, 'GRAPHQL_PARSE_FAILED');
      expectRefused(await post('{ noSuchField }', undefined, responseJson), 400, 'GRAPHQL_VALIDATION_FAILED');
      expectRefused(await post('query ($r: Role!) { principals(filter: { role: $r }) { totalCount } }', { r: 'SUPERUSER' }, responseJson), 400, 'BAD_USER_INPUT', '$r');
      expectRefused(await post('query ($r: Role!) { principals(filter: { role: $r }) { totalCount } }', { r: 'SUPERUSER' }), 400, 'BAD_USER_INPUT', '$r');
      expectRefused(await post('query ($n: Int) { apiKeys(first: $n) { totalCount } }', { n: 'many' }), 400, 'BAD_USER_INPUT', '$n');
      expectRefused(await send({ body: '{"query": ' }), 400, 'BAD_REQUEST');
      expectRefused(await send({ body: '[1, 2]' }), 400, 'BAD_REQUEST');
    });

    it(`R28: malformed variables on a GET are BAD_REQUEST, not INTERNAL_SERVER_ERROR (${store})`, async () => {
      expectRefused(await send({ method: 'GET', query: `?query=${encodeURIComponent('{ scopes { name } }')}&variables=%7Bnot-json` }), 400, 'BAD_REQUEST');
      expectRefused(await send({ method: 'GET', query: `?query=${encodeURIComponent('{ scopes { name } }')}&extensions=%5B` }), 400, 'BAD_REQUEST');
    });

    it(`R28: an out-of-range date is BAD_USER_INPUT, never "Invalid time value" (${store})`, async () => {
      for (const asOf of ['-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00Z', '10000-01-01T00:00:00Z', 'tomorrow']) {
        const answer = await g.call(ComplianceReportDocument, { asOf });
        expect([answer.status, answer.code], asOf).toEqual([400, 'BAD_USER_INPUT']);
        const literal = await post(`{ complianceReport(asOf: "${asOf}") { asOf revocations { total } } }`);
        expect(literal.errors[0]?.extensions?.code, literal.text).toBe('BAD_USER_INPUT');
      }
      const earliest = await g.call(ComplianceReportDocument, { asOf: '0000-01-01T00:00:00Z', olderThanDays: 36_500 });
      expect(earliest.errors, JSON.stringify(earliest.errors)).toBeUndefined();
    });
  });

  describe(`R29: bounded, clean input (${store})`, () => {
    const nul = 'a\u0000b';
    const surrogate = 'a\uD800b';
    const reversed = 'a\uDC00\uD800b';

    it(`R29: NUL and unpaired surrogates are BAD_USER_INPUT with the field, and store nothing (${store})`, async () => {
      for (const bad of [nul, surrogate, reversed]) {
        expectAnswerRefused(await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: bad })), 'BAD_USER_INPUT', 'name');
        expectAnswerRefused(await expectNoNewEvent(g, () => g.call(RenameApiKeyDocument, { id: 'bm9wZQ', name: bad })), 'BAD_USER_INPUT', 'name');
        expectAnswerRefused(await expectNoNewEvent(g, () => g.call(InviteUserDocument, { email: `x${bad}@example.test`, role: 'READ_ONLY' })), 'BAD_USER_INPUT', 'email');
        expectAnswerRefused(await expectNoNewEvent(g, () => g.call(InviteUserDocument, { email: 'ok@example.test', name: bad, role: 'READ_ONLY' })), 'BAD_USER_INPUT', 'name');
        expectAnswerRefused(
          await expectNoNewEvent(g, () => g.call(CreateClientTokenDocument, { name: 'browser', allowedOrigins: [`https://${bad}.example`] })),
          'BAD_USER_INPUT',
          'allowedOrigins',
        );
        expectAnswerRefused(await expectNoNewEvent(g, () => g.call(CreateApplicationKeyDocument, { name: 'k', scopes: [bad] })), 'BAD_USER_INPUT', 'scopes');
        expectAnswerRefused(await g.call(ApiKeysDocument, { filter: { nameContains: bad } }), 'BAD_USER_INPUT', 'filter.nameContains');
        expectAnswerRefused(await g.call(PrincipalsDocument, { filter: { nameContains: bad } }), 'BAD_USER_INPUT', 'filter.nameContains');
        expectAnswerRefused(await g.call(AuditLogDocument, { filter: { operation: bad } }), 'BAD_USER_INPUT', 'filter.operation');
        expectAnswerRefused(await g.call(AuditLogDocument, { filter: { requestId: bad } }), 'BAD_USER_INPUT', 'filter.requestId');
        expectAnswerRefused(await g.call(VerifyCredentialsDocument, { usage: 'AGENT_INTAKE', apiKey: bad }, null), 'BAD_USER_INPUT', 'apiKey');
      }
      // A paired surrogate is a character like any other.
      const emoji = await g.call(CreateApiKeyDocument, { name: 'rocket \uD83D\uDE80' });
      expect(emoji.data?.createApiKey.apiKey.name).toBe('rocket \uD83D\uDE80');
    });

    it(`R29: filters over 200 characters are refused, even those SQLite cannot match (${store})`, async () => {
      expectAnswerRefused(await g.call(ApiKeysDocument, { filter: { nameContains: 'n'.repeat(201) } }), 'BAD_USER_INPUT', 'filter.nameContains');
      expectAnswerRefused(await g.call(ApiKeysDocument, { filter: { nameContains: '%_'.repeat(30_000) } }), 'BAD_USER_INPUT', 'filter.nameContains');
      expectAnswerRefused(await g.call(PrincipalsDocument, { filter: { nameContains: '%'.repeat(60_000) } }), 'BAD_USER_INPUT', 'filter.nameContains');
      expectAnswerRefused(await g.call(AuditLogDocument, { filter: { operation: 'o'.repeat(201) } }), 'BAD_USER_INPUT', 'filter.operation');
      expectAnswerRefused(await g.call(AuditLogDocument, { filter: { requestId: 'r'.repeat(201) } }), 'BAD_USER_INPUT', 'filter.requestId');
      const fits = await g.call(ApiKeysDocument, { filter: { nameContains: '%_\\'.repeat(66) } });
      expect(fits.errors, JSON.stringify(fits.errors)).toBeUndefined();
    });

    it(`R29: emails, origins, lists and strings over their bounds are refused and store nothing (${store})`, async () => {
      const email = `${'e'.repeat(250)}@example.test`;
      expectAnswerRefused(await expectNoNewEvent(g, () => g.call(InviteUserDocument, { email, role: 'READ_ONLY' })), 'BAD_USER_INPUT', 'email');
      expectAnswerRefused(await expectNoNewEvent(g, () => g.call(InviteUserDocument, { email: `${'e'.repeat(1_000_000)}@x.test`, role: 'READ_ONLY' })), 'BAD_USER_INPUT', 'email');
      const origin = `https://${'o'.repeat(2100)}.example`;
      expectAnswerRefused(
        await expectNoNewEvent(g, () => g.call(CreateClientTokenDocument, { name: 'long origin', allowedOrigins: [origin] })),
        'BAD_USER_INPUT',
        'allowedOrigins',
      );
      const many = Array.from({ length: 51 }, (_, i) => `https://o${i}.example`);
      expectAnswerRefused(await expectNoNewEvent(g, () => g.call(CreateClientTokenDocument, { name: 'many origins', allowedOrigins: many })), 'BAD_USER_INPUT', 'allowedOrigins');
      const scopes = Array.from({ length: 101 }, () => 'dashboards_read');
      expectAnswerRefused(
        await g.call(VerifyCredentialsDocument, { usage: 'API', apiKey: g.admin.apiKey, applicationKey: g.admin.applicationKey, requiredScopes: scopes }, null),
        'BAD_USER_INPUT',
        'requiredScopes',
      );
      expectAnswerRefused(await expectNoNewEvent(g, () => g.call(CreateApiKeyDocument, { name: 'n'.repeat(500_000) })), 'BAD_USER_INPUT', 'name');
    });

    it(`R29: a body over the bound is 413 and is not echoed (${store})`, async () => {
      const marker = `marker-${randomUUID()}`;
      const big = await send({ body: JSON.stringify({ query: '{ scopes { name } }', variables: { pad: `${marker}${'x'.repeat(1_100_000)}` } }) });
      expectRefused(big, 413, 'PAYLOAD_TOO_LARGE');
      expect(big.text).not.toContain(marker);
      expect(big.text.length).toBeLessThan(1000);
      const malformed = await send({ body: `{"query": "${marker}${'x'.repeat(1_100_000)}` });
      expectRefused(malformed, 413, 'PAYLOAD_TOO_LARGE');
      expect(malformed.text).not.toContain(marker);
      // Just under the bound: read, and answered.
      const fits = await send({ body: JSON.stringify({ query: '{ scopes { name } }', variables: { pad: 'x'.repeat(1_000_000) } }) });
      expect(fits.status, fits.text.slice(0, 300)).toBe(200);
    });

    it(`R29: an operation name over 200 characters is refused, and its audit entry does not hold it (${store})`, async () => {
      const requestId = randomUUID();
      const name = `Op${'x'.repeat(5000)}`;
      const raw = await post(`query ${name} { scopes { name } }`, undefined, { 'x-request-id': requestId, accept: 'application/graphql-response+json' });
      expectRefused(raw, 400, 'BAD_USER_INPUT', 'operationName');
      expect(raw.text).not.toContain(name);
      const entry = await auditEntryOf(requestId);
      expect(entry).toMatchObject({ outcome: 'FAILED', errorCode: 'BAD_USER_INPUT', operationName: null });
      expect(JSON.stringify(entry).length).toBeLessThan(2000);
    });

    it(`R29: root fields are recorded once each, and a user agent at most 512 characters (${store})`, async () => {
      const requestId = randomUUID();
      await post(`query Repeated { ${'scopes { name } '.repeat(100)}viewer { permissions } }`, undefined, { 'x-request-id': requestId, 'user-agent': 'u'.repeat(4000) });
      const entry = await auditEntryOf(requestId);
      expect(entry).toMatchObject({ operationName: 'Repeated', rootFields: ['scopes', 'viewer'], outcome: 'ALLOWED' });
      expect(entry?.userAgent).toHaveLength(512);
    });
  });

  describe(`R22: the outcome of a malformed request (${store})`, () => {
    it(`R22: a syntax error with known keys is audited FAILED with GRAPHQL_PARSE_FAILED (${store})`, async () => {
      const requestId = randomUUID();
      const raw = await post('{ viewer { permissions }', undefined, { 'x-request-id': requestId });
      expect(raw.errors[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
      expect(await auditEntryOf(requestId)).toMatchObject({ outcome: 'FAILED', errorCode: 'GRAPHQL_PARSE_FAILED' });
    });

    it(`R22: refusals before execution are audited FAILED with their codes (${store})`, async () => {
      const cases: [string, () => Promise<Raw>][] = [
        ['QUERY_TOO_COMPLEX', () => post(`{ ${Array.from({ length: 25 }, (_, i) => `a${i}: scopes { name }`).join(' ')} }`, undefined, { 'x-request-id': id })],
        ['BAD_USER_INPUT', () => post('query ($r: Role!) { principals(filter: { role: $r }) { totalCount } }', { r: 'SUPERUSER' }, { 'x-request-id': id })],
        ['UNSUPPORTED_MEDIA_TYPE', () => send({ headers: { 'content-type': 'text/plain', 'x-request-id': id }, body: 'x' })],
        ['BAD_REQUEST', () => send({ headers: { 'x-request-id': id }, body: '{"query"' })],
      ];
      let id = '';
      for (const [code, attempt] of cases) {
        id = randomUUID();
        await attempt();
        expect(await auditEntryOf(id), code).toMatchObject({ outcome: 'FAILED', errorCode: code });
      }
    });
  });
}

describe('R29: the body bound is configurable', () => {
  it('R29: KEYLEDGER_MAX_BODY_BYTES sets the bound: over it 413 PAYLOAD_TOO_LARGE, under it answered', async () => {
    const small = await startGateway({ env: { KEYLEDGER_MAX_BODY_BYTES: '4096' } });
    try {
      const headers = { 'content-type': 'application/json', 'x-api-key': small.admin.apiKey, 'x-application-key': small.admin.applicationKey };
      const over = await fetch(`${small.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: '{ scopes { name } }', variables: { pad: 'x'.repeat(5000) } }) });
      expect([over.status, ((await over.json()) as { errors: GraphQLFormattedError[] }).errors[0]?.extensions?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      const under = await fetch(`${small.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: '{ scopes { name } }', variables: { pad: 'x'.repeat(3000) } }) });
      expect(under.status).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe('hostile input on SQLite', () => {
  hostile('sqlite');
});
describePg(pg, 'hostile input on PostgreSQL', () => hostile('postgres'));
