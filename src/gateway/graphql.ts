// The GraphQL endpoint: yoga with the Pothos schema, authentication from the CredentialIndex,
// armour against abusive documents, errors mapped to codes (R21) or masked and logged, and an
// audit entry per credentialed request, durable before the response leaves (R22, R25).
//
// Every error leaves through one choke point, `honestResult` (R27, R28): whatever produced it
// (a resolver's refusal, graphql-js, graphql-armor, yoga's request parsing), it carries a code of
// the README's table and its status, its message is bounded and has every secret-shaped string
// redacted, and it keeps no extension but `code`, `field` and `http` (yoga's `originalError`
// used to echo a malformed body whole). Answers that are not GraphQL results (415, 406, Node's
// 431) are given a GraphQL-shaped body with a code in `onResponse` and `answerClientError`.
//
// What does not depend on the request is done once: yoga parses and validates a document once
// (its parser and validation cache, keyed by the document's text), and a query's document is
// compiled once (graphql-jit, `compiledQueries`).

import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import {
  createSourceEventStream,
  execute,
  getLocation,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  locatedError,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import type { ReadDb } from '../../projections/read-models.js';
import type { RequestAudit, RequestAuditor } from '../audit/request-audit.js';
import type { Keyledger } from '../commands/keyledger.js';
import { DomainError, type ErrorCode } from '../domain/errors.js';
import type { Authentication, CredentialLookup } from '../domain/verification.js';
import type { GraphQLContext } from '../graphql/core/context.js';
import type { Feeds } from '../feeds/feeds.js';
import { graphQLErrorOf, httpOf, isDomainErrorCode, isRequestErrorCode, requestError } from '../graphql/core/errors.js';
import { schema } from '../graphql/schema.js';
import type { Logger } from '../platform/logger.js';
import { corsOption, graphiqlOption, renderGraphiQLPage } from './browser.js';
import { requestLoggerOf, tagRequestLogger, withRequestLogger, yogaLogging, yogaRequestLine } from './request-logging.js';
import { holdsSecret, redactSecrets } from '../platform/redact.js';
import { isStoreUnavailable } from '../eventstore/errors.js';

export type ServerContext = {
  req: IncomingMessage;
  res: ServerResponse;
  audit: RequestAudit;
  auth: Authentication;
  now: Date;
  /** The request's credentials authenticated again (subscriptions keep checking them, R26). */
  reauthenticate: (now: Date) => Authentication;
  /** The request's logger (with its request id); absent where a transport has none (WebSocket). */
  log?: Logger;
};

/** The request's logger, from a GraphQL context (which holds the server context's fields). */
function requestLogOf(context: unknown): Logger | undefined {
  return (context as Partial<ServerContext> | undefined)?.log;
}

/** Where graphql-sse's single-connection mode reserves its stream and posts its operations. */
export const SSE_STREAM_PATH = '/graphql/stream';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The default bound of a request body (R29): KEYLEDGER_MAX_BODY_BYTES changes it. */
const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** Names a document gives (operation, aliases, fragments, variables): the operation's goes to the audit log (R29). */
const MAX_DOCUMENT_NAME = 200;
/** Root fields an audit entry records: distinct schema fields, so far fewer in practice. */
const MAX_ROOT_FIELDS = 50;
/** An error message is cut here: a message never echoes much of what a client sent. */
const MAX_MESSAGE_LENGTH = 1000;

/**
 * A caller's X-Request-Id when it is a sane token, else a fresh one; echoed on the response and
 * recorded in the audit log and events, so one shaped like a secret is replaced too (R27).
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) && !holdsSecret(given) ? given : randomUUID();
}

/** The code of an answer that only has a status (yoga's 415 and 406, Node's 431, a status yoga set). */
function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 405:
      return 'METHOD_NOT_ALLOWED';
    case 406:
      return 'NOT_ACCEPTABLE';
    case 408:
      return 'REQUEST_TIMEOUT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 431:
      return 'HEADERS_TOO_LARGE';
    // Too many feeds open at once (R26's caps).
    case 429:
      return 'RATE_LIMITED';
    default:
      return status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST';
  }
}

