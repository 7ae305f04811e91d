// R27: a secret a client sends never comes back, wherever it was put. The input positions are
// generated from the schema: every argument of every Query and Mutation field, recursively
// through input objects and lists, each as a variable and as an inline literal (a wrong-typed
// value where the type is not a string), plus an unknown field name in every input object; then
// every root field's alias, operation name, unknown argument and directive; the document's other
// names (field, fragment, variable, type, directive); the raw body (malformed JSON, form-encoded,
// other content types), the query string, and headers other than the credential headers. Each
// request carries a freshly issued-looking secret (right prefix and checksum); the org's real
// secrets go in too. Every response (body and headers) is scanned, then the log, the event store
// and the read models. verifyCredentials' apiKey, applicationKey and clientToken exist to carry a
// secret: they are tried like the rest and must not echo it either. KEYLEDGER_HOSTILE_VERBOSE=1
// prints every request's answer.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { isEnumType, isScalarType } from 'graphql';
import { schema } from '../../src/graphql/schema.js';
import { issueSecret } from '../../src/domain/secrets.js';
import type { CredentialKind } from '../../src/domain/events.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { describePg, pgReachable } from '../support/pg.js';
import {
  abbreviate,
  Bare,
  credentialHeaders,
  describePosition,
  globalIdOf,
  inputPositions,
  makeFixtures,
  operationFor,
  post,
  rootFields,
  send,
  validContexts,
  validValue,
  withValueAt,
  type BuiltOperation,
  type Fixtures,
  type RawRequest,
  type Value,
} from '../support/hostile.js';

const pg = await pgReachable();

/** One request with one planted secret. */
interface Case {
  /** Where the secret is, for the report. */
  readonly position: string;
  readonly request: RawRequest;
  readonly secret: string;
  /** A position whose job is to carry a credential (verifyCredentials' arguments, credential headers). */
  readonly credential: boolean;
}

/** The 32 random characters of a secret: a leak of them is a leak, with or without prefix and checksum. */
const randomPart = (secret: string): string => secret.slice(8, 40);
const leaks = (text: string, secret: string): boolean => text.includes(secret) || text.includes(randomPart(secret));

const KINDS: readonly CredentialKind[] = ['API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN'];
const CREDENTIAL_ARGS = new Set(['apiKey', 'applicationKey', 'clientToken']);
const VIEWER = '{ viewer { permissions principal { id name } } }';

