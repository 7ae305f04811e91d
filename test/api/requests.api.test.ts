// Request events (R22, R25): every request presenting a recognisable credential leaves exactly
// one entry in its organization's request stream, durable before the response is sent.

import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApiKeyDocument, CreateApplicationKeyDocument, RevokeApiKeyDocument, ViewerDocument } from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { member } from '../support/members.js';
import type { RequestEntry } from '../../src/domain/requests.js';

let g: TestGateway;

beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

const uuidOf = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

async function send(query: string, headers: Record<string, string>, variables: Record<string, unknown> = {}): Promise<{ status: number; requestId: string }> {
  const requestId = randomUUID();
  const response = await fetch(`${g.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, 'user-agent': 'keyledger-tests/1.0', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  await response.text();
  expect(response.headers.get('x-request-id')).toBe(requestId);
  return { status: response.status, requestId };
}

async function entriesOf(requestId: string): Promise<{ type: string; stream: string; entry: RequestEntry }[]> {
  return (await g.requestEvents())
    .filter((e) => (e.data as unknown as RequestEntry).requestId === requestId)
    .map((e) => ({ type: e.type, stream: e.stream, entry: e.data as unknown as RequestEntry }));
}

describe('request events', () => {
  it('R22: an allowed request leaves one entry with who, what and how', async () => {
    const { status, requestId } = await send(print(ViewerDocument), { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey });
    expect(status).toBe(200);
    const entries = await entriesOf(requestId);
    expect(entries).toHaveLength(1);
    const [{ type, stream, entry }] = entries as [(typeof entries)[number]];
    expect(type).toBe('RequestAuthenticated');
    expect(stream).toBe(`requests-${g.org.organization.id}`);
    expect(entry).toMatchObject({
      requestId,
      orgId: g.org.organization.id,
      apiKeyId: g.org.apiKey.credential.id,
      applicationKeyId: g.org.applicationKey.credential.id,
      clientTokenId: null,
      principalId: g.org.admin.id,
      operationType: 'query',
      operationName: 'Viewer',
      rootFields: ['viewer'],
      outcome: 'ALLOWED',
      errorCode: null,
      userAgent: 'keyledger-tests/1.0',
    });
    expect(entry.clientIp).toMatch(/127\.0\.0\.1/);
    expect(Date.parse(entry.at)).not.toBeNaN();
  });

  it('R22: a denied request (403) leaves one entry, DENIED with its code', async () => {
    const reader = await member(g, 'READ_ONLY');
    const { status, requestId } = await send(
      print(CreateApiKeyDocument),
      { 'x-api-key': reader.credentials.apiKey, 'x-application-key': reader.credentials.applicationKey },
      { name: 'nope' },
    );
    expect(status).toBe(403);
    const [only, ...rest] = await entriesOf(requestId);
    expect(rest).toHaveLength(0);
    expect(only).toMatchObject({
      type: 'RequestDenied',
      entry: { outcome: 'DENIED', errorCode: 'FORBIDDEN', operationType: 'mutation', operationName: 'CreateApiKey', rootFields: ['createApiKey'], principalId: uuidOf(reader.id) },
    });
  });

  it('R22: a recognisable but revoked credential (401) leaves one entry naming it', async () => {
    const spare = (await g.call(CreateApiKeyDocument, { name: `revoked ${randomUUID()}` })).data!.createApiKey;
    await g.call(RevokeApiKeyDocument, { id: spare.apiKey.id });
    const { status, requestId } = await send(print(ViewerDocument), { 'x-api-key': spare.secret, 'x-application-key': g.admin.applicationKey });
    expect(status).toBe(401);
    const [only, ...rest] = await entriesOf(requestId);
    expect(rest).toHaveLength(0);
    expect(only).toMatchObject({
      type: 'RequestDenied',
      entry: { outcome: 'DENIED', errorCode: 'UNAUTHENTICATED', apiKeyId: uuidOf(spare.apiKey.id), applicationKeyId: g.org.applicationKey.credential.id },
    });
  });

  it('R22: a refused mutation is FAILED with its code; a malformed document is audited too', async () => {
    const name = `taken ${randomUUID()}`;
    await g.call(CreateApiKeyDocument, { name });
    const taken = await send(print(CreateApiKeyDocument), { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey }, { name });
    expect((await entriesOf(taken.requestId))[0]).toMatchObject({ type: 'RequestAuthenticated', entry: { outcome: 'FAILED', errorCode: 'NAME_TAKEN' } });
    const malformed = await send('{ viewer { nope } }', { 'x-api-key': g.admin.apiKey, 'x-application-key': g.admin.applicationKey });
    // (application/json answers validation errors with 200, per GraphQL over HTTP.)
    expect([200, 400]).toContain(malformed.status);
    expect(await entriesOf(malformed.requestId)).toMatchObject([{ entry: { outcome: 'FAILED', errorCode: 'GRAPHQL_VALIDATION_FAILED' } }]);
  });

  it('R22: GET /api/v1/validate is audited, allowed or denied', async () => {
    const ok = randomUUID();
    expect((await fetch(`${g.url}/api/v1/validate`, { headers: { 'dd-api-key': g.admin.apiKey, 'x-request-id': ok } })).status).toBe(200);
    expect(await entriesOf(ok)).toMatchObject([
      { type: 'RequestAuthenticated', entry: { operationType: 'http', operationName: 'GET /api/v1/validate', outcome: 'ALLOWED', apiKeyId: g.org.apiKey.credential.id } },
    ]);
    const denied = randomUUID();
    expect((await fetch(`${g.url}/api/v1/validate`, { headers: { 'dd-api-key': g.admin.apiKey, origin: 'https://x.example.com', 'x-request-id': denied } })).status).toBe(403);
    expect(await entriesOf(denied)).toMatchObject([{ type: 'RequestDenied', entry: { outcome: 'DENIED', errorCode: 'API_KEY_IN_BROWSER' } }]);
  });

  it('counts unknown credentials in the metrics and appends them to no organization', async () => {
    const before = (await g.requestEvents()).length;
    const unknown = await send(print(ViewerDocument), { 'x-api-key': 'klk_api_' + 'Z'.repeat(38), 'x-application-key': 'klk_app_' + 'Y'.repeat(38) });
    expect(unknown.status).toBe(401);
    const none = await send(print(ViewerDocument), {});
    expect(none.status).toBe(401);
    expect((await g.requestEvents()).length).toBe(before);
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).toMatch(/keyledger_unrecognized_credentials_total\{route="graphql"\} [1-9]/);
    expect(g.logs.join('')).toContain('match no known key');
  });

  it('R25: concurrent requests are each answered after their entry is written', async () => {
    const ids = Array.from({ length: 60 }, () => randomUUID());
    const statuses = await Promise.all(ids.map((id) => fetch(`${g.url}/api/v1/validate`, { headers: { 'dd-api-key': g.admin.apiKey, 'x-request-id': id } }).then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Answered means written: every entry is already in the store.
    const written = new Set((await g.requestEvents()).map((e) => (e.data as unknown as RequestEntry).requestId));
    for (const id of ids) expect(written.has(id)).toBe(true);
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    const entries = Number(/keyledger_audit_append_batch_size_sum (\d+)/.exec(metrics)?.[1]);
    expect(entries).toBeGreaterThanOrEqual(ids.length);
  });

  it('R23: lifecycle events carry the credential that made them', async () => {
    const created = await g.call(CreateApplicationKeyDocument, { name: `audited ${randomUUID()}` });
    const uuid = uuidOf(created.data!.createApplicationKey.applicationKey.id);
    const stream = await g.app.store.readStream(`principal-${g.org.admin.id}`);
    const event = stream.find((e) => (e.data as { keyId?: string }).keyId === uuid)!;
    expect(event.metadata).toMatchObject({
      actorApiKeyId: g.org.apiKey.credential.id,
      actorAppKeyId: g.org.applicationKey.credential.id,
      actorPrincipalId: g.org.admin.id,
      via: 'api',
    });
  });
});