const STATUS_MESSAGE: Readonly<Partial<Record<ErrorCode, string>>> = {
  METHOD_NOT_ALLOWED: 'GraphQL takes GET (queries) and POST requests',
  NOT_ACCEPTABLE: 'the answer is application/json or application/graphql-response+json: accept one of them',
  PAYLOAD_TOO_LARGE: 'the request body is too large',
  UNSUPPORTED_MEDIA_TYPE: 'send the request as application/json (or a GET with a query string)',
  HEADERS_TOO_LARGE: 'the request headers are too large',
  REQUEST_TIMEOUT: 'the request took too long to arrive',
  BAD_REQUEST: 'the request is not a GraphQL request this server can read',
};

/** The one body of an error answer that is not a GraphQL result. */
function errorBody(code: ErrorCode, message = STATUS_MESSAGE[code] ?? 'the request failed'): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/**
 * Node's own refusals, before any route sees the request (headers too large: 431, a malformed
 * request line: 400), answered with a GraphQL-shaped body and its code (R28); for `clientError`.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = errorBody(codeOfStatus(status));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** `extensions.http` as yoga reads it, when an error has one. */
function httpExtension(value: unknown): { status: number; spec?: true; headers?: Record<string, string> } | null {
  if (typeof value !== 'object' || value === null || !('status' in value) || typeof value.status !== 'number') return null;
  const headers =
    'headers' in value && typeof value.headers === 'object' && value.headers !== null
      ? Object.fromEntries(Object.entries(value.headers).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : null;
  return { status: value.status, ...('spec' in value && value.spec === true ? { spec: true } : {}), ...(headers ? { headers } : {}) };
}

const VARIABLE_ERROR = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)"/;
const ARGUMENT_ERROR = /^Argument "([_A-Za-z][_0-9A-Za-z]*)"/;

/**
 * The code of an error as it reaches the choke point. A resolver's refusal has its own (mapped by
 * maskError); yoga's codes become the README's; what graphql-js reports without a code is a
 * client's mistake when it is about the variables, the operation or an argument (R28), and the
 * server's own fault otherwise.
 */
function codeOf(error: GraphQLError, requestLevel: boolean): ErrorCode {
  const given = error.extensions.code;
  if (typeof given === 'string') {
    // yoga says BAD_REQUEST for a 405 or a 413 too: its status tells which.
    if (isDomainErrorCode(given) || (isRequestErrorCode(given) && given !== 'BAD_REQUEST')) return given;
    const http = httpExtension(error.extensions.http);
    return http ? codeOfStatus(http.status) : 'BAD_REQUEST';
  }
  // Variables that do not coerce, an unknown operation name: the execution never started.
  if (requestLevel && error.path === undefined) return 'BAD_USER_INPUT';
  if (ARGUMENT_ERROR.test(error.message)) return 'BAD_USER_INPUT';
  return 'INTERNAL_SERVER_ERROR';
}

/** The input at fault: the error's own `field`, else the variable (`$name`) or argument graphql-js names. */
function fieldOf(error: GraphQLError, code: ErrorCode): string | undefined {
  const given = error.extensions.field;
  if (typeof given === 'string') return given;
  if (code !== 'BAD_USER_INPUT') return undefined;
  const variable = VARIABLE_ERROR.exec(error.message)?.[1];
  return variable === undefined ? ARGUMENT_ERROR.exec(error.message)?.[1] : `$${variable}`;
}

/**
 * The status an error answers with: a request-level code's own (its headers kept, such as a
 * 405's Allow); a refusal's as the error says (BAD_USER_INPUT is 200 from a resolver, 400 for
 * variables that never ran), else its code's.
 */
function statusOf(error: GraphQLError, code: ErrorCode): { status: number; spec?: true; headers?: Record<string, string> } {
  const given = httpExtension(error.extensions.http);
  if (isRequestErrorCode(code)) return { ...httpOf(code), ...(given?.headers ? { headers: given.headers } : {}) };
  return given ?? httpOf(code);
}

function bounded(message: string): string {
  const redacted = redactSecrets(message);
  return redacted.length > MAX_MESSAGE_LENGTH ? `${redacted.slice(0, MAX_MESSAGE_LENGTH)}…` : redacted;
}

/** One error, as it may leave: see the header. */
function honestError(error: GraphQLError, requestLevel: boolean, logger: Logger): GraphQLError {
  const code = codeOf(error, requestLevel);
  const uncoded = typeof error.extensions.code !== 'string';
  if (uncoded && code === 'INTERNAL_SERVER_ERROR') logger.error({ err: error, path: error.path }, 'unexpected error in a GraphQL request');
  const field = fieldOf(error, code);
  const message = uncoded && code === 'INTERNAL_SERVER_ERROR' ? 'Unexpected error.' : bounded(error.message);
  return new GraphQLError(message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path?.map((segment) => (typeof segment === 'string' ? bounded(segment) : segment)) ?? null,
    originalError: error.originalError ?? null,
    extensions: { code, ...(field === undefined ? {} : { field: bounded(field) }), http: statusOf(error, code) },
  });
}