/** Every case, in order: argument positions first, then document, body, query string and header positions. */
function buildCases(fx: Fixtures): { cases: Case[]; positions: number; breakdown: string } {
  const cases: Case[] = [];
  const positions = new Set<string>();
  let n = 0;
  const fresh = (kind?: CredentialKind): string => issueSecret(kind ?? KINDS[n++ % KINDS.length]!).secret;
  const realSecrets = [fx.applicationKey, fx.apiKey, fx.clientTokenSecret];
  const admin = credentialHeaders(fx);
  const add = (position: string, request: RawRequest, secret: string, credential = false) => {
    positions.add(position.replace(/ \{context \d+\}/, '').replace(/ \[.*\]$/, ''));
    cases.push({ position, request, secret, credential });
  };
  const postOp = (op: BuiltOperation, headers: Record<string, string> = admin) => post(op, headers);

  // 1. Every input position of every argument, in every valid context of its field.
  for (const p of inputPositions(schema)) {
    const name = describePosition(p);
    const credential = p.path.length === 0 && CREDENTIAL_ARGS.has(p.arg.name) && p.root.field.name === 'verifyCredentials';
    const contexts = validContexts(p.root, fx);
    contexts.forEach((context, i) => {
      const where = contexts.length > 1 ? `${name} {context ${i + 1}}` : name;
      const hint = { field: p.root.field.name, name: p.arg.name };
      const plant = (value: Value, mode: 'literal' | 'variables', how: string, secret: string) => {
        const args: Record<string, Value> = { ...context, [p.arg.name]: withValueAt(p.arg.type, context[p.arg.name], p.path, value, fx, hint) };
        add(`${where} [${how}]`, postOp(operationFor(p.root, args, mode)), secret, credential);
      };
      if (p.kind === 'unknownField') {
        const withKey = (secret: string): Value => ({ ...(validValue(p.type, fx, hint) as Record<string, Value>), [secret]: 1 });
        const a = fresh();
        plant(withKey(a), 'variables', 'unknown input field name, variable', a);
        const b = fresh();
        plant(withKey(b), 'literal', 'unknown input field name, literal', b);
        return;
      }
      const a = fresh();
      plant(a, 'variables', 'variable', a);
      const b = fresh();
      plant(b, 'literal', 'string literal', b);
      const stringy = isScalarType(p.type) && ['String', 'ID', 'DateTime'].includes(p.type.name);
      if (isEnumType(p.type) || !stringy) {
        const c = fresh();
        plant(new Bare(c), 'literal', 'bare name literal', c);
      }
      if (p.type.name === 'ID') {
        const d = fresh();
        plant(globalIdOf('ApiKey', d), 'variables', 'global id wrapping it', d);
      }
      const real = realSecrets[n++ % realSecrets.length]!;
      plant(real, 'variables', 'a real secret of the org, variable', real);
    });
  }

  // 2. Per root field: alias, operation name, unknown argument, directives (valid arguments, so mutations run).
  for (const root of rootFields(schema)) {
    const context = validContexts(root, fx)[0]!;
    const at = `${root.operation} ${root.field.name}`;
    let s = fresh();
    add(`${at}: alias`, postOp(operationFor(root, context, 'literal', { alias: s })), s);
    s = fresh();
    add(`${at}: operation name`, postOp(operationFor(root, context, 'literal', { name: s })), s);
    s = fresh();
    add(`${at}: unknown argument name`, postOp(operationFor(root, context, 'literal', { extraArgs: `${s}: 1` })), s);
    s = fresh();
    add(`${at}: @include(if:) argument, literal`, postOp(operationFor(root, context, 'literal', { directives: `@include(if: ${JSON.stringify(s)})` })), s);
    s = fresh();
    const skip = operationFor(root, context, 'literal', { directives: '@skip(if: $flag)' });
    add(`${at}: @skip(if:) argument, variable`, postOp({ query: skip.query.replace(/^(query|mutation) /, '$1($flag: Boolean!) '), variables: { flag: s } }), s);
    s = fresh();
    add(`${at}: unknown directive name`, postOp(operationFor(root, context, 'literal', { directives: `@${s}` })), s);
  }

  // 3. The document's other names and tokens.
  const documents: [string, (s: string) => BuiltOperation][] = [
    ['unknown root field', (s) => ({ query: `{ ${s} }` })],
    ['unknown nested field', (s) => ({ query: `{ viewer { ${s} } }` })],
    ['unknown argument on a nested field', (s) => ({ query: `{ viewer { permissions(${s}: 1) } }` })],
    ['argument value on a field without arguments', (s) => ({ query: `{ viewer(x: ${JSON.stringify(s)}) { permissions } }` })],
    ['fragment name, defined and used', (s) => ({ query: `query { viewer { ...${s} } } fragment ${s} on Viewer { permissions }` })],
    ['fragment name, undefined', (s) => ({ query: `{ viewer { ...${s} } }` })],
    ['fragment name, unused', (s) => ({ query: `query { viewer { permissions } } fragment ${s} on Viewer { permissions }` })],
    ['type condition', (s) => ({ query: `{ viewer { ... on ${s} { permissions } } }` })],
    ['fragment type condition', (s) => ({ query: `query { viewer { ...f } } fragment f on ${s} { permissions }` })],
    ['variable name, unused', (s) => ({ query: `query ($${s}: String) ${VIEWER}` })],
    ['variable name, undefined', (s) => ({ query: `{ viewer { permissions } organization @include(if: $${s}) { id } }` })],
    ['variable type name', (s) => ({ query: `query ($v: ${s}) ${VIEWER}` })],
    ['directive name on the operation', (s) => ({ query: `query @${s} ${VIEWER}` })],
    ['operationName naming no operation', (s) => ({ query: `query Q ${VIEWER}`, operationName: s })],
    ['operationName among two operations', (s) => ({ query: `query A ${VIEWER} query B { organization { id } }`, operationName: s })],
    ['a bare token before the document', (s) => ({ query: `${s} ${VIEWER}` })],
    ['a bare token after the document', (s) => ({ query: `${VIEWER} ${s}` })],
    ['an unterminated string', (s) => ({ query: `{ viewer(x: "${s}) { permissions } }` })],
    ['a comment', (s) => ({ query: `${VIEWER} # ${s}` })],
    ['a block string', (s) => ({ query: `{ __type(name: """${s}""") { name } }` })],
    ['introspection __type(name:)', (s) => ({ query: `{ __type(name: ${JSON.stringify(s)}) { name } }` })],
    ['a variable not declared (its name)', (s) => ({ query: `query ${VIEWER}`, variables: { [s]: 1 } })],
    ['a variable not declared (its value)', (s) => ({ query: `query ${VIEWER}`, variables: { unused: s } })],
  ];
  for (const [what, make] of documents) {
    const s = fresh();
    add(`document: ${what}`, postOp(make(s)), s);
  }

  // 4. The body: malformed, other shapes, other content types, other methods.
  const json = (body: string, extra: Record<string, string> = {}): RawRequest => ({
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...admin, ...extra },
    body,
  });
  const q = JSON.stringify(VIEWER);
  const bodies: [string, (s: string) => RawRequest][] = [
    ['malformed JSON, unterminated', (s) => json(`{"query": ${q}, "variables": {"x": "${s}"}`)],
    ['malformed JSON, a bare token', (s) => json(`{"query": ${s}}`)],
    ['malformed JSON, only the secret', (s) => json(s)],
    ['malformed JSON, a trailing token', (s) => json(`{"query": ${q}} ${s}`)],
    ['malformed JSON, a long body', (s) => json(`{"query": ${q}, "pad": "${'x'.repeat(5000)}", "variables": {"x": "${s}"`)],
    ['a batch', (s) => json(JSON.stringify([{ query: `{ ${s} }` }]))],
    ['query as an object', (s) => json(JSON.stringify({ query: { [s]: s } }))],
    ['query as a list', (s) => json(JSON.stringify({ query: [s] }))],
    ['variables as a string', (s) => json(JSON.stringify({ query: VIEWER, variables: s }))],
    ['variables as malformed JSON in a string', (s) => json(JSON.stringify({ query: VIEWER, variables: `{"x": ${s}` }))],
    ['operationName as an object', (s) => json(JSON.stringify({ query: VIEWER, operationName: { x: s } }))],
    ['extensions', (s) => json(JSON.stringify({ query: VIEWER, extensions: { x: s } }))],
    ['a persisted query hash', (s) => json(JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: s } } }))],
    ['an unknown body key', (s) => json(JSON.stringify({ query: VIEWER, [s]: 1 }))],
    ['the content-type charset', (s) => json(JSON.stringify({ query: VIEWER }), { 'content-type': `application/json; charset=${s}` })],
    ['a content-type parameter', (s) => json(JSON.stringify({ query: VIEWER }), { 'content-type': `application/json; ${s}=1` })],
    ['text/plain body', (s) => json(s, { 'content-type': 'text/plain' })],
    ['application/graphql body', (s) => json(`{ ${s} }`, { 'content-type': 'application/graphql' })],
    ['application/xml body', (s) => json(`<q>${s}</q>`, { 'content-type': 'application/xml' })],
    ['a content type of its own', (s) => json(JSON.stringify({ query: VIEWER }), { 'content-type': `application/${s}` })],
    ['form-encoded query', (s) => json(new URLSearchParams({ query: `{ ${s} }` }).toString(), { 'content-type': 'application/x-www-form-urlencoded' })],
    [
      'form-encoded variables',
      (s) => json(new URLSearchParams({ query: VIEWER, variables: JSON.stringify({ x: s }) }).toString(), { 'content-type': 'application/x-www-form-urlencoded' }),
    ],
    ['form-encoded malformed variables', (s) => json(new URLSearchParams({ query: VIEWER, variables: s }).toString(), { 'content-type': 'application/x-www-form-urlencoded' })],
    ['form-encoded operationName', (s) => json(new URLSearchParams({ query: VIEWER, operationName: s }).toString(), { 'content-type': 'application/x-www-form-urlencoded' })],
    ['form-encoded key', (s) => json(`${s}=1&query=${encodeURIComponent(VIEWER)}`, { 'content-type': 'application/x-www-form-urlencoded' })],
    [
      'multipart operations',
      (s) =>
        json(
          `--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: `{ ${s} }` })}\r\n--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--b--\r\n`,
          {
            'content-type': 'multipart/form-data; boundary=b',
          },
        ),
    ],
    ['PUT body', (s) => ({ ...json(JSON.stringify({ query: `{ ${s} }` })), method: 'PUT' })],
    ['PATCH body', (s) => ({ ...json(JSON.stringify({ query: `{ ${s} }` })), method: 'PATCH' })],
    ['DELETE body', (s) => ({ ...json(JSON.stringify({ query: `{ ${s} }` })), method: 'DELETE' })],
  ];
  for (const [what, make] of bodies) {
    const s = fresh();
    add(`body: ${what}`, make(s), s);
  }

  // 5. The query string, on /graphql and the other routes.
  const get = (path: string, headers: Record<string, string> = admin): RawRequest => ({ method: 'GET', path, headers: { accept: 'application/json', ...headers } });
  const qs = (params: Record<string, string>) => `/graphql?${new URLSearchParams(params).toString()}`;
  const queries: [string, (s: string) => RawRequest][] = [
    ['GET query with an unknown field', (s) => get(qs({ query: `{ ${s} }` }))],
    ['GET operation name', (s) => get(qs({ query: `query ${s} ${VIEWER}` }))],
    ['GET string literal', (s) => get(qs({ query: `{ principals(filter: { nameContains: ${JSON.stringify(s)} }) { totalCount } }` }))],
    ['GET variables', (s) => get(qs({ query: 'query ($n: String) { principals(filter: { nameContains: $n }) { totalCount } }', variables: JSON.stringify({ n: s }) }))],
    ['GET wrong-typed variable', (s) => get(qs({ query: 'query ($n: Int) { apiKeys(first: $n) { totalCount } }', variables: JSON.stringify({ n: s }) }))],
    ['GET malformed variables', (s) => get(qs({ query: VIEWER, variables: s }))],
    ['GET malformed variables, JSON-ish', (s) => get(qs({ query: VIEWER, variables: `{"x": ${s}` }))],
    ['GET operationName', (s) => get(qs({ query: VIEWER, operationName: s }))],
    ['GET extensions', (s) => get(qs({ query: VIEWER, extensions: JSON.stringify({ x: s }) }))],
    ['GET malformed extensions', (s) => get(qs({ query: VIEWER, extensions: s }))],
    ['GET unknown parameter', (s) => get(`${qs({ query: VIEWER })}&${s}=1`)],
    ['GET mutation', (s) => get(qs({ query: `mutation { createApiKey(name: ${JSON.stringify(s)}) { apiKey { id } } }` }))],
    ['GET without credentials', (s) => get(qs({ query: `{ ${s} }` }), {})],
    ['POST with a query string', (s) => ({ ...post({ query: VIEWER }, admin), path: `/graphql?x=${s}` })],
    ['POST with the query in the query string', (s) => ({ ...post({ query: VIEWER }, admin), path: qs({ query: `{ ${s} }` }) })],
    ['/health query string', (s) => get(`/health?x=${s}`)],
    ['/ready query string', (s) => get(`/ready?x=${s}`)],
    ['/metrics query string', (s) => get(`/metrics?x=${s}`)],
    ['/api/v1/validate query string', (s) => get(`/api/v1/validate?api_key=${s}`, { 'dd-api-key': fx.apiKey })],
    ['an unknown path', (s) => get(`/${s}`)],
    ['a path under /graphql', (s) => get(`/graphql/${s}`)],
    ['POST to /health', (s) => ({ ...post({ query: `{ ${s} }` }, admin), path: '/health' })],
  ];
  for (const [what, make] of queries) {
    const s = fresh();
    add(`query string: ${what}`, make(s), s);
  }

  // 6. Headers other than the credential headers, then the credential headers with unknown secrets.
  const headers: [string, (s: string) => Record<string, string>][] = [
    ['user-agent', (s) => ({ 'user-agent': s })],
    ['user-agent, inside text', (s) => ({ 'user-agent': `curl/8.0 (${s})` })],
    ['x-request-id', (s) => ({ 'x-request-id': s })],
    ['origin', (s) => ({ origin: `https://${s}` })],
    ['referer', (s) => ({ referer: `https://example.com/?key=${s}` })],
    ['x-forwarded-for', (s) => ({ 'x-forwarded-for': s })],
    ['x-real-ip', (s) => ({ 'x-real-ip': s })],
    ['forwarded', (s) => ({ forwarded: `for=${s}` })],
    ['cookie', (s) => ({ cookie: `session=${s}` })],
    ['authorization', (s) => ({ authorization: `Bearer ${s}` })],
    ['accept, among others', (s) => ({ accept: `application/json, application/${s}` })],
    ['accept, alone', (s) => ({ accept: `application/${s}` })],
    ['accept-language', (s) => ({ 'accept-language': s })],
    ['traceparent', (s) => ({ traceparent: s })],
    ['a header of its own', (s) => ({ 'x-custom': s })],
    ['a header name', (s) => ({ [`x-${s}`]: '1' })],
  ];
  for (const [what, make] of headers) {
    const s = fresh();
    add(`header: ${what}`, post({ query: VIEWER }, { ...admin, ...make(s) }), s);
  }
  const realHeaders = [fx.applicationKey, fx.apiKey];
  for (const [i, header] of ['user-agent', 'x-request-id', 'referer', 'x-custom'].entries()) {
    const real = realHeaders[i % realHeaders.length]!;
    add(`header: ${header} [a real secret of the org]`, post({ query: VIEWER }, { ...admin, [header]: real }), real);
  }
  const credentialCases: [string, (s: string) => RawRequest, CredentialKind][] = [
    ['x-api-key, unknown', (s) => post({ query: VIEWER }, { ...admin, 'x-api-key': s }), 'API_KEY'],
    ['x-application-key, unknown', (s) => post({ query: VIEWER }, { ...admin, 'x-application-key': s }), 'APPLICATION_KEY'],
    ['dd-api-key and dd-application-key, unknown', (s) => post({ query: VIEWER }, { 'dd-api-key': s, 'dd-application-key': fx.applicationKey }), 'API_KEY'],
    ['x-api-key alone, unknown', (s) => post({ query: VIEWER }, { 'x-api-key': s }), 'API_KEY'],
    ['x-api-key holding a client token', (s) => post({ query: VIEWER }, { ...admin, 'x-api-key': s }), 'CLIENT_TOKEN'],
    ['x-application-key holding an API key', (s) => post({ query: VIEWER }, { ...admin, 'x-application-key': s }), 'API_KEY'],
    ['x-api-key with a syntax error in the document', (s) => post({ query: '{ viewer ' }, { ...admin, 'x-api-key': s }), 'API_KEY'],
    ['/api/v1/validate dd-api-key, unknown', (s) => get('/api/v1/validate', { 'dd-api-key': s }), 'API_KEY'],
    ['/api/v1/validate x-api-key holding an application key', (s) => get('/api/v1/validate', { 'x-api-key': s }), 'APPLICATION_KEY'],
  ];
  for (const [what, make, kind] of credentialCases) {
    const s = fresh(kind);
    add(`credential header: ${what}`, make(s), s, true);
  }
  // Positions by where they come from: the schema's arguments, each root field's document, the rest of the request.
  const groups = new Map<string, number>();
  for (const p of positions) {
    const group = p.startsWith('query string:')
      ? 'query string'
      : /^(query|mutation) [A-Za-z]+\(/.test(p)
        ? 'argument positions'
        : /^(query|mutation) /.test(p)
          ? 'per-field document positions'
          : p.split(':')[0]!;
    groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  const breakdown = [...groups.entries()].map(([g, k]) => `${k} ${g}`).join(', ');
  return { cases, positions: positions.size, breakdown };
}

interface Leak {
  readonly position: string;
  readonly where: string;
  readonly secret: string;
  readonly request: RawRequest;
  readonly excerpt: string;
}

function excerptAround(text: string, secret: string): string {
  const at = Math.max(text.indexOf(secret), text.indexOf(randomPart(secret)));
  return abbreviate(text.slice(Math.max(0, at - 160), at + 80), 300);
}

function describeRequest(r: RawRequest): string {
  const headers = Object.entries(r.headers)
    .filter(([k]) => !['content-type', 'accept'].includes(k))
    .map(([k, v]) => `${k}: ${abbreviate(v, 200)}`)
    .join('; ');
  const body = r.body === undefined ? '' : ` body=${abbreviate(r.body, 600)}`;
  return `${r.method} ${abbreviate(r.path, 300)} [${headers}]${body}`;
}

function secretPositions(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  let fx: Fixtures;
  beforeAll(async () => {
    g = await startGateway({ store, logLevel: 'debug' });
    fx = await makeFixtures(g);
  }, 60_000);
  afterAll(async () => {
    await g?.close();
  }, 60_000);

  it(`R27: no secret placed in any input position is echoed in a response, a log line, an event or a read model (${store})`, async () => {
    const { cases, positions, breakdown } = buildCases(fx);
    // close() also checks the event store, the read models and the log for every one of them.
    for (const c of cases) g.secrets.add(c.secret);
    const real = [fx.apiKey, fx.applicationKey, fx.clientTokenSecret];
    const found: Leak[] = [];
    const statuses = new Map<number, number>();
    for (const c of cases) {
      const answer = await send(g.url, c.request);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      for (const secret of new Set([c.secret, ...real])) {
        if (leaks(answer.text, secret))
          found.push({ position: c.position, where: `response body (HTTP ${answer.status})`, secret, request: c.request, excerpt: excerptAround(answer.text, secret) });
        for (const [name, value] of answer.headers) {
          if (leaks(value, secret)) found.push({ position: c.position, where: `response header ${name}`, secret, request: c.request, excerpt: abbreviate(`${name}: ${value}`) });
        }
      }
      if (process.env.KEYLEDGER_HOSTILE_VERBOSE === '1') console.log(`${c.position} → ${answer.status} ${abbreviate(answer.text, 300)}`);
      if (answer.status === 0) found.push({ position: c.position, where: `no answer: ${answer.error}`, secret: c.secret, request: c.request, excerpt: '' });
    }

    // The log, the event store and every table of the read store, for every secret planted.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const byLine = g.logs;
    const events: string[] = [];
    for await (const page of g.app.store.readAll()) events.push(JSON.stringify(page, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    const eventText = events.join('\n');
    const db = g.app.readStore.db;
    const tables =
      g.app.readStore.kind === 'postgres'
        ? (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows
        : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows;
    const readModels: [string, string][] = [];
    for (const { name } of tables) {
      const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db)).rows;
      readModels.push([name, JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('latin1') : v))]);
    }
    // A fresh secret was planted once, so a leak names its position; the org's real secrets were
    // planted in many, and the excerpt shows which.
    const planted = new Map<string, Case[]>();
    for (const c of cases) planted.set(c.secret, [...(planted.get(c.secret) ?? []), c]);
    for (const secret of new Set([...planted.keys(), ...real])) {
      const at = planted.get(secret) ?? [];
      const position = at.length === 1 ? at[0]!.position : `a real secret of the org (planted in ${at.length} positions and sent as a credential; the excerpt shows where)`;
      const request = at.length === 1 ? at[0]!.request : { method: '-', path: '-', headers: {} };
      const line = byLine.find((l) => leaks(l, secret));
      if (line) found.push({ position, where: 'the log', secret, request, excerpt: excerptAround(line, secret) });
      if (leaks(eventText, secret)) found.push({ position, where: 'the event store', secret, request, excerpt: excerptAround(eventText, secret) });
      for (const [table, text] of readModels)
        if (leaks(text, secret)) found.push({ position, where: `read model ${table}`, secret, request, excerpt: excerptAround(text, secret) });
    }

    const summary = [...statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, k]) => `${s}×${k}`)
      .join(' ');
    console.log(
      `R27 secret positions (${store}): ${positions} positions generated from the schema and the transport (${breakdown}), ${cases.length} requests sent ` +
        `(${cases.filter((c) => c.credential).length} in credential positions), statuses ${summary}; ${found.length} leaks found ` +
        `(${new Set(found.map((f) => f.secret)).size} secrets, ${new Set(found.map((f) => f.position)).size} positions)`,
    );
    if (found.length > 0) {
      const byWhere = new Map<string, number>();
      for (const f of found) byWhere.set(f.where.replace(/ \(HTTP \d+\)$/, ''), (byWhere.get(f.where.replace(/ \(HTTP \d+\)$/, '')) ?? 0) + 1);
      console.log(`leaks by place: ${[...byWhere.entries()].map(([w, k]) => `${w}: ${k}`).join('; ')}`);
      // The org's real secrets are shown by name, not value.
      const names: [string, string][] = [
        [fx.apiKey, '<admin API key>'],
        [fx.applicationKey, '<admin application key>'],
        [fx.clientTokenSecret, '<fixture client token>'],
      ];
      const shown = (text: string) => names.reduce((t, [secret, name]) => t.replaceAll(secret, name), text);
      console.log(
        shown(
          found.map((f) => `- ${f.position} → ${f.where}, the secret ending ${f.secret.slice(-4)}\n    request: ${describeRequest(f.request)}\n    seen: ${f.excerpt}`).join('\n'),
        ),
      );
    }
    expect(
      found.map((f) => `${f.position} → ${f.where}`),
      'secrets echoed or stored',
    ).toEqual([]);
  }, 300_000);
}

describe('R27 secret positions on SQLite', () => {
  secretPositions('sqlite');
});
describePg(pg, 'R27 secret positions on PostgreSQL', () => {
  secretPositions('postgres');
});
