// Hostile clients for the R27-R29 tests: operations generated from the schema (every root field,
// every argument, recursively through input objects and lists), values as variables or inline
// literals, raw HTTP requests that a typed client cannot send, the README's table of error codes,
// and a small seeded PRNG so that a fuzz run can be repeated exactly.

import { readFileSync } from 'node:fs';
import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  type GraphQLArgument,
  type GraphQLEnumType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedInputType,
  type GraphQLOutputType,
  type GraphQLSchema,
} from 'graphql';
import { CreateApiKeyDocument, CreateApplicationKeyDocument, CreateClientTokenDocument, CreateServiceAccountDocument, InviteUserDocument } from '../gql/graphql.js';
import type { TestGateway } from './gateway.js';

// ---------------------------------------------------------------------------------------------
// A seeded PRNG (mulberry32): the same seed gives the same requests.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  /** One of the keys, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let x = this.next() * total;
    for (const [key, w] of entries) {
      x -= w;
      if (x < 0) return key;
    }
    return entries[entries.length - 1]![0];
  }
}

// ---------------------------------------------------------------------------------------------
// Values: what an argument holds, printable as a GraphQL literal or as JSON for a variable.

/** An enum value (or any bare name) in a literal; its name as a string in a variable. */
export class Bare {
  constructor(readonly name: string) {}
}

/** Literal text as is (for what JSON cannot say, or GraphQL cannot): with its JSON twin for variables. */
export class Raw {
  constructor(
    readonly literal: string,
    readonly json: unknown,
  ) {}
}

export type Value = null | string | number | boolean | Bare | Raw | readonly Value[] | { readonly [key: string]: Value };

function isRecord(value: Value): value is { readonly [key: string]: Value } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Bare) && !(value instanceof Raw);
}

