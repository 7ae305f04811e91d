// Authentication and verification against the CredentialIndex (no I/O): the GraphQL API
// (R4, R11, R12, R14, R21), and `verifyCredentials` / `GET /api/v1/validate` for intake
// (R4, R11, R12). A presented secret is compared by digest; it never reaches a message,
// a log line or an event.

import type { PrincipalActor } from '../domain/actor.js';
import { effectivePermissions, type Permission } from '../domain/permissions.js';
import { digestSecret, recognizeSecret, type CredentialKind } from '../domain/secrets.js';
import type { Authentication } from '../graphql/context.js';
import type { CredentialIndex, IndexedCredential, IndexedPrincipal } from './credential-index.js';

export interface PresentedCredentials {
  readonly apiKey: string | null;
  readonly applicationKey: string | null;
  /** A browser's Origin, when the request came from a page of another origin. */
  readonly foreignOrigin: string | null;
}

type HeaderBag = { get(name: string): string | null };

/**
 * `X-API-Key` / `X-Application-Key`, or their `DD-` aliases. An `Origin` other than the
 * gateway's own marks a browser page of another site (GraphiQL, served here, is same-origin).
 */
export function credentialsFromHeaders(headers: HeaderBag, ownOrigin: string): PresentedCredentials {
  const first = (...names: string[]) => {
    for (const name of names) {
      const value = headers.get(name)?.trim();
      if (value) return value;
    }
    return null;
  };
  const origin = headers.get('origin');
  return {
    apiKey: first('x-api-key', 'dd-api-key'),
    applicationKey: first('x-application-key', 'dd-application-key'),
    foreignOrigin: origin && origin !== 'null' && origin !== ownOrigin ? origin : null,
  };
}

/** Which known credentials a request presented, valid or not: what its audit entry names (R22). */
export interface Recognized {
  readonly orgId: string;
  readonly apiKeyId: string | null;
  readonly applicationKeyId: string | null;
  readonly clientTokenId: string | null;
  readonly principalId: string | null;
}

interface Found {
  readonly credential: IndexedCredential;
  readonly owner: IndexedPrincipal | undefined;
}

function find(index: CredentialIndex, secret: string | null): Found | null {
  if (secret === null || recognizeSecret(secret) === null) return null;
  const credential = index.credential(digestSecret(secret));
  if (!credential) return null;
  return { credential, owner: credential.ownerId === null ? undefined : index.principal(credential.ownerId) };
}

/**
 * The org an audit entry goes to: the acting key's (an application key's, else the other one's).
 * Credentials of two orgs in one request are recorded in the application key's org.
 */
function recognized(found: readonly (Found | null)[]): Recognized | null {
  const known = found.filter((f): f is Found => f !== null);
  const acting = known.find((f) => f.credential.kind === 'APPLICATION_KEY') ?? known[0];
  if (!acting) return null;
  const inOrg = known.filter((f) => f.credential.orgId === acting.credential.orgId);
  const idOf = (kind: CredentialKind) => inOrg.find((f) => f.credential.kind === kind)?.credential.id ?? null;
  return {
    orgId: acting.credential.orgId,
    apiKeyId: idOf('API_KEY'),
    applicationKeyId: idOf('APPLICATION_KEY'),
    clientTokenId: idOf('CLIENT_TOKEN'),
    principalId: acting.credential.kind === 'APPLICATION_KEY' ? acting.credential.ownerId : null,
  };
}

type Problem = { readonly code: VerificationCode; readonly reason: string };

export type VerificationCode =
  | 'MISSING_CREDENTIALS'
  | 'MALFORMED_CREDENTIAL'
  | 'UNKNOWN_CREDENTIAL'
  | 'WRONG_CREDENTIAL_KIND'
  | 'REVOKED'
  | 'EXPIRED'
  | 'OWNER_DISABLED'
  | 'ORG_MISMATCH'
  | 'API_KEY_IN_BROWSER'
  | 'ORIGIN_NOT_ALLOWED'
  | 'CLIENT_TOKEN_NOT_ALLOWED';

