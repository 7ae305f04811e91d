// The documentation's tables, made from the catalogue itself so that the README cannot drift
// from what the checks enforce (a test compares them; `npm run docs` rewrites them).

import { PERMISSIONS, ROLE_NAMES, ROLES } from './permissions.js';
import type { DomainErrorCode } from './errors.js';

function permissionsTable(): string {
  const header = `| permission | allows | ${ROLE_NAMES.join(' | ')} |`;
  const rule = `| --- | --- | ${ROLE_NAMES.map(() => ':---:').join(' | ')} |`;
  const rows = PERMISSIONS.map(
    (p) => `| \`${p.id}\` | ${p.description} | ${ROLE_NAMES.map((role) => ((ROLES[role].permissions as readonly string[]).includes(p.id) ? 'yes' : '')).join(' | ')} |`,
  );
  return [header, rule, ...rows].join('\n');
}

const ERROR_CODES: Readonly<Record<DomainErrorCode | 'INTERNAL_SERVER_ERROR' | 'GRAPHQL_VALIDATION_FAILED' | 'AUDIT_UNAVAILABLE', { http: number; meaning: string }>> = {
  UNAUTHENTICATED: {
    http: 401,
    meaning: 'No credentials, unknown or revoked ones, an API key without an application key (R4), a client token (R11), a disabled owner (R14), keys of two organizations.',
  },
  API_KEY_IN_BROWSER: { http: 403, meaning: 'An API key sent from a browser page of another origin (R12): browsers use client tokens.' },
  FORBIDDEN: { http: 403, meaning: "The credential's effective permissions lack what the operation needs (R7, R8), or it grants a scope or role it does not hold (R9)." },
  NOT_FOUND: { http: 200, meaning: 'No such object in your organization: unknown, malformed, of another type, or of another organization (R20).' },
  BAD_USER_INPUT: { http: 200, meaning: 'An argument is invalid; `extensions.field` names it.' },
  BLANK_NAME: { http: 200, meaning: 'A name is empty or white space (R5).' },
  NAME_TAKEN: { http: 200, meaning: 'An active key of the same kind already has this name, compared trimmed and case-folded (R3).' },
  EMAIL_TAKEN: { http: 200, meaning: 'A user with this email is already in the organization.' },
  API_KEY_LIMIT: { http: 200, meaning: 'The organization has its limit of active API keys (R2).' },
  LAST_API_KEY: { http: 200, meaning: "Revoking the organization's last active API key (R1)." },
  INVALID_SCOPE: { http: 200, meaning: 'A scope list that is empty, has duplicates, or names an unknown scope; names are case-sensitive (R7).' },
  ALREADY_REVOKED: { http: 200, meaning: 'The credential is revoked: that is final (R17).' },
  PRINCIPAL_DISABLED: { http: 200, meaning: 'The principal is disabled: it cannot get keys, change role or be disabled again (R14).' },
  CONFLICT: { http: 200, meaning: 'Too many concurrent changes to one object; retry.' },
  GRAPHQL_VALIDATION_FAILED: { http: 400, meaning: 'The document does not match the schema (for example an unknown enum value).' },
  AUDIT_UNAVAILABLE: { http: 503, meaning: 'The audit entry could not be written, so the request is not acknowledged (R25); retry.' },
  INTERNAL_SERVER_ERROR: { http: 500, meaning: 'An unexpected failure; the message is masked and the log has the request id.' },
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
