// R28/R29: a seeded fuzz over every argument of the schema, on SQLite and on PostgreSQL. Each
// request puts one hostile value (malformed, oversized, nested, wrongly typed, unicode, NUL, lone
// surrogates, out-of-range dates and numbers, ids of other types) into one argument position of
// one root field, the other arguments valid; or sends a hostile document (aliases, depth,
// duplicates, fragments, huge names) or a hostile HTTP request (malformed JSON, other content
// types and methods, huge headers and bodies). Most carry the admin's credentials, so that they
// reach the resolvers; some carry none or unknown ones. Every answer must be below 500 (503 only
// with AUDIT_UNAVAILABLE or STORE_UNAVAILABLE), JSON, and every error must carry an
// `extensions.code` of the README's table (never INTERNAL_SERVER_ERROR) with an HTTP status the
// table gives it; a mutation, or a filter, given NUL, a lone surrogate or an oversized string must
// refuse it (R29). Afterwards the process is healthy: /health and /ready answer 200 and a viewer
// query works. Failures are collected, deduplicated and listed together, with a reproduction.
//
// KEYLEDGER_FUZZ_SEED and KEYLEDGER_FUZZ_REQUESTS change the seed and the number of requests;
// KEYLEDGER_HOSTILE_VERBOSE=1 prints every request's answer.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getNamedType, isLeafType, isScalarType, type GraphQLInputType, type GraphQLNamedInputType } from 'graphql';
import { schema } from '../../src/graphql/schema.js';
import { issueSecret } from '../../src/domain/secrets.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { describePg, pgReachable } from '../support/pg.js';
import {
  abbreviate,
  Bare,
  credentialHeaders,
  globalIdOf,
  inputPositions,
  makeFixtures,
  operationFor,
  Raw,
  readmeErrorCodes,
  rootFields,
  Rng,
  selectionFor,
  send,
  typeAt,
  validContexts,
  validValue,
  withValueAt,
  type BuiltOperation,
  type Fixtures,
  type PathStep,
  type RawAnswer,
  type RawRequest,
  type RootField,
  type Value,
} from '../support/hostile.js';

const pg = await pgReachable();

const SEED = Number(process.env.KEYLEDGER_FUZZ_SEED ?? 0x6b6c6467);
const REQUESTS = Number(process.env.KEYLEDGER_FUZZ_REQUESTS ?? 2500);
const CONCURRENCY = 4;
const CODES = readmeErrorCodes();
/** 503 is the store's or the audit log's outage (R30), not a client's mistake; nothing here should cause one. */
const OUTAGE_CODES = new Set(['AUDIT_UNAVAILABLE', 'STORE_UNAVAILABLE']);

// ---------------------------------------------------------------------------------------------
// Hostile values.

const VALUE_KINDS = {
  valid: 8,
  empty: 3,
  whitespace: 2,
  long60k: 3,
  huge1m: 0.6,
  nul: 4,
  nulRaw: 1.5,
  loneHigh: 3,
  loneLow: 3,
  loneRaw: 1.5,
  emoji: 2,
  rtl: 2,
  combining: 1.5,
  control: 2,
  likeMeta: 3,
  sqlish: 1.5,
  unicodeName: 1.5,
  wrongType: 5,
  nestedList: 2,
  nestedObject: 2,
  longList: 1.5,
  hugeNumber: 3,
  negative: 2,
  zero: 1,
  fraction: 1.5,
  nanish: 2,
  bigIntString: 1.5,
  dateOutOfRange: 4,
  otherTypeId: 4,
  null: 2,
  bareName: 2,
} as const;
type ValueKind = keyof typeof VALUE_KINDS;

/**
 * Every argument position gets these first (in an order of its own), so that each one meets NUL,
 * lone surrogates, oversized strings, bad dates, wrong types and foreign ids; then weighted draws.
 */
const FIRST_KINDS: readonly ValueKind[] = ['nul', 'loneHigh', 'loneLow', 'long60k', 'dateOutOfRange', 'wrongType', 'otherTypeId', 'valid', 'loneRaw', 'emoji'];

/**
 * R29 as the README's "Bounds" paragraph states it: no string argument holds NUL or an unpaired
 * surrogate, and none is longer than 16,384 characters (names, emails, origins and some filters
 * have lower bounds, which this test does not need to know).
 */
const MAX_STRING = 16_384;
// oxlint-disable-next-line no-control-regex -- NUL is what it looks for.
const NUL_OR_LONE_SURROGATE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether R29 refuses this value in a string argument: NUL, a lone surrogate, or over the bound. */
function mustRefuse(value: Value): boolean {
  const text = value instanceof Raw ? value.json : value;
  return typeof text === 'string' && (NUL_OR_LONE_SURROGATE.test(text) || text.length > MAX_STRING);
}