type Result = ExecutionResult & { stringify?: (result: ExecutionResult) => string };

/** A result with its errors made honest, and their codes on the request's audit record (R22). */
function honestResult(result: Result, audit: RequestAudit, logger: Logger): Result {
  if (!result.errors || result.errors.length === 0) return result;
  // No data: the request was refused before execution (or the execution could not start).
  const requestLevel = result.data === undefined;
  const errors = result.errors.map((error) => honestError(error, requestLevel, logger));
  audit.errors(errors.map((error) => String(error.extensions.code)));
  return { ...result, errors };
}

/**
 * A stream with each value mapped, and an error of the source turned into a last value. Not an
 * async generator: `return()` reaches the source at once, even while a `next()` waits for it, so
 * a client that goes away ends its feed at once (an async generator would queue the return
 * behind the pending `next()` until the feed's next event).
 */
function mapStream<A, B>(source: AsyncIterable<A>, map: (value: A) => B | Promise<B>, lastOf?: (error: unknown) => B): AsyncIterableIterator<B> {
  const iterator = source[Symbol.asyncIterator]();
  let done = false;
  const finish = async (): Promise<IteratorResult<B>> => {
    if (!done) {
      done = true;
      await iterator.return?.();
    }
    return { done: true, value: undefined };
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (done) return { done: true, value: undefined };
      try {
        const step = await iterator.next();
        if (step.done) {
          done = true;
          return { done: true, value: undefined };
        }
        return { done: false, value: await map(step.value) };
      } catch (error) {
        if (!lastOf) throw error;
        done = true;
        return { done: false, value: lastOf(error) };
      }
    },
    return: finish,
    async throw(error?: unknown) {
      await finish();
      throw error;
    },
  };
}

function honestStream(results: AsyncIterable<Result>, audit: RequestAudit, logger: Logger): AsyncIterable<Result> {
  return mapStream(results, (result) => honestResult(result, audit, logger));
}

/** A result as it may leave (see the header), for transports that do not go through yoga's result processing (WebSocket). */
export function honestResultOf(result: ExecutionResult, audit: RequestAudit, logger: Logger): ExecutionResult {
  return honestResult(result, audit, logger);
}

function isAsyncIterableValue(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/**
 * Subscriptions (R26): each event is executed with a context of its own, so that the
 * DataLoaders (cached per context) read what the read models hold now, not what they held at the
 * first event; and a feed that ends with an error (UNAUTHENTICATED, SLOW_CONSUMER...) sends it
 * as its last payload, with its code, whatever the transport.
 */
async function subscribeEventByEvent(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  // Refused at its start: `data: null` with the errors, which graphql-sse's single-connection
  // mode needs to tell a result from arguments.
  if (!isAsyncIterableValue(stream)) return { data: null, ...stream };
  const context = args.contextValue as GraphQLContext;
  return mapStream(
    stream,
    (payload) => execute({ ...args, rootValue: payload, contextValue: { ...context } }),
    (error): ExecutionResult => ({
      errors: [
        error instanceof GraphQLError ? error : error instanceof DomainError ? graphQLErrorOf(error) : new GraphQLError('the feed failed', { originalError: error as Error }),
      ],
    }),
  );
}

/** The code an error of a subscription's start carries, before the errors are masked. */
function startCodeOf(error: GraphQLError): string {
  if (typeof error.extensions.code === 'string') return error.extensions.code;
  const original = error.originalError;
  return original instanceof DomainError ? original.code : isStoreUnavailable(original) ? 'STORE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR';
}

function isAsyncIterable(value: object): value is AsyncIterable<unknown> {
  return Symbol.asyncIterator in value;
}

/**
 * R27, R29: a name a document gives (an operation, an alias, a fragment, a variable) is at most
 * MAX_DOCUMENT_NAME characters and never shaped like a secret. Aliases come back as the keys of
 * the response, and the operation's name goes to the audit log: refused here, neither can carry
 * a secret or an oversized name; the audit entry records the refusal without the name.
 */
const boundedNames: ValidationRule = (context) => ({
  Name(node, _key, parent) {
    if (node.value.length <= MAX_DOCUMENT_NAME && !holdsSecret(node.value)) return;
    const operation = parent !== undefined && 'kind' in parent && parent.kind === Kind.OPERATION_DEFINITION;
    const field = operation ? 'operationName' : 'query';
    context.reportError(
      new GraphQLError(
        `a name in the document (${field === 'operationName' ? 'the operation name' : 'an alias, a fragment, a variable or a field'}) must be at most ${MAX_DOCUMENT_NAME} characters and cannot look like a secret`,
        {
          nodes: node,
          extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400, spec: true } },
        },
      ),
    );
  },
});

