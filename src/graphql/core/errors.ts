// From refusals to GraphQL errors: every refusal is a DomainError carrying a code of the spec
// (R21), mapped here to `extensions.code` and an HTTP status: 401 for missing or unknown
// credentials, 403 for a known credential lacking a permission (or an API key in a browser),
// 200 for the other refusals, as GraphQL clients expect. The codes of requests refused before
// any resolver ran (a malformed request or document, R28) get theirs here too (spec section 7).

import { GraphQLError } from 'graphql';
import { DomainError, type DomainErrorCode, type ErrorCode, type RequestErrorCode } from '../../domain/errors.js';
import type { Fault } from '../../domain/verification.js';

const HTTP_STATUS: Readonly<Record<DomainErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  API_KEY_IN_BROWSER: 403,
  NOT_FOUND: 200,
  BAD_USER_INPUT: 200,
  NAME_TAKEN: 200,
  EMAIL_TAKEN: 200,
  API_KEY_LIMIT: 200,
  LAST_API_KEY: 200,
  BLANK_NAME: 200,
  INVALID_SCOPE: 200,
  ALREADY_REVOKED: 200,
  ALREADY_ROTATED: 200,
  PRINCIPAL_DISABLED: 200,
  CONFLICT: 200,
  SLOW_CONSUMER: 200,
  RATE_LIMITED: 429,
};

/**
 * A request-level code's status. `spec`: the status is for clients that accept
 * application/graphql-response+json; one that accepts only application/json gets 200 with the
 * error, as the GraphQL-over-HTTP spec says of a document that cannot run.
 */
const REQUEST_ERROR_HTTP: Readonly<Record<RequestErrorCode, { readonly status: number; readonly spec: boolean }>> = {
  BAD_REQUEST: { status: 400, spec: false },
  GRAPHQL_PARSE_FAILED: { status: 400, spec: true },
  GRAPHQL_VALIDATION_FAILED: { status: 400, spec: true },
  QUERY_TOO_COMPLEX: { status: 400, spec: true },
  METHOD_NOT_ALLOWED: { status: 405, spec: false },
  NOT_ACCEPTABLE: { status: 406, spec: false },
  PAYLOAD_TOO_LARGE: { status: 413, spec: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, spec: false },
  HEADERS_TOO_LARGE: { status: 431, spec: false },
  REQUEST_TIMEOUT: { status: 408, spec: false },
  AUDIT_UNAVAILABLE: { status: 503, spec: false },
  STORE_UNAVAILABLE: { status: 503, spec: false },
  INTERNAL_SERVER_ERROR: { status: 500, spec: false },
};

export function isDomainErrorCode(code: string): code is DomainErrorCode {
  return Object.hasOwn(HTTP_STATUS, code);
}

export function isRequestErrorCode(code: string): code is RequestErrorCode {
  return Object.hasOwn(REQUEST_ERROR_HTTP, code);
}

/** The `extensions.http` of a code: its status (and whether it is the spec's, see REQUEST_ERROR_HTTP). */
/**
 * The challenge every 401 carries (spec section 7, RFC 9110): keyledger's own scheme, since no
 * registered one names two headers, with the headers that carry the keys.
 */
const WWW_AUTHENTICATE = 'KeyledgerKeys realm="keyledger", header="X-API-Key, X-Application-Key"';

export function httpOf(code: ErrorCode): { status: number; spec?: true; headers?: Record<string, string> } {
  if (code === 'UNAUTHENTICATED') return { status: HTTP_STATUS[code], headers: { 'WWW-Authenticate': WWW_AUTHENTICATE } };
  if (isDomainErrorCode(code)) return { status: HTTP_STATUS[code] };
  const { status, spec } = REQUEST_ERROR_HTTP[code];
  return spec ? { status, spec } : { status };
}

export function graphQLErrorOf(error: DomainError): GraphQLError {
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: {
      code: error.code,
      ...(error.field === undefined ? {} : { field: error.field }),
      http: httpOf(error.code),
    },
  });
}

/** A request refused before any resolver ran, with its code and status. */
export function requestError(code: RequestErrorCode, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: httpOf(code) } });
}

const CLIENT_TOKENS = 'client tokens authenticate browser intake only, never the API (R11)';
const HEADER = { API_KEY: 'X-API-Key', APPLICATION_KEY: 'X-Application-Key', CLIENT_TOKEN: 'X-API-Key' } as const;
const ARTICLE = { API_KEY: 'an API key', APPLICATION_KEY: 'an application key', CLIENT_TOKEN: 'a client token' } as const;

/**
 * Why the API refuses credentials, as a GraphQL client is told: every fault is UNAUTHENTICATED
 * (401) but an API key from a browser (403). Unknown and revoked credentials read alike.
 */
/** The code `authenticationError` gives a fault, without making the error (a request's audit record needs only the code). */
export function authenticationErrorCode(fault: Fault): 'API_KEY_IN_BROWSER' | 'UNAUTHENTICATED' {
  return fault.code === 'API_KEY_IN_BROWSER' ? 'API_KEY_IN_BROWSER' : 'UNAUTHENTICATED';
}

export function authenticationError(fault: Fault): DomainError {
  const { code, slot, presented } = fault;
  const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);
  switch (code) {
    case 'API_KEY_IN_BROWSER':
      return new DomainError('API_KEY_IN_BROWSER', 'API keys cannot be used from a browser page of another origin; browsers use client tokens (R12)');
    case 'MISSING_CREDENTIALS':
      if (slot === 'APPLICATION_KEY') return unauthenticated('an API key alone does not open the GraphQL API: send an application key too (X-Application-Key) (R4)');
      if (slot === 'API_KEY') return unauthenticated('an application key needs an API key of the same organization (X-API-Key)');
      return unauthenticated('no credentials: send an API key (X-API-Key) and an application key (X-Application-Key)');
    case 'CLIENT_TOKEN_NOT_ALLOWED':
      return unauthenticated(CLIENT_TOKENS);
    case 'MALFORMED_CREDENTIAL':
    case 'WRONG_CREDENTIAL_KIND':
      if (presented === 'CLIENT_TOKEN') return unauthenticated(CLIENT_TOKENS);
      return unauthenticated(slot === null ? 'the credentials are not valid' : `${HEADER[slot]} does not hold a valid ${ARTICLE[slot].replace(/^an? /, '')}`);
    case 'UNKNOWN_CREDENTIAL':
    case 'REVOKED':
      return unauthenticated(slot === null ? 'the credentials are unknown or revoked' : `the ${ARTICLE[slot].replace(/^an? /, '')} is unknown or revoked`);
    case 'EXPIRED':
    case 'OWNER_DISABLED':
    case 'ORG_MISMATCH':
    case 'ORIGIN_NOT_ALLOWED':
      return unauthenticated(fault.reason);
    default: {
      const unhandled: never = code;
      throw new Error(`unknown verification code ${String(unhandled)}`);
    }
  }
}
