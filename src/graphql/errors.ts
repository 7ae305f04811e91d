// From refusals to GraphQL errors: every refusal carries `extensions.code` (R21), with HTTP 401
// for missing or unknown credentials and 403 for a known credential lacking a permission.

import { GraphQLError } from 'graphql';
import { DomainError, type DomainErrorCode } from '../domain/errors.js';

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

export const unauthenticated = (reason: string, code: 'UNAUTHENTICATED' | 'API_KEY_IN_BROWSER' = 'UNAUTHENTICATED'): GraphQLError => graphQLErrorOf(new DomainError(code, reason));
export const forbidden = (reason: string): GraphQLError => graphQLErrorOf(new DomainError('FORBIDDEN', reason));
export const badUserInput = (message: string, field: string): GraphQLError => graphQLErrorOf(new DomainError('BAD_USER_INPUT', message, field));
export const notFound = (what: string): GraphQLError => graphQLErrorOf(new DomainError('NOT_FOUND', `${what} not found`));