const DATES = [
  '-271821-04-20T00:00:00Z',
  '+275760-09-13T00:00:00.001Z',
  '-000001-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '10000-01-01T00:00:00Z',
  '2021-02-30T00:00:00Z',
  '2021-13-01T00:00:00Z',
  '2021-01-01T25:61:61Z',
  '1970-01-01T00:00:00+99:00',
  '2020-01-01',
  '2020-01-01T00:00:00.123456789123Z',
  'now',
  '8640000000000001',
  '1e400',
];

function hostileValue(kind: ValueKind, type: GraphQLInputType, rng: Rng, fx: Fixtures, hint: { field: string; name: string }): Value {
  const valid = () => validValue(type, fx, hint);
  switch (kind) {
    case 'valid':
      return valid();
    case 'empty':
      return '';
    case 'whitespace':
      return rng.pick([' ', ' \t\n ', '\u00a0\u2003', '\u200b']);
    case 'long60k':
      return rng.pick(['a', 'é', '名', 'x y ']).repeat(rng.pick([15_000, 30_000, 60_000]));
    case 'huge1m':
      return 'k'.repeat(1_048_576 + rng.int(1000));
    case 'nul':
      return rng.pick(['\u0000', 'name\u0000', 'a\u0000b', '\u0000'.repeat(100)]);
    case 'nulRaw':
      // A NUL as a raw character inside a GraphQL string literal (which the lexer refuses) or a variable.
      return new Raw('"a\u0000b"', 'a\u0000b');
    case 'loneHigh':
      return rng.pick(['\ud800', 'name\ud800', '\udbff tail']);
    case 'loneLow':
      return rng.pick(['\udc00', 'name\udc00', '\udfff\ud800']);
    case 'loneRaw':
      return new Raw('"x\ud800y"', 'x\ud800y');
    case 'emoji':
      return rng.pick(['🔑', '👩‍💻 key', '🏳️‍🌈'.repeat(50), '\u{1F600}@example.test']);
    case 'rtl':
      return rng.pick(['\u202eevil\u202c', 'name\u200f', '\u2066iso\u2069', 'abc\u202e@example.test']);
    case 'combining':
      return `z${'\u0301\u0308\u0327'.repeat(rng.pick([10, 300]))}`;
    case 'control':
      return rng.pick(['\u0007bell', '\u001b[31mred', 'line\r\nbreak', '\u007f', '\ufeffbom', '\ufffe\uffff']);
    case 'likeMeta':
      return rng.pick(['%', '_', '\\', '%_\\%', '%'.repeat(1000), '_%'.repeat(25_000), '[a-z]*', '.*'.repeat(5000), 'a%'.repeat(30_000)]);
    case 'sqlish':
      return rng.pick(["' OR 1=1 --", '"; drop table credentials; --', "\\'; select pg_sleep(5); --", '$1', '?']);
    case 'unicodeName':
      return rng.pick(['Ωmega 名前', 'İstanbul', 'ﬃ', 'ß', 'Ⅻ', 'ａｂｃ', 'x@例え.テスト']);
    case 'wrongType':
      return rng.pick<Value>([42, -7, 3.14, true, false, 'text', { a: 1 }, [1, 2], [['nested']], {}, []]);
    case 'nestedList': {
      let v: Value = valid();
      for (let i = 0, depth = rng.pick([5, 50, 500]); i < depth; i++) v = [v];
      return v;
    }
    case 'nestedObject': {
      let v: Value = 'x';
      for (let i = 0, depth = rng.pick([5, 50, 500]); i < depth; i++) v = { a: v };
      return v;
    }
    case 'longList':
      return Array.from({ length: rng.pick([1000, 10_000]) }, () => valid());
    case 'hugeNumber':
      return rng.pick<Value>([2 ** 31, 2 ** 53 + 2, 1e308, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, new Raw('99999999999999999999999999999', 1e29), new Raw('1e999', '1e999')]);
    case 'negative':
      return rng.pick([-1, -100, -(2 ** 31)]);
    case 'zero':
      return 0;
    case 'fraction':
      return rng.pick([0.5, 1.5, -0.0001]);
    case 'nanish':
      return rng.pick<Value>([new Raw('NaN', 'NaN'), new Raw('Infinity', 'Infinity'), new Raw('-Infinity', '-Infinity'), 'NaN', '-0', new Raw('0x10', '0x10')]);
    case 'bigIntString':
      return rng.pick(['99999999999999999999', '-1', '1e3', '007']);
    case 'dateOutOfRange':
      return rng.pick(DATES);
    case 'otherTypeId':
      return rng.pick([
        fx.orgId,
        fx.userId,
        fx.serviceAccountId,
        fx.apiKeyId,
        fx.applicationKeyId,
        fx.clientTokenId,
        globalIdOf('ApiKey', 'not-a-uuid'),
        globalIdOf('Organization', '00000000-0000-0000-0000-000000000000'),
        globalIdOf('ApiKey', '00000000-0000-0000-0000-000000000000'),
        globalIdOf('ApiKey', '\u0000'),
        globalIdOf('User', '\ud800'),
        'QXBpS2V5OmJhZA==',
        '!!not base64!!',
        '====',
        globalIdOf('', ''),
        Buffer.from('ApiKey:'.padEnd(5000, 'x')).toString('base64'),
      ]);
    case 'null':
      return null;
    case 'bareName':
      return new Bare(rng.pick(['NOT_A_VALUE', 'null_', 'ACTIVE', 'ADMIN', 'API', 'true_', 'klk']));
    default: {
      const unhandled: never = kind;
      throw new Error(`no value for ${String(unhandled)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Requests.

interface FuzzCase {
  /** For deduplication: root field (or the request's kind), argument path, generator kind. */
  readonly field: string;
  readonly argument: string;
  readonly kind: string;
  readonly request: RawRequest;
  readonly credentials: 'admin' | 'none' | 'unknown';
  /** R29: the answer must be a refusal (an error), since the value may never be stored or queried. */
  readonly mustRefuse: boolean;
}

/** An argument slot: an input position (a leaf, or an input object's field names), a whole argument, or a field without arguments. */
interface Slot {
  readonly root: RootField;
  readonly arg: string | null;
  readonly path: readonly PathStep[];
  readonly type: GraphQLNamedInputType | null;
  readonly unknownField: boolean;
}

function slotsOf(): Slot[] {
  const slots: Slot[] = [];
  for (const root of rootFields(schema)) {
    if (root.field.args.length === 0) slots.push({ root, arg: null, path: [], type: null, unknownField: false });
    for (const arg of root.field.args) {
      const named = getNamedType(arg.type);
      if (!isLeafType(named)) slots.push({ root, arg: arg.name, path: [], type: named, unknownField: false });
    }
  }
  for (const p of inputPositions(schema)) slots.push({ root: p.root, arg: p.arg.name, path: p.path, type: p.type, unknownField: p.kind === 'unknownField' });
  return slots;
}

const VIEWER = '{ viewer { permissions principal { id name } } }';

const DOCUMENT_KINDS = [
  'aliases50',
  'aliases1000',
  'depth20',
  'depthUnknown',
  'duplicateFields',
  'conflictingFields',
  'allQueryFields',
  'fragmentCycle',
  'fragmentBomb',
  'hugeOperationName',
  'unicodeOperationName',
  'manyDirectives',
  'manyVariables',
  'deepListLiteral',
  'manyTokens',
  'introspection',
  'emptyDocument',
  'twoOperationsNoName',
  'subscription',
  'nulInDocument',
  'loneSurrogateInDocument',
  'hugeStringLiteral',
  'unknownVariableType',
  'typenameBomb',
] as const;

const TRANSPORT_KINDS = [
  'malformedJson',
  'noContentType',
  'textPlain',
  'applicationXml',
  'applicationGraphql',
  'utf16Charset',
  'brokenMultipart',
  'put',
  'delete',
  'patch',
  'getMutation',
  'getMalformedVariables',
  'getVariablesArray',
  'getNoQuery',
  'getHugeQuery',
  'acceptUnsupported',
  'hugeHeader',
  'hugeBody',
  'emptyBody',
  'batch',
  'queryNotString',
  'variablesNotObject',
  'operationNameNotString',
  'extensionsNotObject',
  'formEncoded',
  'gzipClaimed',
  'unknownEncoding',
  'jsonNull',
  'jsonNumber',
  'deepJson',
  'duplicateJsonKeys',
] as const;

function buildCases(fx: Fixtures, rng: Rng, count: number, slots: readonly Slot[]): FuzzCase[] {
  const queries = rootFields(schema).filter((r) => r.operation === 'query');
  const all = rootFields(schema);
  const cases: FuzzCase[] = [];
  let nextSlot = 0;
  const visits = new Map<Slot, number>();
  for (let i = 0; i < count; i++) {
    const credentials = rng.weighted({ admin: 85, none: 10, unknown: 5 });
    const auth: Record<string, string> =
      credentials === 'admin'
        ? credentialHeaders(fx)
        : credentials === 'unknown'
          ? { 'x-api-key': issueSecret('API_KEY').secret, 'x-application-key': issueSecret('APPLICATION_KEY').secret }
          : {};
    const accept = rng.chance(0.3) ? 'application/graphql-response+json' : 'application/json';
    const postJson = (body: unknown): RawRequest => ({
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/json', accept, ...auth },
      body: JSON.stringify(body),
    });
    const postOp = (op: BuiltOperation) =>
      postJson({ query: op.query, ...(op.variables ? { variables: op.variables } : {}), ...(op.operationName ? { operationName: op.operationName } : {}) });
    const category = rng.weighted({ argument: 72, document: 14, transport: 14 });

    if (category === 'argument') {
      const slotIndex = nextSlot++ % slots.length;
      const slot = slots[slotIndex]!;
      const visit = visits.get(slot) ?? 0;
      visits.set(slot, visit + 1);
      const kind = visit < FIRST_KINDS.length ? FIRST_KINDS[(visit + slotIndex) % FIRST_KINDS.length]! : rng.weighted(VALUE_KINDS);
      const mode = rng.chance(0.5) ? 'variables' : 'literal';
      const context = rng.pick(validContexts(slot.root, fx));
      const args: Record<string, Value> = { ...context };
      let argument = '(none)';
      let refuse = false;
      if (slot.arg !== null) {
        const arg = slot.root.field.args.find((a) => a.name === slot.arg)!;
        const hint = { field: slot.root.field.name, name: slot.arg };
        argument = [slot.arg, ...slot.path].join('.') + (slot.unknownField ? '.<field name>' : '');
        let value: Value;
        if (slot.unknownField) {
          // A field name of its own in an input object: hostile names, valid-looking values.
          const name = rng.pick(['unknownField', 'x'.repeat(60_000), '__proto__', 'constructor', 'toString', 'émoji', 'a b']);
          value = { ...(validValue(typeAt(arg.type, slot.path), fx, hint) as Record<string, Value>), [name]: hostileValue(kind, typeAt(arg.type, slot.path), rng, fx, hint) };
        } else {
          value = hostileValue(kind, typeAt(arg.type, slot.path), rng, fx, { field: hint.field, name: String(slot.path.findLast((s) => typeof s === 'string') ?? slot.arg) });
          const stringLeaf = slot.type !== null && isScalarType(slot.type) && ['String', 'ID'].includes(slot.type.name);
          refuse = credentials === 'admin' && stringLeaf && mustRefuse(value);
        }
        args[slot.arg] = withValueAt(arg.type, context[slot.arg], slot.path, value, fx, hint);
      }
      const extra = slot.arg === null ? { extraArgs: `junk: ${mode === 'literal' ? JSON.stringify(hostileLiteralText(kind)) : '1'}` } : {};
      cases.push({
        field: `${slot.root.operation} ${slot.root.field.name}`,
        argument,
        kind: `${kind}/${mode}`,
        request: postOp(operationFor(slot.root, args, mode, extra)),
        credentials,
        mustRefuse: refuse,
      });
      continue;
    }

    if (category === 'document') {
      const kind = rng.pick(DOCUMENT_KINDS);
      const root = rng.pick(kind === 'aliases50' || kind === 'aliases1000' || kind === 'duplicateFields' ? queries : all);
      const context = validContexts(root, fx)[0]!;
      const call = operationFor(root, context, 'literal')
        .query.replace(/^(query|mutation) \{ /, '')
        .replace(/ \}$/, '');
      const selection = selectionFor(root.field.type);
      const op = root.operation;
      const documents: Record<(typeof DOCUMENT_KINDS)[number], () => BuiltOperation> = {
        aliases50: () => ({ query: `${op} { ${Array.from({ length: 50 }, (_, k) => `a${k}: ${call}`).join(' ')} }` }),
        aliases1000: () => ({ query: `{ ${Array.from({ length: 1000 }, (_, k) => `a${k}: __typename`).join(' ')} }` }),
        depth20: () => ({ query: `{ __type(name: "Query") { fields { type ${'{ ofType '.repeat(20)}{ name }${' }'.repeat(20)} } } }` }),
        depthUnknown: () => ({ query: `{ viewer ${'{ principal '.repeat(rng.pick([20, 200]))}{ id }${' }'.repeat(rng.pick([20, 200]))} }` }),
        duplicateFields: () => ({ query: `${op} { ${Array.from({ length: rng.pick([30, 500]) }, () => call).join(' ')} }` }),
        conflictingFields: () => ({ query: `${op} { ${call} ${root.field.name}(junk: 1) ${selection} }` }),
        allQueryFields: () => ({
          query: `{ ${queries
            .map((q) =>
              operationFor(q, validContexts(q, fx)[0]!, 'literal')
                .query.replace(/^query \{ /, '')
                .replace(/ \}$/, ''),
            )
            .join(' ')} }`,
        }),
        fragmentCycle: () => ({ query: 'query { ...A } fragment A on Query { viewer { permissions } ...B } fragment B on Query { ...A }' }),
        fragmentBomb: () => ({
          query: `query { ...F20 } fragment F0 on Query { scopes { name } } ${Array.from({ length: 20 }, (_, k) => `fragment F${k + 1} on Query { ...F${k} ...F${k} }`).join(' ')}`,
        }),
        hugeOperationName: () => {
          const name = `op${'x'.repeat(rng.pick([300, 60_000, 1_048_576]))}`;
          return { query: `${op} ${name} { ${call} }`, operationName: name };
        },
        unicodeOperationName: () => ({ query: `query Ωmega ${VIEWER}`, operationName: 'Ωmega' }),
        manyDirectives: () => ({ query: `{ viewer ${'@include(if: true) '.repeat(rng.pick([50, 5000]))}{ permissions } }` }),
        manyVariables: () => ({
          query: `query (${Array.from({ length: 2000 }, (_, k) => `$v${k}: String`).join(', ')}) ${VIEWER}`,
          variables: Object.fromEntries(Array.from({ length: 2000 }, (_, k) => [`v${k}`, 'x'])),
        }),
        deepListLiteral: () => {
          const depth = rng.pick([100, 10_000, 100_000]);
          return { query: `{ apiKeys(first: ${'['.repeat(depth)}1${']'.repeat(depth)}) { totalCount } }` };
        },
        manyTokens: () => ({ query: `{ viewer { ${'permissions '.repeat(rng.pick([2000, 50_000]))} } }` }),
        introspection: () => ({ query: '{ __schema { types { name fields { name args { name type { name } } } } } }' }),
        emptyDocument: () => ({ query: rng.pick(['', ' ', '# only a comment', '{}', '{ }', 'query', 'mutation {}']) }),
        twoOperationsNoName: () => ({ query: `query A ${VIEWER} query B { organization { id } }` }),
        subscription: () => ({ query: 'subscription { viewer { permissions } }' }),
        nulInDocument: () => ({ query: `{ viewer\u0000 { permissions } }` }),
        loneSurrogateInDocument: () => ({ query: `{ viewer { permissions } } # \ud800` }),
        hugeStringLiteral: () => ({ query: `{ principals(filter: { nameContains: "${'n'.repeat(rng.pick([60_000, 1_048_576]))}" }) { totalCount } }` }),
        unknownVariableType: () => ({ query: 'query ($v: NoSuchType, $w: [[[[Int!]!]!]!]!) { viewer { permissions } }', variables: { v: 1, w: [[[[1]]]] } }),
        typenameBomb: () => ({ query: `{ ${'__typename '.repeat(rng.pick([1000, 100_000]))} }` }),
      };
      cases.push({ field: `document ${kind}`, argument: '-', kind, request: postOp(documents[kind]()), credentials, mustRefuse: false });
      continue;
    }

    const kind = rng.pick(TRANSPORT_KINDS);
    const viewer = JSON.stringify({ query: VIEWER });
    const withHeaders = (headers: Record<string, string>, body?: string, method = 'POST', path = '/graphql'): RawRequest => ({
      method,
      path,
      headers: { accept, ...auth, ...headers },
      ...(body === undefined ? {} : { body }),
    });
    const json = { 'content-type': 'application/json' };
    const get = (params: Record<string, string>) => withHeaders({}, undefined, 'GET', `/graphql?${new URLSearchParams(params).toString()}`);
    const transports: Record<(typeof TRANSPORT_KINDS)[number], () => RawRequest> = {
      malformedJson: () => withHeaders(json, viewer.slice(0, 1 + rng.int(viewer.length - 2))),
      noContentType: () => withHeaders({}, viewer),
      textPlain: () => withHeaders({ 'content-type': 'text/plain' }, viewer),
      applicationXml: () => withHeaders({ 'content-type': 'application/xml' }, '<query>viewer</query>'),
      applicationGraphql: () => withHeaders({ 'content-type': 'application/graphql' }, VIEWER),
      utf16Charset: () => withHeaders({ 'content-type': 'application/json; charset=utf-16' }, viewer),
      brokenMultipart: () => withHeaders({ 'content-type': 'multipart/form-data; boundary=zz' }, `--zz\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${viewer}`),
      put: () => withHeaders(json, viewer, 'PUT'),
      delete: () => withHeaders(json, viewer, 'DELETE'),
      patch: () => withHeaders(json, viewer, 'PATCH'),
      getMutation: () => get({ query: 'mutation { createApiKey(name: "via get") { apiKey { id } } }' }),
      getMalformedVariables: () => get({ query: VIEWER, variables: rng.pick(['{bad', '{"a":', 'null', '"text"', '[]']) }),
      getVariablesArray: () => get({ query: 'query ($f: Int) { apiKeys(first: $f) { totalCount } }', variables: '[1,2,3]' }),
      getNoQuery: () => withHeaders({}, undefined, 'GET', '/graphql'),
      getHugeQuery: () => get({ query: `{ viewer { ${'permissions '.repeat(rng.pick([5000, 20_000]))} } }` }),
      acceptUnsupported: () => ({
        ...withHeaders(json, viewer),
        headers: { ...auth, 'content-type': 'application/json', accept: rng.pick(['text/xml', 'image/png', 'application/x-nope']) },
      }),
      hugeHeader: () => withHeaders({ ...json, 'user-agent': 'u'.repeat(rng.pick([10_000, 20_000, 80_000])) }, viewer),
      hugeBody: () => withHeaders(json, JSON.stringify({ query: VIEWER, variables: { pad: 'p'.repeat(rng.pick([1_100_000, 3_000_000])) } })),
      emptyBody: () => withHeaders(json, ''),
      batch: () => withHeaders(json, JSON.stringify(Array.from({ length: rng.pick([2, 100]) }, () => ({ query: VIEWER })))),
      queryNotString: () => withHeaders(json, JSON.stringify({ query: rng.pick<unknown>([1, null, {}, [], true]) })),
      variablesNotObject: () =>
        withHeaders(json, JSON.stringify({ query: 'query ($f: Int) { apiKeys(first: $f) { totalCount } }', variables: rng.pick<unknown>([[1], 5, 'x', true]) })),
      operationNameNotString: () => withHeaders(json, JSON.stringify({ query: VIEWER, operationName: rng.pick<unknown>([1, {}, [], true]) })),
      extensionsNotObject: () => withHeaders(json, JSON.stringify({ query: VIEWER, extensions: rng.pick<unknown>([1, 'x', [], true]) })),
      formEncoded: () =>
        withHeaders(
          { 'content-type': 'application/x-www-form-urlencoded' },
          rng.pick([new URLSearchParams({ query: VIEWER }).toString(), 'query=%7B', 'variables=%7B', '%%%', `query=${encodeURIComponent(VIEWER)}&variables=%7Bbad`]),
        ),
      gzipClaimed: () => withHeaders({ ...json, 'content-encoding': 'gzip' }, viewer),
      unknownEncoding: () => withHeaders({ ...json, 'content-encoding': rng.pick(['br', 'deflate', 'x-unknown', 'gzip, gzip']) }, viewer),
      jsonNull: () => withHeaders(json, 'null'),
      jsonNumber: () => withHeaders(json, rng.pick(['1', '"string"', 'true', '[]'])),
      deepJson: () => withHeaders(json, `{"query": ${JSON.stringify(VIEWER)}, "variables": ${'{"a":'.repeat(rng.pick([100, 10_000]))}1${'}'.repeat(rng.pick([100, 10_000]))}}`),
      duplicateJsonKeys: () => withHeaders(json, `{"query": ${JSON.stringify(VIEWER)}, "query": "{ nope }"}`),
    };
    cases.push({ field: `transport ${kind}`, argument: '-', kind, request: transports[kind](), credentials, mustRefuse: false });
  }
  return cases;
}