/** graphql-armor's refusals (tokens, directives, aliases, cost, depth), as QUERY_TOO_COMPLEX (R28). */
function tooComplex(_context: unknown, error: GraphQLError): never {
  throw requestError('QUERY_TOO_COMPLEX', error.message.replace(/^Syntax Error: /, ''));
}

/**
 * The choke point of errors (see the header), the bounds of the document's names, and what a
 * request parser throws that is not a GraphQL error (malformed `variables` on a GET): BAD_REQUEST,
 * not INTERNAL_SERVER_ERROR (R28).
 */
function honestErrorsPlugin(logger: Logger): Plugin<GraphQLContext & ServerContext, ServerContext> {
  // The requests whose document parsed: yoga says it is done processing them (a document that
  // does not parse ends the processing with an error).
  const parsed = new WeakSet<object>();
  return {
    onValidate({ addValidationRule, context }) {
      parsed.add(context);
      addValidationRule(boundedNames);
    },
    onRequestParse({ requestParser, setRequestParser, serverContext }) {
      const log = serverContext.log;
      yogaRequestLine(log, 'parsing');
      if (!requestParser) return;
      const parse = requestParser;
      setRequestParser(async (request) => {
        try {
          return await parse(request);
        } catch (error) {
          // yoga logs what it masks of it later, outside the request: the error says which request.
          if (error instanceof GraphQLError) throw tagRequestLogger(error, log);
          throw tagRequestLogger(requestError('BAD_REQUEST', 'the request could not be read: the body, variables and extensions must be JSON'), log);
        }
      });
    },
    onParams({ context, paramsHandler, setParamsHandler }) {
      const log = requestLogOf(context);
      yogaRequestLine(log, 'processing');
      // yoga parses and validates at once (and masks and logs a document it refuses): with the request's logger.
      if (log !== undefined) setParamsHandler((payload) => withRequestLogger(log, () => paramsHandler(payload)));
    },
    onExecutionResult({ context }) {
      if (parsed.has(context)) yogaRequestLine(requestLogOf(context), 'processed');
    },
    onResultProcess(payload) {
      const { result, serverContext } = payload;
      const audit = serverContext.audit;
      const log = serverContext.log ?? logger;
      if (isAsyncIterable(result)) payload.setResult(honestStream(result, audit, log));
      else if (Array.isArray(result)) payload.setResult(result.map((item) => honestResult(item, audit, log)));
      else payload.setResult(honestResult(result, audit, log));
    },
  };
}

/** The errors of a result (not a stream) are its request's: the error mask and yoga log them with its logger. */
function tagErrors(result: unknown, log: Logger | undefined): void {
  if (log === undefined || isAsyncIterableValue(result)) return;
  for (const error of (result as ExecutionResult).errors ?? []) tagRequestLogger(error, log);
}

/** Records what the operation was and how it ended, and writes the entry before the response goes. */
function recordOperation(args: ExecutionArgs): void {
  const audit = (args.contextValue as GraphQLContext).audit;
  const operation = getOperationAST(args.document, args.operationName);
  if (operation) {
    // Bounded (R29): the document's names were checked (boundedNames); root fields are the
    // schema's, each recorded once.
    audit.operationType = operation.operation;
    audit.operationName = operation.name?.value.slice(0, MAX_DOCUMENT_NAME) ?? null;
    audit.rootFields = [...new Set(operation.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [s.name.value.slice(0, MAX_DOCUMENT_NAME)] : [])))].slice(
      0,
      MAX_ROOT_FIELDS,
    );
  }
}

