// Refusals, as typed values with the codes of the spec (section 4, R21). The GraphQL layer maps
// each code to `extensions.code` and an HTTP status; the CLI prints the message.

export type DomainErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_USER_INPUT'
  | 'NAME_TAKEN'
  | 'EMAIL_TAKEN'
  | 'API_KEY_LIMIT'
  | 'LAST_API_KEY'
  | 'BLANK_NAME'
  | 'INVALID_SCOPE'
  | 'ALREADY_REVOKED'
  | 'ALREADY_ROTATED'
  | 'PRINCIPAL_DISABLED'
  | 'API_KEY_IN_BROWSER'
  | 'CONFLICT'
  | 'SLOW_CONSUMER'
  | 'RATE_LIMITED';

/**
 * Codes of requests refused before any resolver could run: the HTTP request or the document
 * itself (R28, spec section 7), and the gateway's own failures. The GraphQL layer gives each its
 * status (src/graphql/core/errors.ts); the README's table lists them with the DomainErrorCodes.
 */
export type RequestErrorCode =
  | 'BAD_REQUEST'
  | 'GRAPHQL_PARSE_FAILED'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'QUERY_TOO_COMPLEX'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'AUDIT_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

/** Every code an error of keyledger's carries in `extensions.code`. */
export type ErrorCode = DomainErrorCode | RequestErrorCode;

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** The input field at fault, for BAD_USER_INPUT and its kin. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string): DomainError => new DomainError('NOT_FOUND', `${what} not found`);
export const forbidden = (message: string): DomainError => new DomainError('FORBIDDEN', message);
