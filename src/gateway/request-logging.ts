// What the gateway logs about requests: every line logged while a request is handled carries its
// request id, yoga's own lines get a message and the right level (a client's refusal is info, a
// server fault error with its stack), and one access line per request says how it ended.
//
// A request's logger (a pino child with its request id) is handed down: to the routes, and to
// yoga in the request's server context (`log`), where the GraphQL handler's plugins find it. No
// AsyncLocalStorage: it would put promise hooks on every promise of the process. The loggers
// that are not handed one (yoga's own, the error mask's) find it in three ways:
// - during the synchronous part of a request's handling, and of yoga's processing of its
//   document (`withRequestLogger`): GraphiQL's line, a refused document's;
// - by the error they log, tagged with its request's logger where it was thrown
//   (`tagRequestLogger`);
// - yoga's per-request debug lines (parsing, processing) are logged by the GraphQL handler's
//   plugins with the request's logger, and dropped when yoga logs them without one.

import { inspect } from 'node:util';
import { GraphQLError } from 'graphql';
import type { YogaLogger } from 'graphql-yoga';
import { DomainError } from '../domain/errors.js';
import { isStoreUnavailable } from '../eventstore/errors.js';
import type { Logger } from '../platform/logger.js';
import type { AuditSettlement, RequestAudit } from '../audit/request-audit.js';
import type { RequestOutcome } from '../domain/requests.js';

/** The logger of the request whose handling runs synchronously now, if any. */
let active: Logger | undefined;

/** Runs (the synchronous part of) the handling of one request with its logger as the active one. */
export function withRequestLogger<T>(logger: Logger, work: () => T): T {
  const previous = active;
  active = logger;
  try {
    return work();
  } finally {
    active = previous;
  }
}

/** Errors thrown in a request's handling, by the request's logger: found again where they are logged. */
const errorLoggers = new WeakMap<object, Logger>();

/** Says which request an error belongs to, for the lines that log it later (yoga's, the mask's). */
export function tagRequestLogger<E extends object>(error: E, logger: Logger | undefined): E {
  if (logger !== undefined) errorLoggers.set(error, logger);
  return error;
}

/** The logger of the request an error (or, for a GraphQL error, what it wraps) was tagged with. */
export function requestLoggerOf(error: unknown): Logger | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const logger = errorLoggers.get(current);
    if (logger !== undefined) return logger;
    current = current instanceof GraphQLError ? current.originalError : undefined;
  }
  return undefined;
}

/**
 * A logger that logs through the active request's logger (so with its request id) inside a
 * request's synchronous handling, and through `base` outside one.
 */
export function requestScoped(base: Logger): Logger {
  return new Proxy(base, {
    get(target, property) {
      const current = active ?? target;
      const value: unknown = Reflect.get(current, property, current);
      return typeof value === 'function' ? value.bind(current) : value;
    },
  });
}

/**
 * yoga's debug lines of each request, which it logs without the request: the GraphQL handler's
 * plugins log them with it (see `yogaRequestLine`), and yoga's own are dropped. "Request aborted"
 * is dropped too: the access line says `aborted`.
 */
const YOGA_REQUEST_LINES = {
  parsing: 'Parsing request to extract GraphQL parameters',
  processing: 'Processing GraphQL Parameters',
  processed: 'Processing GraphQL Parameters done.',
} as const;
const DROPPED = new Set<unknown>([...Object.values(YOGA_REQUEST_LINES), 'Request aborted']);

/** One of yoga's per-request debug lines, with the request's logger. */
export function yogaRequestLine(logger: Logger | undefined, line: keyof typeof YOGA_REQUEST_LINES): void {
  if (logger?.isLevelEnabled('debug')) logger.debug(`graphql: ${YOGA_REQUEST_LINES[line]}`);
}

/** Codes that name the server's own trouble rather than the client's mistake. */
const SERVER_CODES = new Set(['INTERNAL_SERVER_ERROR', 'AUDIT_UNAVAILABLE']);
/** Codes of a store that is busy or away: retryable, worth a warning, not an alert. */
const UNAVAILABLE_CODES = new Set(['STORE_UNAVAILABLE']);
const MAX_REASON = 500;

/** The error at the bottom of a chain of GraphQL errors: what a resolver threw, or the GraphQL error itself. */
function rootCause(error: Error): Error {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? value : inspect(value, { depth: 3, breakLength: Infinity });
}