/** The value as a GraphQL literal. Strings use JSON's escapes, which GraphQL shares. */
function literal(value: Value): string {
  if (value === null) return 'null';
  if (value instanceof Bare) return value.name;
  if (value instanceof Raw) return value.literal;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map((v: Value) => literal(v)).join(', ')}]`;
  if (isRecord(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${literal(v)}`)
      .join(', ')}}`;
  }
  throw new Error('unprintable value');
}

/** The value as JSON (for variables). */
function json(value: Value): unknown {
  if (value === null) return null;
  if (value instanceof Bare) return value.name;
  if (value instanceof Raw) return value.json;
  if (Array.isArray(value)) return value.map((v: Value) => json(v));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
  return value;
}

// ---------------------------------------------------------------------------------------------
// The schema: root fields, and every input position of their arguments.

type OperationType = 'query' | 'mutation';

export interface RootField {
  readonly operation: OperationType;
  readonly field: GraphQLField<unknown, unknown>;
}

/** Every field of Query and Mutation, in schema order. */
export function rootFields(schema: GraphQLSchema): RootField[] {
  const out: RootField[] = [];
  for (const [operation, type] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    if (type) for (const field of Object.values(type.getFields())) out.push({ operation, field });
  }
  return out;
}

export type PathStep = string | number;

/**
 * A place a client can put a value: a leaf (scalar or enum) at `path` inside argument `arg`, or
 * `unknownField`: a field name of its own inside the input object at `path`.
 */
export interface InputPosition {
  readonly root: RootField;
  readonly arg: GraphQLArgument;
  readonly path: readonly PathStep[];
  readonly kind: 'leaf' | 'unknownField';
  /** The named type at the position (the leaf's scalar or enum, or the input object). */
  readonly type: GraphQLNamedInputType;
}

export function describePosition(p: InputPosition): string {
  return `${p.root.operation} ${p.root.field.name}(${[p.arg.name, ...p.path].map((s) => (typeof s === 'number' ? `[${s}]` : s)).join('.')}${p.kind === 'unknownField' ? '.<field name>' : ''}: ${p.type.name})`;
}

/** Every input position of every argument of every root field, through input objects and lists. */
export function inputPositions(schema: GraphQLSchema): InputPosition[] {
  const out: InputPosition[] = [];
  for (const root of rootFields(schema)) {
    for (const arg of root.field.args) {
      const walk = (type: GraphQLInputType, path: PathStep[], seen: ReadonlySet<string>): void => {
        if (isNonNullType(type)) return walk(type.ofType, path, seen);
        if (isListType(type)) return walk(type.ofType, [...path, 0], seen);
        if (isInputObjectType(type)) {
          out.push({ root, arg, path, kind: 'unknownField', type });
          if (seen.has(type.name)) return;
          const inner = new Set(seen).add(type.name);
          for (const field of Object.values(type.getFields())) walk(field.type, [...path, field.name], inner);
          return;
        }
        out.push({ root, arg, path, kind: 'leaf', type });
      };
      walk(arg.type, [], new Set());
    }
  }
  return out;
}

/** The input type at `path` inside `type` (lists and non-null unwrapped on the way). */
export function typeAt(type: GraphQLInputType, path: readonly PathStep[]): GraphQLInputType {
  let t: GraphQLInputType = type;
  for (const step of path) {
    if (isNonNullType(t)) t = t.ofType;
    if (typeof step === 'number') {
      if (!isListType(t)) throw new Error(`no list at ${path.join('.')}`);
      t = t.ofType;
    } else {
      if (!isInputObjectType(t)) throw new Error(`no input object at ${path.join('.')}`);
      const field = t.getFields()[step];
      if (!field) throw new Error(`no field ${step}`);
      t = field.type;
    }
  }
  return t;
}

/** Whether an argument or input field must be given (non-null without a default). */
function isRequired(x: { type: GraphQLInputType; defaultValue?: unknown }): boolean {
  return isNonNullType(x.type) && x.defaultValue === undefined;
}

// ---------------------------------------------------------------------------------------------
// Valid values, so that the one hostile value of an operation reaches its resolver.

export interface Fixtures {
  readonly orgId: string;
  readonly adminPrincipalId: string;
  readonly apiKeyId: string;
  readonly applicationKeyId: string;
  readonly clientTokenId: string;
  readonly clientTokenSecret: string;
  readonly serviceAccountId: string;
  readonly userId: string;
  readonly origin: string;
  readonly apiKey: string;
  readonly applicationKey: string;
}

/**
 * Objects for valid ids, made by the org's admin: an API key, a service account with an
 * application key, a user and a client token with an allowed origin. The admin's own principal
 * and keys are never handed out as valid ids, so that no generated operation disables or revokes
 * the credentials the test itself uses.
 */
export async function makeFixtures(g: TestGateway): Promise<Fixtures> {
  const origin = 'https://shop.example.com';
  const must = <T>(value: T | null | undefined, what: string): T => {
    if (value === null || value === undefined) throw new Error(`fixture ${what} was not created`);
    return value;
  };
  const apiKey = must((await g.call(CreateApiKeyDocument, { name: 'fixture api key' })).data?.createApiKey, 'API key');
  const sa = must((await g.call(CreateServiceAccountDocument, { name: 'fixture robot', role: 'STANDARD' })).data?.createServiceAccount.principal, 'service account');
  const appKey = must(
    (await g.call(CreateApplicationKeyDocument, { name: 'fixture app key', ownerId: sa.id, scopes: ['dashboards_read'] })).data?.createApplicationKey,
    'application key',
  );
  const user = must((await g.call(InviteUserDocument, { email: 'fixture@example.test', name: 'Fixture User', role: 'READ_ONLY' })).data?.inviteUser.principal, 'user');
  const token = must((await g.call(CreateClientTokenDocument, { name: 'fixture token', allowedOrigins: [origin] })).data?.createClientToken, 'client token');
  return {
    orgId: g.org.organization.id,
    adminPrincipalId: g.org.admin.id,
    apiKeyId: apiKey.apiKey.id,
    applicationKeyId: appKey.applicationKey.id,
    clientTokenId: token.clientToken.id,
    clientTokenSecret: token.secret,
    serviceAccountId: sa.id,
    userId: user.id,
    origin,
    apiKey: g.admin.apiKey,
    applicationKey: g.admin.applicationKey,
  };
}

/** Where a value goes: the root field, the argument, and the path inside it. */
export interface Hint {
  readonly field: string;
  readonly name: string;
}

let serial = 0;

/** A valid id for an argument, chosen by the names of the field and the argument. */
function validId(fx: Fixtures, hint: Hint): string {
  const name = hint.name.toLowerCase();
  const field = hint.field.toLowerCase();
  if (/principal|owner|createdby/.test(name)) return fx.serviceAccountId;
  if (field.includes('applicationkey')) return fx.applicationKeyId;
  if (field.includes('clienttoken')) return fx.clientTokenId;
  return fx.apiKeyId;
}

/** A valid string for an argument, chosen by its name. */
function validString(fx: Fixtures, hint: Hint): string {
  const name = hint.name.toLowerCase();
  serial += 1;
  if (name.includes('email')) return `hostile-${serial}@example.test`;
  if (name.includes('origin')) return fx.origin;
  if (name.includes('scope')) return 'dashboards_read';
  if (name === 'apikey') return fx.apiKey;
  if (name === 'applicationkey') return fx.applicationKey;
  if (name === 'clienttoken') return fx.clientTokenSecret;
  if (name === 'namecontains') return 'fixture';
  if (name.includes('name')) return `hostile ${serial}`;
  return 'fixture';
}

/** A valid value of `type` (only required input fields are filled in). */
export function validValue(type: GraphQLInputType, fx: Fixtures, hint: Hint): Value {
  if (isNonNullType(type)) return validValue(type.ofType, fx, hint);
  if (isListType(type)) return [validValue(type.ofType, fx, hint)];
  if (isInputObjectType(type)) {
    const out: Record<string, Value> = {};
    for (const field of Object.values(type.getFields())) if (isRequired(field)) out[field.name] = validValue(field.type, fx, { field: hint.field, name: field.name });
    return out;
  }
  if (isEnumType(type)) return new Bare(type.getValues()[0]!.name);
  switch (type.name) {
    case 'Int':
      return 10;
    case 'Float':
      return 1.5;
    case 'Boolean':
      return true;
    case 'ID':
      return validId(fx, hint);
    case 'DateTime':
      return hint.name.toLowerCase().includes('expires') ? new Date(Date.now() + 30 * 86_400_000).toISOString() : '2020-01-01T00:00:00.000Z';
    default:
      return validString(fx, hint);
  }
}

/**
 * `base` (the value of `type`, or a valid one when absent) with `value` at `path`: input objects
 * keep their other fields (required ones filled in), a list step makes a one-item list.
 */
export function withValueAt(type: GraphQLInputType, base: Value | undefined, path: readonly PathStep[], value: Value, fx: Fixtures, hint: Hint): Value {
  if (path.length === 0) return value;
  const t = isNonNullType(type) ? type.ofType : type;
  const [step, ...rest] = path;
  if (typeof step === 'number') {
    if (!isListType(t)) throw new Error('a list step on a non-list type');
    return [withValueAt(t.ofType, undefined, rest, value, fx, hint)];
  }
  if (!isInputObjectType(t)) throw new Error('a field step on a non-object type');
  const current = base !== undefined && isRecord(base) ? base : (validValue(t, fx, hint) as Record<string, Value>);
  const field = t.getFields()[step!]!;
  return { ...current, [step!]: withValueAt(field.type, current[step!], rest, value, fx, { field: hint.field, name: step! }) };
}

/**
 * The argument sets that make a root field do its work: its required arguments, valid. A field
 * with a `usage` enum (verifyCredentials) gets one set per usage, with the credentials that usage
 * takes; a usage this table does not know fails the test, so that a new one is not left untried.
 */
export function validContexts(root: RootField, fx: Fixtures): Record<string, Value>[] {
  const minimal: Record<string, Value> = {};
  for (const arg of root.field.args) if (isRequired(arg)) minimal[arg.name] = validValue(arg.type, fx, { field: root.field.name, name: arg.name });
  const usage = root.field.args.find((a) => a.name === 'usage' && isEnumType(getNamedType(a.type)));
  if (!usage) return [minimal];
  const byUsage: Record<string, Record<string, Value>> = {
    AGENT_INTAKE: { apiKey: fx.apiKey },
    BROWSER_INTAKE: { clientToken: fx.clientTokenSecret, origin: fx.origin },
    API: { apiKey: fx.apiKey, applicationKey: fx.applicationKey, requiredScopes: ['dashboards_read'] },
  };
  return (getNamedType(usage.type) as GraphQLEnumType).getValues().map((v) => {
    const extra = byUsage[v.name];
    if (!extra) throw new Error(`validContexts: no credentials for usage ${v.name}; add them`);
    return { ...minimal, [usage.name]: new Bare(v.name), ...extra };
  });
}

// ---------------------------------------------------------------------------------------------
// Documents.

/** A selection of every field without required arguments, `depth` object levels deep (never `secret`). */
export function selectionFor(type: GraphQLOutputType, depth = 3): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return '';
  if (isUnionType(named)) return '{ __typename }';
  if (!isObjectType(named) && !isInterfaceType(named)) return '';
  const parts: string[] = [];
  if (isInterfaceType(named)) parts.push('__typename');
  for (const field of Object.values(named.getFields())) {
    if (field.name === 'secret' || field.args.some((a) => isRequired(a))) continue;
    const inner = getNamedType(field.type);
    if (isLeafType(inner)) parts.push(field.name);
    else if (depth > 1) parts.push(`${field.name} ${selectionFor(field.type, depth - 1)}`);
  }
  if (parts.length === 0) parts.push('__typename');
  return `{ ${parts.join(' ')} }`;
}

export interface BuiltOperation {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
}

/**
 * One root field with `args`, inline (`literal`) or each argument as a variable of its declared
 * type (`variables`), with its full selection.
 */
export function operationFor(
  root: RootField,
  args: Readonly<Record<string, Value>>,
  mode: 'literal' | 'variables',
  options: { name?: string; alias?: string; extraArgs?: string; directives?: string; selection?: string } = {},
): BuiltOperation {
  const names = Object.keys(args);
  const argTypes = new Map(root.field.args.map((a) => [a.name, String(a.type)]));
  const argText = mode === 'literal' ? names.map((n) => `${n}: ${literal(args[n]!)}`) : names.map((n) => `${n}: $${argTypes.has(n) ? n : `unknown_${n}`}`);
  if (options.extraArgs) argText.push(options.extraArgs);
  const vars = mode === 'variables' ? names.map((n) => `$${argTypes.has(n) ? n : `unknown_${n}`}: ${argTypes.get(n) ?? 'String'}`) : [];
  const header = `${root.operation}${options.name ? ` ${options.name}` : ''}${vars.length > 0 ? `(${vars.join(', ')})` : ''}`;
  const call = `${options.alias ? `${options.alias}: ` : ''}${root.field.name}${argText.length > 0 ? `(${argText.join(', ')})` : ''}${options.directives ? ` ${options.directives}` : ''}`;
  const query = `${header} { ${call} ${options.selection ?? selectionFor(root.field.type)} }`;
  if (mode === 'literal') return { query, ...(options.name ? { operationName: options.name } : {}) };
  const variables = Object.fromEntries(names.map((n) => [argTypes.has(n) ? n : `unknown_${n}`, json(args[n]!)]));
  return { query, variables, ...(options.name ? { operationName: options.name } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP.

export interface RawRequest {
  readonly method: string;
  /** Path and query string, such as `/graphql?query=…`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface RawAnswer {
  /** 0 when no answer came (the error says why). */
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly text: string;
  readonly error?: string;
}

export async function send(base: string, request: RawRequest, timeoutMs = 20_000): Promise<RawAnswer> {
  try {
    const response = await fetch(`${base}${request.path}`, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, headers: [...response.headers.entries()], text };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { status: 0, headers: [], text: '', error: `${error instanceof Error ? error.message : String(error)}${cause}` };
  }
}

/** A JSON POST of an operation to /graphql. */
export function post(op: BuiltOperation, headers: Readonly<Record<string, string>>): RawRequest {
  return {
    method: 'POST',
    path: '/graphql',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: JSON.stringify({ query: op.query, ...(op.variables ? { variables: op.variables } : {}), ...(op.operationName ? { operationName: op.operationName } : {}) }),
  };
}

export function credentialHeaders(fx: { apiKey: string; applicationKey: string }): Record<string, string> {
  return { 'x-api-key': fx.apiKey, 'x-application-key': fx.applicationKey };
}

/** A global id of `typename` wrapping `id` (which need not be a UUID). */
export function globalIdOf(typename: string, id: string): string {
  return encodeGlobalID(typename, id);
}

// ---------------------------------------------------------------------------------------------
// The README's error codes (between <!-- error-codes:start --> and <!-- error-codes:end -->).

/** Each code of the README's table with the HTTP statuses its row names. */
export function readmeErrorCodes(): Map<string, number[]> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('<!-- error-codes:start -->');
  const end = readme.indexOf('<!-- error-codes:end -->');
  if (start < 0 || end < start) throw new Error('README.md has no error-codes table');
  const codes = new Map<string, number[]>();
  for (const line of readme.slice(start, end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const code = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[1] ?? '')?.[1];
    if (code)
      codes.set(
        code,
        [...(cells[2] ?? '').matchAll(/\b[1-5]\d\d\b/g)].map((m) => Number(m[0])),
      );
  }
  if (codes.size === 0) throw new Error('the README error-codes table lists no code');
  return codes;
}

/** Shortens a value for a report: long runs are summarised with their length. */
export function abbreviate(text: string, max = 400): string {
  const squeezed = text.replace(/(.)\1{40,}/gsu, (run: string, ch: string) => `${ch}…×${run.length}`);
  return squeezed.length > max ? `${squeezed.slice(0, max)}…(${squeezed.length} chars)` : squeezed;
}