/** A printable rendering of what a kind means, for arguments a field does not have. */
function hostileLiteralText(kind: ValueKind): string {
  return kind === 'long60k' ? 'l'.repeat(60_000) : kind === 'nul' ? 'a\u0000b' : kind === 'loneHigh' ? '\ud800' : kind;
}

// ---------------------------------------------------------------------------------------------
// Checking an answer.

interface Failure {
  readonly key: string;
  readonly what: string;
  readonly c: FuzzCase;
  readonly answer: RawAnswer;
}

function check(c: FuzzCase, answer: RawAnswer): { what: string; code: string }[] {
  const problems: { what: string; code: string }[] = [];
  if (answer.status === 0) return [{ what: `no answer (${answer.error ?? 'unknown'})`, code: '-' }];
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return [
      {
        what: `HTTP ${answer.status} with a body that is not JSON (${answer.headers.find(([k]) => k === 'content-type')?.[1] ?? 'no content-type'}): ${JSON.stringify(abbreviate(answer.text, 120))}`,
        code: '-',
      },
    ];
  }
  const errors = (body as { errors?: unknown } | null)?.errors;
  const list: unknown[] = Array.isArray(errors) ? errors : [];
  if (errors !== undefined && !Array.isArray(errors)) problems.push({ what: `errors is not a list: ${abbreviate(JSON.stringify(errors), 120)}`, code: '-' });
  const codes: string[] = [];
  for (const error of list) {
    const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
    const message = (error as { message?: unknown } | null)?.message;
    if (typeof code !== 'string') {
      problems.push({ what: `an error without extensions.code: ${abbreviate(String(typeof message === 'string' ? message : JSON.stringify(error)), 160)}`, code: '(none)' });
      continue;
    }
    codes.push(code);
    if (code === 'INTERNAL_SERVER_ERROR') problems.push({ what: `INTERNAL_SERVER_ERROR: ${abbreviate(String(message), 160)}`, code });
    else if (!CODES.has(code)) problems.push({ what: `a code the README's table does not list: ${code} (${abbreviate(String(message), 120)})`, code });
  }
  const status = answer.status;
  if (status >= 500 && !(status === 503 && codes.some((k) => OUTAGE_CODES.has(k)))) problems.push({ what: `HTTP ${status}`, code: codes.join(',') || '-' });
  if (status >= 400 && list.length === 0) problems.push({ what: `HTTP ${status} without a GraphQL error`, code: '-' });
  if (status === 200 && list.length === 0 && (body === null || typeof body !== 'object' || !('data' in body)))
    problems.push({ what: 'HTTP 200 with neither data nor errors', code: '-' });
  // The status is one the table gives one of the codes; 200 and 400 both do for a document that
  // cannot run (400 for graphql-response+json clients) and for a domain refusal.
  const known = codes.filter((k) => CODES.has(k));
  if (known.length > 0 && status < 500) {
    const given = known.flatMap((k) => CODES.get(k) ?? []);
    const clientDocument = known.every((k) => (CODES.get(k) ?? []).every((s) => s === 200 || s === 400));
    if (!given.includes(status) && !((status === 200 || status === 400) && clientDocument)) {
      problems.push({ what: `HTTP ${status} with ${known.join(', ')}, which the README's table answers with ${[...new Set(given)].join('/') || '?'}`, code: known.join(',') });
    }
  }
  if (c.mustRefuse && status === 200 && list.length === 0)
    problems.push({ what: `R29: accepted (no error) a string argument holding NUL, a lone surrogate or more than ${MAX_STRING} characters`, code: '-' });
  return problems;
}