function auditPlugin(auditor: RequestAuditor): Plugin<GraphQLContext & ServerContext, ServerContext> {
  return {
    onExecute({ args }) {
      recordOperation(args);
      // How it ended is recorded from the errors as they leave (honestResult), whatever the phase.
      // The error mask runs next (and yoga logs what it masked): the errors say which request.
      const log = requestLogOf(args.contextValue);
      return log === undefined ? undefined : { onExecuteDone: ({ result }) => tagErrors(result, log) };
    },
    onSubscribe({ args, setSubscribeFn }) {
      recordOperation(args);
      setSubscribeFn(subscribeEventByEvent);
      const audit = (args.contextValue as GraphQLContext).audit;
      const log = requestLogOf(args.contextValue);
      // A subscription refused at its start: its outcome, also where the result does not pass
      // through honestResult (graphql-sse's single-connection mode, WebSocket).
      return {
        onSubscribeResult({ result }) {
          tagErrors(result, log);
          if (!isAsyncIterableValue(result) && result.errors) audit.errors(result.errors.map(startCodeOf));
          return log === undefined ? undefined : { onNext: ({ result: payload }) => tagErrors(payload, log) };
        },
        onSubscribeError({ error }) {
          if (typeof error === 'object' && error !== null) tagRequestLogger(error, log);
        },
      };
    },
    async onResponse(payload) {
      const { serverContext, response, fetchAPI } = payload;
      const audit = serverContext.audit;
      if (audit.operationType === 'http') audit.operationType = 'graphql';
      // An answer that is not a GraphQL result (415, 406: yoga answers them with no body) gets one, with its code (R28).
      // An event stream that answers with an error status already holds the GraphQL error (a feed refused at its start).
      const type = response.headers.get('content-type') ?? '';
      if (response.status >= 400 && (response.body === null || !(type.includes('json') || type.includes('text/event-stream')))) {
        const headers = new fetchAPI.Headers(response.headers);
        headers.set('content-type', 'application/json; charset=utf-8');
        headers.delete('content-length');
        payload.setResponse(new fetchAPI.Response(errorBody(codeOfStatus(response.status)), { status: response.status, headers }));
      }
      if (response.status >= 400) audit.fail(codeOfStatus(response.status));
      if ((await auditor.settle(audit, 'graphql')) !== 'UNAVAILABLE') return;
      payload.setResponse(
        new fetchAPI.Response(
          JSON.stringify({ errors: [{ message: 'the audit log is unavailable; the request was not acknowledged', extensions: { code: 'AUDIT_UNAVAILABLE' } }] }),
          {
            status: 503,
            headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': audit.requestId },
          },
        ),
      );
    },
  };
}

interface CompiledOperation {
  readonly operation: OperationDefinitionNode;
  readonly run: (root: unknown, context: unknown, variables: ExecutionArgs['variableValues']) => Promise<ExecutionResult> | ExecutionResult;
}

/** The field nodes of a document by where they start ("line:column"), as graphql-jit's errors locate them. */
function fieldNodesByLocation(document: DocumentNode): Map<string, FieldNode> {
  const byLocation = new Map<string, FieldNode>();
  visit(document, {
    Field(node) {
      if (!node.loc) return;
      const { line, column } = getLocation(node.loc.source, node.loc.start);
      byLocation.set(`${line}:${column}`, node);
    },
  });
  return byLocation;
}

/**
 * A compiled query's errors as graphql-js makes them: located on their field nodes (so with the
 * same locations), carrying what was thrown as their original error (and so its extensions).
 */
function locatedAsGraphQL(result: ExecutionResult, document: DocumentNode): ExecutionResult {
  if (!result.errors || result.errors.length === 0) return result;
  const fields = fieldNodesByLocation(document);
  const errors = result.errors.map((error) => {
    const nodes = (error.locations ?? []).flatMap((at) => fields.get(`${at.line}:${at.column}`) ?? []);
    return locatedError(error.originalError ?? new Error(error.message), nodes.length > 0 ? nodes : undefined, error.path);
  });
  // In the executor's order: errors, then data.
  return { errors, data: result.data };
}

/**
 * Queries run compiled (graphql-jit): each document's operation compiled once, on its first
 * execution. What the compiled code would report differently from yoga's executor goes to that
 * executor instead: variables that do not coerce (their errors, statuses and audit entry are the
 * executor's), and a document the compiler does not take. Mutations and subscriptions are not
 * compiled.
 */
