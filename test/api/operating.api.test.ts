// Operating the gateway, as an operator and a browser meet it over HTTP: one access line per
// request and yoga's lines at the right level with the request id (logs), the metrics Prometheus
// scrapes, and the HTTP answers' headers: Cache-Control, WWW-Authenticate (spec section 7), CORS
// from an allow-list, GraphiQL from the installed package behind its security headers.

import { createHash, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyledgerProjections } from '../../projections/index.js';
import { CreateApiKeyDocument, CreateClientTokenDocument, RevokeApiKeyDocument, VerifyCredentialsDocument } from '../gql/graphql.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

/** The challenge every 401 carries (README, "Authentication"). */
const CHALLENGE = 'KeyledgerKeys realm="keyledger", header="X-API-Key, X-Application-Key"';

interface LogLine {
  readonly level: number;
  readonly msg?: unknown;
  readonly requestId?: string;
  readonly [field: string]: unknown;
}

function logLines(gw: TestGateway): LogLine[] {
  return gw.logs
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/** The lines logged for one request, once its access line is out (it is written when the response finishes). */
async function linesOf(gw: TestGateway, requestId: string): Promise<LogLine[]> {
  for (let i = 0; i < 100; i++) {
    const lines = logLines(gw).filter((line) => line.requestId === requestId);
    if (lines.some((line) => line.msg === 'request')) return lines;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no access line for request ${requestId}`);
}

async function accessLineOf(gw: TestGateway, requestId: string): Promise<LogLine> {
  const access = (await linesOf(gw, requestId)).filter((line) => line.msg === 'request');
  expect(access, `access lines of ${requestId}`).toHaveLength(1);
  return access[0]!;
}

function post(gw: TestGateway, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

const keysOf = (gw: TestGateway) => ({ 'x-api-key': gw.admin.apiKey, 'x-application-key': gw.admin.applicationKey });

/** The value of one sample of the /metrics text (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ logLevel: 'debug' });
});
afterAll(() => gw.close());

describe('logs', () => {
  it('write one JSON access line per request on every route: request id, route, operation, credential ids, outcome, code, status, duration', async () => {
    const viewer = await post(gw, { query: 'query Viewer { viewer { principal { name } } }' }, { ...keysOf(gw), 'x-request-id': 'access-viewer' });
    expect(viewer.status).toBe(200);
    expect(await accessLineOf(gw, 'access-viewer')).toMatchObject({
      level: 30,
      msg: 'request',
      requestId: 'access-viewer',
      method: 'POST',
      route: '/graphql',
      operationType: 'query',
      operationName: 'Viewer',
      orgId: gw.org.organization.id,
      principalId: gw.org.admin.id,
      apiKeyId: gw.org.apiKey.credential.id,
      applicationKeyId: gw.org.applicationKey.credential.id,
      clientTokenId: null,
      outcome: 'ALLOWED',
      code: null,
      status: 200,
      audit: 'RECORDED',
    });
    expect((await accessLineOf(gw, 'access-viewer')).durationMs).toEqual(expect.any(Number));

    await post(gw, { query: '{ viewer { principal { name } } }' }, { 'x-request-id': 'access-anonymous' });
    expect(await accessLineOf(gw, 'access-anonymous')).toMatchObject({ route: '/graphql', outcome: 'DENIED', code: 'UNAUTHENTICATED', status: 401, apiKeyId: null });

    await fetch(`${gw.url}/api/v1/validate`, { headers: { 'dd-api-key': gw.admin.apiKey, 'x-request-id': 'access-validate' } });
    expect(await accessLineOf(gw, 'access-validate')).toMatchObject({
      method: 'GET',
      route: '/api/v1/validate',
      operationType: 'http',
      operationName: 'GET /api/v1/validate',
      apiKeyId: gw.org.apiKey.credential.id,
      outcome: 'ALLOWED',
      status: 200,
    });
    await fetch(`${gw.url}/api/v1/validate`, { headers: { 'dd-api-key': 'nonsense', 'x-request-id': 'access-validate-bad' } });
    expect(await accessLineOf(gw, 'access-validate-bad')).toMatchObject({ route: '/api/v1/validate', outcome: 'DENIED', status: 403, apiKeyId: null });

    for (const [path, status] of [
      ['/health', 200],
      ['/ready', 200],
      ['/metrics', 200],
    ] as const) {
      await fetch(`${gw.url}${path}`, { headers: { 'x-request-id': `access${path.replace('/', '-')}` } });
      expect(await accessLineOf(gw, `access${path.replace('/', '-')}`)).toMatchObject({ route: path, operationType: 'http', outcome: 'ALLOWED', code: null, status });
    }
    await fetch(`${gw.url}/nowhere`, { headers: { 'x-request-id': 'access-404' } });
    expect(await accessLineOf(gw, 'access-404')).toMatchObject({ route: 'other', path: '/nowhere', outcome: 'FAILED', code: 'HTTP_404', status: 404 });
  });

  it('log a client refusal at info with its code, never the document; every line has a message and, inside a request, its request id', async () => {
    await gw.call(CreateApiKeyDocument, { name: 'twice' });
    const refused = await post(gw, { query: 'mutation Twice { createApiKey(name: "twice") { secret } }' }, { ...keysOf(gw), 'x-request-id': 'refusal-taken' });
    expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('NAME_TAKEN');
    const lines = await linesOf(gw, 'refusal-taken');
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 30, code: 'NAME_TAKEN', msg: 'GraphQL request refused: NAME_TAKEN' }));
    expect(JSON.stringify(lines)).not.toContain('createApiKey(name');
    expect(await accessLineOf(gw, 'refusal-taken')).toMatchObject({ operationType: 'mutation', operationName: 'Twice', outcome: 'FAILED', code: 'NAME_TAKEN', status: 200 });

    await post(gw, { query: '{ viewer { principal { name } } }' }, { 'x-request-id': 'refusal-anonymous' });
    const anonymous = await linesOf(gw, 'refusal-anonymous');
    expect(anonymous.filter((line) => line.level >= 40)).toEqual([]);
    expect(anonymous).toContainEqual(expect.objectContaining({ level: 30, code: 'UNAUTHENTICATED', msg: 'GraphQL request refused: UNAUTHENTICATED' }));

    const all = logLines(gw);
    expect(all.filter((line) => typeof line.msg !== 'string' || line.msg.length === 0)).toEqual([]);
    // yoga's own lines (parsing, GraphiQL, refusals) are all inside a request.
    expect(all.filter((line) => typeof line.msg === 'string' && /^(graphql: |GraphQL request)/.test(line.msg) && line.requestId === undefined)).toEqual([]);
    expect(all.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('graphql: ')).length).toBeGreaterThan(0);
  });

  it('log a server fault at error, with its stack and the request id', async () => {
    // A read model gone missing under the gateway: its own fault, not the client's.
    await sql`alter table organizations rename to organizations_away`.execute(gw.app.readStore.db);
    try {
      await post(gw, { query: '{ organization { name } }' }, { ...keysOf(gw), 'x-request-id': 'fault-1' });
    } finally {
      await sql`alter table organizations_away rename to organizations`.execute(gw.app.readStore.db);
    }
    const lines = await linesOf(gw, 'fault-1');
    const fault = lines.find((line) => line.level === 50 && line.msg === 'unexpected error in a GraphQL request');
    expect(fault, JSON.stringify(lines)).toBeDefined();
    expect((fault!.err as { stack?: string }).stack).toMatch(/no such table: organizations[\s\S]*\n\s+at /);
    expect(await accessLineOf(gw, 'fault-1')).toMatchObject({ outcome: 'FAILED', code: 'INTERNAL_SERVER_ERROR' });
  });
});

describe('metrics', () => {
  it('report request durations by route and operation type, outcomes, append latency, the index size and each projection’s lag', async () => {
    await gw.call(CreateApiKeyDocument, { name: 'metered' });
    await post(gw, { query: '{ scopes { name } }' }, keysOf(gw));
    let text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(sample(text, 'keyledger_http_request_duration_seconds_count', { route: '/graphql', operation_type: 'mutation' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_http_request_duration_seconds_count', { route: '/graphql', operation_type: 'query' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_http_request_duration_seconds_bucket', { route: '/graphql', operation_type: 'query', le: '+Inf' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_http_requests_total', { route: '/graphql', operation_type: 'mutation', outcome: 'ALLOWED', status: '200' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_http_requests_total', { route: '/graphql', operation_type: 'query', outcome: 'DENIED', status: '401' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_http_requests_total', { route: 'other', operation_type: 'http', outcome: 'FAILED', status: '404' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_event_store_append_seconds_count', { result: 'ok' })).toBeGreaterThan(0);
    expect(sample(text, 'keyledger_credential_index_size')).toBe(gw.app.index.size);
    expect(gw.app.index.size).toBeGreaterThanOrEqual(3);
    for (const { name } of keyledgerProjections()) {
      expect(sample(text, 'keyledger_projection_lag_events', { projection: name }), name).toBe(0);
      expect(sample(text, 'keyledger_projection_lag_seconds', { projection: name }), name).toBe(0);
    }

    // Projections held back: the lag shows, in events and in seconds, and goes once they run again.
    await gw.app.runner.stop();
    try {
      await gw.app.store.append(`probe-${randomUUID()}`, [{ id: randomUUID(), type: 'Probed', data: {} }]);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      text = await (await fetch(`${gw.url}/metrics`)).text();
      expect(sample(text, 'keyledger_projection_lag_events', { projection: 'organizations' })).toBeGreaterThan(0);
      expect(sample(text, 'keyledger_projection_lag_seconds', { projection: 'organizations' })).toBeGreaterThanOrEqual(1);
    } finally {
      gw.app.runner.start();
    }
    await gw.app.runner.waitFor(await gw.app.store.headPosition());
    text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(sample(text, 'keyledger_projection_lag_events', { projection: 'organizations' })).toBe(0);
  });
});

describe('HTTP', () => {
  it('every /graphql answer says Cache-Control: no-store: the one that holds a new secret, errors, and the 503 of the audit log', async () => {
    const created = await post(gw, { query: 'mutation { createApiKey(name: "cached") { secret } }' }, keysOf(gw));
    expect(((await created.json()) as { data: { createApiKey: { secret: string } } }).data.createApiKey.secret).toMatch(/^klk_api_/);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const answers = [
      await post(gw, '{"query": "{ viewer {"}', { ...keysOf(gw), accept: 'application/graphql-response+json' }),
      await post(gw, { query: '{ viewer { principal { name } } }' }),
      await fetch(`${gw.url}/graphql`, { method: 'PUT', headers: keysOf(gw) }),
      await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }),
      await post(gw, { query: `{ scopes { name } } # ${'x'.repeat(2_000_000)}` }, keysOf(gw)),
      await fetch(`${gw.url}/graphql?query=${encodeURIComponent('{ scopes { name } }')}`, { headers: keysOf(gw) }),
    ];
    for (const answer of answers) expect(answer.headers.get('cache-control'), `HTTP ${answer.status}`).toBe('no-store');
    expect(answers.slice(0, 5).every((answer) => answer.status >= 400)).toBe(true);

    // The audit log cannot be written (another process holds the SQLite write lock past the busy timeout): 503, not cached either.
    const holder = new Database(gw.sqliteFile!);
    holder.exec('begin immediate');
    let unavailable: Response;
    try {
      unavailable = await post(gw, { query: '{ scopes { name } }' }, { ...keysOf(gw), 'x-request-id': 'audit-down' });
    } finally {
      holder.exec('rollback');
      holder.close();
    }
    expect(unavailable.status).toBe(503);
    expect(((await unavailable.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('AUDIT_UNAVAILABLE');
    expect(unavailable.headers.get('cache-control')).toBe('no-store');
    expect(await accessLineOf(gw, 'audit-down')).toMatchObject({ outcome: 'FAILED', code: 'AUDIT_UNAVAILABLE', status: 503, audit: 'UNAVAILABLE' });
  }, 30_000);

  it('R28: every 401 carries WWW-Authenticate, and no other answer does', async () => {
    const spare = await gw.call(CreateApiKeyDocument, { name: 'to revoke' });
    const revokedKey = spare.data!.createApiKey.secret;
    await gw.call(RevokeApiKeyDocument, { id: spare.data!.createApiKey.apiKey.id });
    const token = (await gw.call(CreateClientTokenDocument, { name: 'browser', allowedOrigins: ['https://shop.example.com'] })).data!.createClientToken.secret;
    const query = { query: '{ viewer { principal { name } } }' };
    const unauthenticated = {
      'no credentials': {},
      'an API key alone': { 'x-api-key': gw.admin.apiKey },
      'an unknown key': { 'x-api-key': 'klk_api_00000000000000000000000000000000aaaaaa', 'x-application-key': gw.admin.applicationKey },
      'a revoked key': { 'x-api-key': revokedKey, 'x-application-key': gw.admin.applicationKey },
      'a client token': { 'x-api-key': token, 'x-application-key': gw.admin.applicationKey },
    };
    for (const [what, headers] of Object.entries(unauthenticated)) {
      const answer = await post(gw, query, headers);
      expect(answer.status, what).toBe(401);
      expect(answer.headers.get('www-authenticate'), what).toBe(CHALLENGE);
    }
    const allowed = await post(gw, query, keysOf(gw));
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('www-authenticate')).toBeNull();
    const fromBrowser = await post(gw, query, { ...keysOf(gw), origin: 'https://evil.example' });
    expect(fromBrowser.status).toBe(403);
    expect(fromBrowser.headers.get('www-authenticate')).toBeNull();
  });

  it('by default gives no cross-origin access to the GraphQL API (no Access-Control-Allow-* header), while browser-intake verification works', async () => {
    const preflight = await fetch(`${gw.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key' },
    });
    const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));
    expect(corsHeaders(preflight)).toEqual([]);
    const fromPage = await post(gw, { query: '{ scopes { name } }' }, { origin: 'https://evil.example' });
    expect(corsHeaders(fromPage)).toEqual([]);

    const token = (await gw.call(CreateClientTokenDocument, { name: 'intake', allowedOrigins: ['https://shop.example.com'] })).data!.createClientToken.secret;
    const verified = await gw.call(VerifyCredentialsDocument, { usage: 'BROWSER_INTAKE', clientToken: token, origin: 'https://shop.example.com' }, null);
    expect(verified.data?.verifyCredentials).toMatchObject({ valid: true, code: null });
  });

  it('allows the configured origins only (KEYLEDGER_CORS_ORIGINS): that origin, never credentials, never another', async () => {
    const allowing = await startGateway({ env: { KEYLEDGER_CORS_ORIGINS: 'https://admin.example.com, https://ops.example.com' } });
    try {
      const preflight = (origin: string) =>
        fetch(`${allowing.url}/graphql`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
      const allowed = await preflight('https://ops.example.com');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
      expect(allowed.headers.get('vary')).toMatch(/Origin/);
      expect(allowed.headers.get('access-control-allow-methods')).toBe('GET, POST');
      expect(allowed.headers.get('access-control-allow-headers')).toContain('x-api-key');
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
      const other = await preflight('https://evil.example');
      expect([...other.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);

      const token = (await allowing.call(CreateClientTokenDocument, { name: 'intake', allowedOrigins: [] })).data!.createClientToken.secret;
      const fromAdmin = await fetch(`${allowing.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://admin.example.com' },
        body: JSON.stringify({ query: `{ verifyCredentials(usage: BROWSER_INTAKE, clientToken: "${token}", origin: "https://admin.example.com") { valid } }` }),
      });
      expect(fromAdmin.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
      expect(fromAdmin.headers.get('access-control-expose-headers')).toBe('x-request-id');
      expect(await fromAdmin.json()).toEqual({ data: { verifyCredentials: { valid: true } } });
      allowing.secrets.add(token);
    } finally {
      await allowing.close();
    }
  });

  it('serves GraphiQL with its assets from the installed package, behind a Content-Security-Policy and security headers', async () => {
    const page = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toMatch(/graphiql/i);
    // No asset from anywhere else: no script or stylesheet by URL, no CDN.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+rel="stylesheet"|unpkg\.com|jsdelivr|cdnjs/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:|'unsafe-eval'|script-src[^;]*'unsafe-inline'/);
    const inline = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
    expect(inline).toHaveLength(1);
    expect(csp).toContain(`script-src ${inline[0]}`);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
  });

  it('serves no GraphiQL with KEYLEDGER_GRAPHIQL=false', async () => {
    const without = await startGateway({ env: { KEYLEDGER_GRAPHIQL: 'false' } });
    try {
      const page = await fetch(`${without.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect(await page.text()).not.toMatch(/graphiql/i);
      expect(page.headers.get('cache-control')).toBe('no-store');
    } finally {
      await without.close();
    }
  });
});