function usable(found: Found | null, secret: string | null, kind: CredentialKind, label: string, now: Date): Problem | null {
  if (secret === null) return { code: 'MISSING_CREDENTIALS', reason: `no ${label}` };
  const claimed = recognizeSecret(secret);
  if (claimed === null) return { code: 'MALFORMED_CREDENTIAL', reason: `the ${label} is not a well-formed keyledger secret` };
  if (claimed !== kind)
    return {
      code: 'WRONG_CREDENTIAL_KIND',
      reason: `the ${label} is not a${kind === 'API_KEY' ? 'n API key' : kind === 'APPLICATION_KEY' ? 'n application key' : ' client token'}`,
    };
  if (!found) return { code: 'UNKNOWN_CREDENTIAL', reason: `the ${label} is unknown` };
  // A disabled owner's keys are revoked with it (R13): say the cause.
  if (found.credential.ownerId !== null && !found.owner?.active) return { code: 'OWNER_DISABLED', reason: `the ${label}'s owner is disabled (R14)` };
  if (!found.credential.active) return { code: 'REVOKED', reason: `the ${label} is revoked` };
  if (found.credential.expiresAt !== null && found.credential.expiresAt <= now.toISOString()) return { code: 'EXPIRED', reason: `the ${label} has expired` };
  return null;
}

export interface ApiAuthentication {
  readonly auth: Authentication;
  readonly recognized: Recognized | null;
}

/** The GraphQL API: an active API key and application key of one org, whose owner is active. */
export function authenticateApi(presented: PresentedCredentials, index: CredentialIndex, now: Date): ApiAuthentication {
  const { apiKey, applicationKey } = presented;
  const api = find(index, apiKey);
  const app = find(index, applicationKey);
  const seen = recognized([api, app]);
  const fail = (reason: string, code?: 'API_KEY_IN_BROWSER'): ApiAuthentication => ({ auth: { ok: false, reason, ...(code ? { code } : {}) }, recognized: seen });

  if (apiKey === null && applicationKey === null) return fail('no credentials: send an API key (X-API-Key) and an application key (X-Application-Key)');
  const apiKind = apiKey === null ? null : recognizeSecret(apiKey);
  const appKind = applicationKey === null ? null : recognizeSecret(applicationKey);
  if (apiKind === 'CLIENT_TOKEN' || appKind === 'CLIENT_TOKEN') return fail('client tokens authenticate browser intake only, never the API (R11)');
  if (apiKey !== null && apiKind !== 'API_KEY') return fail('X-API-Key does not hold a valid API key');
  // R12: an API key in a page of another site is exposed to everyone who loads it.
  if (presented.foreignOrigin !== null && apiKey !== null) {
    return fail('API keys cannot be used from a browser page of another origin; browsers use client tokens (R12)', 'API_KEY_IN_BROWSER');
  }
  if (applicationKey !== null && appKind !== 'APPLICATION_KEY') return fail('X-Application-Key does not hold a valid application key');
  if (apiKey === null) return fail('an application key needs an API key of the same organization (X-API-Key)');
  if (applicationKey === null) return fail('an API key alone does not open the GraphQL API: send an application key too (X-Application-Key) (R4)');

  const apiProblem = usable(api, apiKey, 'API_KEY', 'API key', now);
  if (apiProblem) return fail(apiProblem.code === 'UNKNOWN_CREDENTIAL' || apiProblem.code === 'REVOKED' ? 'the API key is unknown or revoked' : apiProblem.reason);
  const appProblem = usable(app, applicationKey, 'APPLICATION_KEY', 'application key', now);
  if (appProblem) return fail(appProblem.code === 'UNKNOWN_CREDENTIAL' || appProblem.code === 'REVOKED' ? 'the application key is unknown or revoked' : appProblem.reason);
  if (api!.credential.orgId !== app!.credential.orgId) return fail('the API key and the application key belong to different organizations');

  const owner = app!.owner!;
  const scopes = app!.credential.scopes;
  const actor: PrincipalActor = {
    kind: 'principal',
    orgId: owner.orgId,
    principalId: owner.id,
    principalKind: owner.kind,
    role: owner.role,
    apiKeyId: api!.credential.id,
    applicationKeyId: app!.credential.id,
    scopes,
    permissions: effectivePermissions(owner.role, scopes),
  };
  return { auth: { ok: true, actor }, recognized: seen };
}

