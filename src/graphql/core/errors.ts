// From refusals to GraphQL errors: every refusal is a DomainError carrying a code of the spec
// (R21), mapped here to `extensions.code` and an HTTP status: 401 for missing or unknown
// credentials, 403 for a known credential lacking a permission (or an API key in a browser).

import { GraphQLError } from 'graphql';
import { DomainError, type DomainErrorCode } from '../../domain/errors.js';
import type { Fault } from '../../domain/verification.js';

const HTTP_STATUS: Partial<Record<DomainErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  API_KEY_IN_BROWSER: 403,
};

export function graphQLErrorOf(error: DomainError): GraphQLError {
  const status = HTTP_STATUS[error.code];
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: {
      code: error.code,
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(status === undefined ? {} : { http: { status } }),
    },
  });
}

const CLIENT_TOKENS = 'client tokens authenticate browser intake only, never the API (R11)';
const HEADER = { API_KEY: 'X-API-Key', APPLICATION_KEY: 'X-Application-Key', CLIENT_TOKEN: 'X-API-Key' } as const;
const ARTICLE = { API_KEY: 'an API key', APPLICATION_KEY: 'an application key', CLIENT_TOKEN: 'a client token' } as const;

/**
 * Why the API refuses credentials, as a GraphQL client is told: every fault is UNAUTHENTICATED
 * (401) but an API key from a browser (403). Unknown and revoked credentials read alike.
 */
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