/** yoga's error lines: it logs every error its error mask replaced, and a few of its own. */
function logYogaError(log: Logger, args: readonly unknown[]): void {
  const errors = args.filter((arg): arg is Error => arg instanceof Error);
  if (errors.length === 0) {
    log.error(`graphql: ${args.map(describe).join(' ')}`);
    return;
  }
  for (const error of errors) {
    const cause = rootCause(error);
    const path = error instanceof GraphQLError && error.path ? error.path.join('.') : undefined;
    const code: string | undefined =
      cause instanceof DomainError
        ? cause.code
        : cause instanceof GraphQLError
          ? typeof cause.extensions.code === 'string'
            ? cause.extensions.code
            : 'GRAPHQL_ERROR'
          : isStoreUnavailable(cause)
            ? 'STORE_UNAVAILABLE'
            : undefined;
    if (code === undefined || SERVER_CODES.has(code)) {
      log.error({ err: cause, ...(path === undefined ? {} : { path }), ...(code === undefined ? {} : { code }) }, 'unexpected error in a GraphQL request');
    } else {
      const fields = { code, ...(path === undefined ? {} : { path }), reason: cause.message.slice(0, MAX_REASON) };
      if (UNAVAILABLE_CODES.has(code)) log.warn(fields, `GraphQL request failed: ${code}`);
      else log.info(fields, `GraphQL request refused: ${code}`);
    }
  }
}

/** yoga's `logging` option: every line with a message, the request id inside a request, and the right level. */
export function yogaLogging(base: Logger): YogaLogger {
  const current = () => active ?? base;
  return {
    debug: (...args: unknown[]) => {
      if (args.length === 1 && DROPPED.has(args[0])) return;
      const log = current();
      if (log.isLevelEnabled('debug')) log.debug(`graphql: ${args.map(describe).join(' ')}`);
    },
    info: (...args: unknown[]) => current().info(`graphql: ${args.map(describe).join(' ')}`),
    warn: (...args: unknown[]) => current().warn(`graphql: ${args.map(describe).join(' ')}`),
    error: (...args: unknown[]) => logYogaError(args.map(requestLoggerOf).find((log) => log !== undefined) ?? current(), args),
  };
}

/** The routes the gateway serves, as logs and metrics name them (any other path is `other`). */
type Route = '/graphql' | '/api/v1/validate' | '/health' | '/ready' | '/metrics' | 'other';

function routeOf(path: string): Route {
  switch (path) {
    case '/graphql':
    case '/api/v1/validate':
    case '/health':
    case '/ready':
    case '/metrics':
      return path;
    default:
      return 'other';
  }
}

/** What a request's audit record knows, for its access line (null for the routes that keep none). */
type AccessAudit = Pick<RequestAudit, 'operationType' | 'operationName' | 'outcome' | 'errorCode' | 'settlement' | 'recognized'>;

export interface AccessLine {
  readonly method: string;
  readonly route: Route;
  /** The path, for a route keyledger does not serve (truncated). */
  readonly path?: string;
  readonly operationType: string;
  readonly operationName: string | null;
  readonly orgId: string | null;
  readonly principalId: string | null;
  readonly apiKeyId: string | null;
  readonly applicationKeyId: string | null;
  readonly clientTokenId: string | null;
  readonly outcome: RequestOutcome;
  readonly code: string | null;
  readonly status: number;
  readonly durationMs: number;
  readonly audit?: AuditSettlement;
  readonly aborted?: true;
}

const MAX_PATH = 200;
const MAX_OPERATION_NAME = 200;

/**
 * How a request ended: its audit record's outcome and code where it keeps one; otherwise, and
 * for an answer the record did not see coming (a 4xx or 5xx from the HTTP layer), from the status.
 */
export function accessLine(request: { method: string; path: string; status: number; durationMs: number; aborted: boolean }, audit: AccessAudit | null): AccessLine {
  const { status } = request;
  const route = routeOf(request.path);
  let outcome: RequestOutcome = audit?.outcome ?? 'ALLOWED';
  let code = audit?.errorCode ?? null;
  if (audit?.settlement === 'UNAVAILABLE') {
    outcome = 'FAILED';
    code = 'AUDIT_UNAVAILABLE';
  } else if (outcome === 'ALLOWED' && status >= 400) {
    outcome = status === 401 || status === 403 ? 'DENIED' : 'FAILED';
    code = `HTTP_${status}`;
  }
  const who = audit?.recognized ?? null;
  return {
    method: request.method,
    route,
    ...(route === 'other' ? { path: request.path.slice(0, MAX_PATH) } : {}),
    operationType: audit?.operationType ?? 'http',
    operationName: audit?.operationName?.slice(0, MAX_OPERATION_NAME) ?? null,
    orgId: who?.orgId ?? null,
    principalId: who?.principalId ?? null,
    apiKeyId: who?.apiKeyId ?? null,
    applicationKeyId: who?.applicationKeyId ?? null,
    clientTokenId: who?.clientTokenId ?? null,
    outcome,
    code,
    status,
    durationMs: Math.round(request.durationMs * 1000) / 1000,
    ...(audit?.settlement ? { audit: audit.settlement } : {}),
    ...(request.aborted ? { aborted: true } : {}),
  };
}