function reproduction(c: FuzzCase): string {
  const r = c.request;
  const headers = Object.entries(r.headers)
    .filter(([k]) => k !== 'x-api-key' && k !== 'x-application-key')
    .map(([k, v]) => `${k}: ${abbreviate(v, 80)}`)
    .join('; ');
  let body = r.body === undefined ? '' : abbreviate(r.body, 700);
  if (r.body !== undefined && (r.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      const parsed = JSON.parse(r.body) as { query?: unknown; variables?: unknown; operationName?: unknown };
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'query' in parsed) {
        body = `query=${abbreviate(JSON.stringify(parsed.query), 600)} variables=${abbreviate(JSON.stringify(parsed.variables ?? null), 300)}${parsed.operationName === undefined ? '' : ` operationName=${abbreviate(JSON.stringify(parsed.operationName), 100)}`}`;
      }
    } catch {
      // A malformed body is shown as it is.
    }
  }
  return `${r.method} ${abbreviate(r.path, 200)} (credentials: ${c.credentials}; ${headers})${body ? `\n      ${body}` : ''}`;
}

async function pool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

function fuzz(store: 'sqlite' | 'postgres'): void {
  let g: TestGateway;
  let fx: Fixtures;
  beforeAll(async () => {
    g = await startGateway({ store, logLevel: 'info' });
    fx = await makeFixtures(g);
  }, 60_000);
  afterAll(async () => {
    await g?.close();
  }, 60_000);

  it(`R28/R29: seeded fuzz over every argument of the schema: no 5xx, every error coded, hostile input refused, a healthy process afterwards (${store})`, async () => {
    const started = Date.now();
    const slots = slotsOf();
    const cases = buildCases(fx, new Rng(SEED), REQUESTS, slots);
    const failures = new Map<string, { first: Failure; count: number }>();
    const statuses = new Map<number, number>();
    const fail = (c: FuzzCase, answer: RawAnswer, what: string, code: string) => {
      const key = `${c.field} | ${c.argument} | ${c.kind} | ${answer.status} | ${code} | ${what.replace(/\d+/g, '#').slice(0, 80)}`;
      const seen = failures.get(key);
      if (seen) seen.count += 1;
      else failures.set(key, { first: { key, what, c, answer }, count: 1 });
    };
    let outages = 0;
    await pool(cases, CONCURRENCY, async (c) => {
      const answer = await send(g.url, c.request, 30_000);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 503) outages += 1;
      if (process.env.KEYLEDGER_HOSTILE_VERBOSE === '1') console.log(`${c.field} / ${c.argument} / ${c.kind} → ${answer.status} ${abbreviate(answer.text, 300)}`);
      for (const { what, code } of check(c, answer)) fail(c, answer, what, code);
    });
    const elapsed = Date.now() - started;

    // A healthy process afterwards.
    const after: FuzzCase = {
      field: 'afterwards',
      argument: '-',
      kind: 'health',
      request: { method: 'GET', path: '/health', headers: {} },
      credentials: 'none',
      mustRefuse: false,
    };
    const health = await send(g.url, { method: 'GET', path: '/health', headers: {} });
    if (health.status !== 200) fail(after, health, `GET /health answered ${health.status}`, '-');
    const ready = await send(g.url, { method: 'GET', path: '/ready', headers: {} });
    if (ready.status !== 200) fail({ ...after, kind: 'ready' }, ready, `GET /ready answered ${ready.status}: ${abbreviate(ready.text, 300)}`, '-');
    const viewerAnswer = await send(g.url, {
      method: 'POST',
      path: '/graphql',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...credentialHeaders(fx) },
      body: JSON.stringify({ query: VIEWER }),
    });
    const viewer = (() => {
      try {
        return JSON.parse(viewerAnswer.text) as { data?: { viewer?: { principal?: { id?: string } } }; errors?: unknown };
      } catch {
        return null;
      }
    })();
    if (viewerAnswer.status !== 200 || viewer?.errors !== undefined || typeof viewer?.data?.viewer?.principal?.id !== 'string') {
      fail({ ...after, kind: 'viewer' }, viewerAnswer, `the viewer query no longer works: ${viewerAnswer.status} ${abbreviate(viewerAnswer.text, 300)}`, '-');
    }
    // A client's mistake is logged at info at most: an error-level line is a server fault.
    for (const line of g.logs) {
      let entry: { level?: number; msg?: string; err?: { message?: string } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if ((entry.level ?? 0) >= 50) {
        const message = `an error-level log line: ${abbreviate(String(entry.msg ?? ''), 100)}${entry.err?.message ? ` (${abbreviate(entry.err.message, 160)})` : ''}`;
        fail({ ...after, kind: 'log' }, { status: 0, headers: [], text: '' }, message, '-');
      }
    }

    const coverage = new Set(cases.filter((c) => c.argument !== '-').map((c) => `${c.field} ${c.argument}`)).size;
    const summary = [...statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, k]) => `${s}×${k}`)
      .join(' ');
    const distinct = [...failures.values()];
    const totalFailing = distinct.reduce((sum, f) => sum + f.count, 0);
    console.log(
      `R28/R29 fuzz (${store}, seed ${SEED}): ${cases.length} requests in ${(elapsed / 1000).toFixed(1)} s over ${coverage} of ${slots.length} argument positions of ${rootFields(schema).length} root fields; ` +
        `statuses ${summary}; ${outages} outage answers (503); ${totalFailing} failing checks, ${distinct.length} distinct`,
    );
    if (distinct.length > 0) {
      // The kinds of failure first (quoted text and numbers folded), then each distinct one with a reproduction.
      const classes = new Map<string, { count: number; positions: number }>();
      for (const { first, count } of distinct) {
        const kind = first.what
          .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
          .replace(/\d+/g, '#')
          .slice(0, 140);
        const c = classes.get(kind) ?? { count: 0, positions: 0 };
        classes.set(kind, { count: c.count + count, positions: c.positions + 1 });
      }
      console.log(
        `kinds of failure:\n${[...classes.entries()]
          .sort(([, a], [, b]) => b.count - a.count)
          .map(([kind, { count, positions }]) => `  ${count}× (${positions} distinct) ${kind}`)
          .join('\n')}`,
      );
      const names: [string, string][] = [
        [fx.apiKey, '<admin API key>'],
        [fx.applicationKey, '<admin application key>'],
        [fx.clientTokenSecret, '<fixture client token>'],
      ];
      const shown = (text: string) => names.reduce((t, [secret, name]) => t.replaceAll(secret, name), text);
      console.log(
        shown(
          distinct
            .map(
              ({ first, count }) =>
                `- [${count}×] ${first.c.field} / ${first.c.argument} / ${first.c.kind} → HTTP ${first.answer.status}: ${first.what}\n      ${reproduction(first.c)}\n      answer: ${abbreviate(first.answer.text, 300)}`,
            )
            .join('\n'),
        ),
      );
    }
    expect(
      distinct.map(({ first }) => `${first.c.field} / ${first.c.argument} / ${first.c.kind} → ${first.answer.status}: ${abbreviate(first.what, 200)}`),
      'distinct fuzz failures',
    ).toEqual([]);
  }, 240_000);
}

describe('R28/R29 fuzz on SQLite', () => {
  fuzz('sqlite');
});
describePg(pg, 'R28/R29 fuzz on PostgreSQL', () => {
  fuzz('postgres');
});