function compiledQueries(): Plugin<GraphQLContext & ServerContext, ServerContext> {
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledOperation | null>>();
  const compiledOf = (args: ExecutionArgs): CompiledOperation | null => {
    let byName = compiled.get(args.document);
    if (!byName) compiled.set(args.document, (byName = new Map()));
    const name = args.operationName ?? '';
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = null;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation === 'query') {
        try {
          const query = compileQuery(args.schema, args.document, args.operationName ?? undefined);
          if (isCompiledQuery(query)) entry = { operation, run: (root, context, variables) => query.query(root, context, variables) };
        } catch {
          // Not compiled: the executor runs it.
        }
      }
      byName.set(name, entry);
    }
    return entry;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const entry = compiledOf(args);
      if (!entry) return;
      const executor = executeFn;
      setExecuteFn((execution: ExecutionArgs) => {
        const definitions = entry.operation.variableDefinitions ?? [];
        if (definitions.length > 0 && getVariableValues(execution.schema, definitions, execution.variableValues ?? {}, { maxErrors: 50 }).errors) return executor(execution);
        const result = entry.run(execution.rootValue, execution.contextValue, execution.variableValues);
        const settled = (done: ExecutionResult) => ('data' in done && done.data !== undefined ? locatedAsGraphQL(done, execution.document) : executor(execution));
        return result instanceof Promise ? result.then(settled) : settled(result);
      });
    },
  };
}

export function createGraphQLHandler(options: {
  keyledger: Keyledger;
  readDb: ReadDb;
  credentials: CredentialLookup;
  auditor: RequestAuditor;
  feeds: Feeds;
  logger: Logger;
  /** The bound of a request body in bytes (R29); over it, 413. Default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Serve GraphiQL to a browser (default true). */
  graphiql?: boolean;
  /** Origins allowed cross-origin access (CORS); default none. */
  corsOrigins?: readonly string[];
}): YogaServerInstance<ServerContext, GraphQLContext> {
  const { keyledger, readDb, credentials, auditor, feeds, logger } = options;
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL from the installed package, with its security headers, unless switched off; CORS
    // from the allow-list only; yoga's lines with a message, the request id and the right level.
    graphiql: graphiqlOption(options.graphiql ?? true),
    renderGraphiQL: renderGraphiQLPage,
    cors: corsOption(options.corsOrigins ?? []),
    logging: yogaLogging(logger),
    // R29: a body over the bound is refused (413) before it is read whole, and never echoed.
    maxRequestBodySize: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    // No file uploads: a multipart body is 415 like any other type GraphQL does not take here.
    multipart: false,
    plugins: [
      EnvelopArmorPlugin({
        maxTokens: { onReject: [tooComplex] },
        maxDirectives: { onReject: [tooComplex] },
        maxDepth: { n: 12, onReject: [tooComplex] },
        maxAliases: { n: 20, onReject: [tooComplex] },
        costLimit: { maxCost: 20_000, onReject: [tooComplex] },
      }),
      honestErrorsPlugin(logger),
      auditPlugin(auditor),
      compiledQueries(),
      // graphql-sse's single-connection mode (its distinct-connections mode is yoga's own SSE on /graphql).
      useGraphQLSSE({ endpoint: SSE_STREAM_PATH }),
    ],
    // Authentication happened before yoga (so that even a malformed document is attributed).
    context: ({ audit, auth, now, reauthenticate }) => ({ requestId: audit.requestId, now, keyledger, readDb, credentials, audit, auth, feeds, reauthenticate }),
    maskedErrors: {
      maskError: (error, message) => {
        const log = requestLoggerOf(error) ?? logger;
        const graphQLError = error instanceof GraphQLError ? error : null;
        const original = graphQLError?.originalError ?? error;
        if (original instanceof DomainError) {
          const mapped = graphQLErrorOf(original);
          return new GraphQLError(mapped.message, { nodes: graphQLError?.nodes ?? null, path: graphQLError?.path ?? null, originalError: original, extensions: mapped.extensions });
        }
        if (graphQLError && (!graphQLError.originalError || graphQLError.originalError instanceof GraphQLError)) return graphQLError;
        // The store away (R30): 503 STORE_UNAVAILABLE, not a fault of the server's (yoga logs it as a warning).
        if (isStoreUnavailable(original)) {
          return new GraphQLError('the store is unavailable; retry', {
            nodes: graphQLError?.nodes ?? null,
            path: graphQLError?.path ?? null,
            extensions: { code: 'STORE_UNAVAILABLE', http: httpOf('STORE_UNAVAILABLE') },
          });
        }
        log.error({ err: original, path: graphQLError?.path }, 'unexpected error in a GraphQL request');
        return new GraphQLError(message, { nodes: graphQLError?.nodes ?? null, path: graphQLError?.path ?? null, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
  });
}