export type Usage = 'AGENT_INTAKE' | 'BROWSER_INTAKE' | 'API';

export interface VerificationInput {
  readonly apiKey: string | null;
  readonly applicationKey: string | null;
  readonly clientToken: string | null;
  readonly usage: Usage;
  /** The browser Origin the intake saw, if any. */
  readonly origin: string | null;
  readonly requiredScopes: readonly string[];
}

export interface Verification {
  readonly valid: boolean;
  readonly code: VerificationCode | null;
  readonly reason: string | null;
  readonly recognized: Recognized | null;
  /** Effective permissions (an application key's; none for an API key or client token alone). */
  readonly permissions: readonly Permission[];
  readonly requiredScopesGranted: boolean;
  readonly missingScopes: readonly string[];
}

/**
 * Verification for other services. AGENT_INTAKE: an API key (R4). BROWSER_INTAKE: a client
 * token from an allowed origin, never an API key (R11, R12). API: an API key and an
 * application key, as the GraphQL API takes them (R4). Any API key with an Origin is refused (R12).
 */
export function verifyCredentials(input: VerificationInput, index: CredentialIndex, now: Date): Verification {
  const api = find(index, input.apiKey);
  const app = find(index, input.applicationKey);
  const token = find(index, input.clientToken);
  const seen = recognized([api, app, token]);
  const invalid = (problem: Problem): Verification => ({
    valid: false,
    code: problem.code,
    reason: problem.reason,
    recognized: seen,
    permissions: [],
    requiredScopesGranted: false,
    missingScopes: [...input.requiredScopes],
  });
  const valid = (permissions: readonly Permission[]): Verification => {
    const granted = new Set<string>(permissions);
    const missingScopes = input.requiredScopes.filter((s) => !granted.has(s));
    return { valid: true, code: null, reason: null, recognized: seen, permissions, requiredScopesGranted: missingScopes.length === 0, missingScopes };
  };

  if (input.apiKey !== null && (input.origin !== null || input.usage === 'BROWSER_INTAKE')) {
    return invalid({ code: 'API_KEY_IN_BROWSER', reason: 'API keys are refused for browser intake; browsers use client tokens (R12)' });
  }
  if (input.usage === 'BROWSER_INTAKE') {
    const problem = usable(token, input.clientToken, 'CLIENT_TOKEN', 'client token', now);
    if (problem) return invalid(problem);
    const allowed = token!.credential.allowedOrigins;
    if (allowed.length > 0 && (input.origin === null || !allowed.includes(input.origin))) {
      return invalid({ code: 'ORIGIN_NOT_ALLOWED', reason: `origin ${input.origin ?? '(none)'} is not allowed for this client token` });
    }
    return valid([]);
  }
  if (input.clientToken !== null) {
    return invalid({ code: 'CLIENT_TOKEN_NOT_ALLOWED', reason: 'client tokens authenticate browser intake only (R11)' });
  }
  const apiProblem = usable(api, input.apiKey, 'API_KEY', 'API key', now);
  if (apiProblem) return invalid(apiProblem);
  if (input.usage === 'AGENT_INTAKE' && input.applicationKey === null) return valid([]);
  const appProblem = usable(app, input.applicationKey, 'APPLICATION_KEY', 'application key', now);
  if (appProblem) return invalid(appProblem);
  if (api!.credential.orgId !== app!.credential.orgId) return invalid({ code: 'ORG_MISMATCH', reason: 'the API key and the application key belong to different organizations' });
  return valid([...effectivePermissions(app!.owner!.role, app!.credential.scopes)]);
}
