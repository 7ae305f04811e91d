// The documentation's tables, made from the catalogue itself so that the README cannot drift
// from what the checks enforce (a test compares them; `npm run docs` rewrites them).

import { PERMISSIONS, ROLE_NAMES, ROLES } from './permissions.js';
import type { ErrorCode } from './errors.js';

function permissionsTable(): string {
  const header = `| permission | allows | ${ROLE_NAMES.join(' | ')} |`;
  const rule = `| --- | --- | ${ROLE_NAMES.map(() => ':---:').join(' | ')} |`;
  const rows = PERMISSIONS.map(
    (p) => `| \`${p.id}\` | ${p.description} | ${ROLE_NAMES.map((role) => ((ROLES[role].permissions as readonly string[]).includes(p.id) ? 'yes' : '')).join(' | ')} |`,
  );
  return [header, rule, ...rows].join('\n');
}

/** A document that cannot run: 400 for clients that accept application/graphql-response+json, 200 for application/json only (spec section 7). */
const DOCUMENT = ' Nothing ran. HTTP 400 for a client that accepts `application/graphql-response+json`, 200 with the error for one that accepts only `application/json`.';

const ERROR_CODES: Readonly<Record<ErrorCode, { http: number; meaning: string }>> = {
  UNAUTHENTICATED: {
    http: 401,
    meaning: 'No credentials, unknown or revoked ones, an API key without an application key (R4), a client token (R11), a disabled owner (R14), keys of two organizations.',
  },
  API_KEY_IN_BROWSER: { http: 403, meaning: 'An API key sent from a browser page of another origin (R12): browsers use client tokens.' },
  FORBIDDEN: { http: 403, meaning: "The credential's effective permissions lack what the operation needs (R7, R8), or it grants a scope or role it does not hold (R9)." },
  NOT_FOUND: { http: 200, meaning: 'No such object in your organization: unknown, malformed, of another type, or of another organization (R20).' },
  BAD_USER_INPUT: {
    http: 200,
    meaning:
      'An argument is invalid, over its bound or holds NUL or an unpaired surrogate (R29); `extensions.field` names it. Variables that do not fit their types are refused before anything runs, with HTTP 400 and the variable (`$name`) as the field.',
  },
  BLANK_NAME: { http: 200, meaning: 'A name is empty or white space (R5).' },
  NAME_TAKEN: { http: 200, meaning: 'An active key of the same kind already has this name, compared trimmed and case-folded (R3).' },
  EMAIL_TAKEN: { http: 200, meaning: 'A user with this email is already in the organization.' },
  API_KEY_LIMIT: { http: 200, meaning: 'The organization has its limit of active API keys (R2).' },
  LAST_API_KEY: { http: 200, meaning: "Revoking the organization's last active API key (R1)." },
  INVALID_SCOPE: { http: 200, meaning: 'A scope list that is empty, has duplicates, or names an unknown scope; names are case-sensitive (R7).' },
  ALREADY_REVOKED: { http: 200, meaning: 'The credential is revoked: that is final (R17).' },
  ALREADY_ROTATED: {
    http: 200,
    meaning: 'The key was rotated and is in its grace period (R18): it cannot be rotated, renamed or scoped again; its successor can. It can still be revoked.',
  },
  PRINCIPAL_DISABLED: { http: 200, meaning: 'The principal is disabled: it cannot get keys, change role or be disabled again (R14).' },
  CONFLICT: { http: 200, meaning: 'Too many concurrent changes to one object; retry.' },
  SLOW_CONSUMER: {
    http: 200,
    meaning:
      'A change feed (`credentialEvents`, `auditEntries`) ended because its consumer fell too far behind the live events: its buffer was full (R26). Nothing is lost: subscribe again with `after` set to the last cursor received.',
  },
  RATE_LIMITED: {
    http: 429,
    meaning: 'Too many change feeds open at once: at most 8 per application key, and a bound per gateway instance. End one (or wait for one to end) and subscribe again.',
  },
  GRAPHQL_PARSE_FAILED: { http: 400, meaning: `The document is not GraphQL (a syntax error).${DOCUMENT}` },
  GRAPHQL_VALIDATION_FAILED: { http: 400, meaning: `The document does not match the schema (for example an unknown field or enum value).${DOCUMENT}` },
  QUERY_TOO_COMPLEX: { http: 400, meaning: `The document is over a bound: tokens (1,000), directives (50), aliases (20), depth (12) or cost (20,000).${DOCUMENT}` },
  BAD_REQUEST: {
    http: 400,
    meaning: 'The HTTP request is not a GraphQL request: a body or `variables` that are not JSON, no `query`, an unknown parameter, several operations and no `operationName`.',
  },
  METHOD_NOT_ALLOWED: { http: 405, meaning: '`/graphql` takes GET (queries only) and POST.' },
  NOT_ACCEPTABLE: { http: 406, meaning: 'The `Accept` header allows neither `application/json` nor `application/graphql-response+json`.' },
  REQUEST_TIMEOUT: { http: 408, meaning: 'The request did not arrive in time.' },
  PAYLOAD_TOO_LARGE: { http: 413, meaning: 'The request body is over `KEYLEDGER_MAX_BODY_BYTES` (1 MiB by default, R29); it is not read further, nor echoed.' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, meaning: 'A POST body that is not `application/json` (or `application/graphql+json`, `application/graphql`, or form-encoded).' },
  HEADERS_TOO_LARGE: { http: 431, meaning: 'The request headers are over the server’s bound (16 KiB).' },
  AUDIT_UNAVAILABLE: { http: 503, meaning: 'The audit entry could not be written, so the request is not acknowledged (R25); retry.' },
  STORE_UNAVAILABLE: {
    http: 503,
    meaning:
      'The store could not be reached or did not answer within `KEYLEDGER_STORE_TIMEOUT_MS` (5 s by default, R30); retry. A command may have been recorded all the same: a retry finds it done (a name taken, a key already revoked).',
  },
  INTERNAL_SERVER_ERROR: { http: 500, meaning: 'An unexpected failure of the server, never a client’s mistake (R28); the message is masked and the log has the request id.' },
};

function errorCodesTable(): string {
  return ['| code | HTTP | meaning |', '| --- | --- | --- |', ...Object.entries(ERROR_CODES).map(([code, e]) => `| \`${code}\` | ${e.http} | ${e.meaning} |`)].join('\n');
}

const MARKERS = { permissions: permissionsTable, 'error-codes': errorCodesTable } as const;

/** The README with its generated sections replaced by what the code says now. */
export function withGeneratedSections(readme: string): string {
  let out = readme;
  for (const [name, make] of Object.entries(MARKERS)) {
    const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    out = out.replace(pattern, (_match, start: string, end: string) => `${start}${make()}\n${end}`);
  }
  return out;
}
