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
  | 'PRINCIPAL_DISABLED'
  | 'API_KEY_IN_BROWSER'
  | 'CONFLICT';

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
