// Verification: what presented credentials are good for (R4, R11, R12, R14, R17, R19). One
// function decides for every route: the GraphQL API (usage API, from its headers), the
// `verifyCredentials` query and `GET /api/v1/validate`. It reads a CredentialLookup (the
// in-memory CredentialIndex), so it does no I/O; a presented secret is compared by digest and
// never reaches a reason, a log line or an event.

import type { PrincipalActor } from './actor.js';
import { credentialState, type CredentialState, type NewCredential } from './credential.js';
import type { CredentialKind, PrincipalKind } from './events.js';
import { effectivePermissions, type Permission, type Role } from './permissions.js';
import { digestSecret, recognizeSecret } from './secrets.js';

/** What verification needs of a credential. */
export type VerifiableCredential = Pick<NewCredential, 'id' | 'kind' | 'orgId' | 'ownerId' | 'scopes' | 'allowedOrigins' | 'expiresAt'> & {
  readonly active: boolean;
  /** R18: a rotated credential authenticates until then. */
  readonly revokesAt: string | null;
};

export interface VerifiablePrincipal {
  readonly id: string;
  readonly orgId: string;
  readonly kind: PrincipalKind;
  readonly role: Role;
  readonly active: boolean;
}

export interface CredentialLookup {
  credential(digest: string): VerifiableCredential | undefined;
  principal(id: string): VerifiablePrincipal | undefined;
}

/** Which known credentials a request presented, valid or not: what its audit entry names (R22). */
export interface Recognized {
  readonly orgId: string;
  readonly apiKeyId: string | null;
  readonly applicationKeyId: string | null;
  readonly clientTokenId: string | null;
  readonly principalId: string | null;
}

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

type Usage = 'AGENT_INTAKE' | 'BROWSER_INTAKE' | 'API';

/** A presented secret with what it claims and its digest, worked out once (a change feed checks the same secrets again and again). */
export interface DigestedSecret {
  readonly secret: string;
  /** What the secret claims to be; null when malformed or its checksum fails. */
  readonly claimed: CredentialKind | null;
  /** Null when it claims nothing (it is not looked up). */
  readonly digest: string | null;
}

export function digestPresented(secret: string): DigestedSecret {
  const claimed = recognizeSecret(secret);
  return { secret, claimed, digest: claimed === null ? null : digestSecret(secret) };
}

export interface VerificationInput {
  readonly usage: Usage;
  /** Each secret as sent, or digested once beforehand (digestPresented). */
  readonly apiKey: string | DigestedSecret | null;
  readonly applicationKey: string | DigestedSecret | null;
  readonly clientToken: string | DigestedSecret | null;
  /** The browser Origin the request came with (for the API: a page of another origin), if any. */
  readonly origin: string | null;
  readonly requiredScopes: readonly string[];
}

/** Why credentials were refused: the code, the slot at fault (null: the request as a whole), and what its secret claims to be. */
export interface Fault {
  readonly code: VerificationCode;
  readonly reason: string;
  readonly slot: CredentialKind | null;
  readonly presented: CredentialKind | null;
}

export type Verification =
  | {
      readonly valid: true;
      readonly recognized: Recognized;
      /** Effective permissions (an application key's; none for an API key or client token alone). */
      readonly permissions: readonly Permission[];
      readonly requiredScopesGranted: boolean;
      readonly missingScopes: readonly string[];
      /** Usage API: who the request acts as. */
      readonly actor: PrincipalActor | null;
      readonly owner: VerifiablePrincipal | null;
    }
  | { readonly valid: false; readonly fault: Fault; readonly recognized: Recognized | null; readonly missingScopes: readonly string[] };

interface Presented {
  readonly slot: CredentialKind;
  readonly secret: string;
  /** What the secret claims to be; null when malformed or its checksum fails. */
  readonly claimed: CredentialKind | null;
  readonly credential: VerifiableCredential | undefined;
  readonly owner: VerifiablePrincipal | null;
}

const LABEL: Readonly<Record<CredentialKind, string>> = { API_KEY: 'API key', APPLICATION_KEY: 'application key', CLIENT_TOKEN: 'client token' };
const ARTICLE: Readonly<Record<CredentialKind, string>> = { API_KEY: 'an API key', APPLICATION_KEY: 'an application key', CLIENT_TOKEN: 'a client token' };

/** The code of a credential's state when it does not authenticate. */
const STATE_FAULT: Readonly<Record<Exclude<CredentialState, 'ACTIVE'>, { code: VerificationCode; reason: (label: string) => string }>> = {
  OWNER_DISABLED: { code: 'OWNER_DISABLED', reason: (label) => `the ${label}'s owner is disabled (R14)` },
  REVOKED: { code: 'REVOKED', reason: (label) => `the ${label} is revoked` },
  EXPIRED: { code: 'EXPIRED', reason: (label) => `the ${label} has expired` },
};

function present(lookup: CredentialLookup, slot: CredentialKind, given: string | DigestedSecret | null): Presented | null {
  if (given === null) return null;
  const { secret, claimed, digest } = typeof given === 'string' ? digestPresented(given) : given;
  const credential = digest === null ? undefined : lookup.credential(digest);
  const owner = credential?.ownerId == null ? null : (lookup.principal(credential.ownerId) ?? null);
  return { slot, secret, claimed, credential, owner };
}

/**
 * The org an audit entry goes to: the acting key's (an application key's, else the other one's).
 * Credentials of two orgs in one request are recorded in the application key's org.
 */
function recognizedOf(presented: readonly (Presented | null)[]): Recognized | null {
  const known = presented.flatMap((p) => (p?.credential ? [p.credential] : []));
  const acting = known.find((c) => c.kind === 'APPLICATION_KEY') ?? known[0];
  if (!acting) return null;
  const idOf = (kind: CredentialKind) => known.find((c) => c.kind === kind && c.orgId === acting.orgId)?.id ?? null;
  return {
    orgId: acting.orgId,
    apiKeyId: idOf('API_KEY'),
    applicationKeyId: idOf('APPLICATION_KEY'),
    clientTokenId: idOf('CLIENT_TOKEN'),
    principalId: acting.kind === 'APPLICATION_KEY' ? acting.ownerId : null,
  };
}

/** The fault of one slot, or null when it holds a credential of its kind that authenticates now. */
function faultOf(slot: CredentialKind, presented: Presented | null, now: Date): Fault | null {
  const label = LABEL[slot];
  if (presented === null) return { code: 'MISSING_CREDENTIALS', reason: `no ${label}`, slot, presented: null };
  const { claimed, credential } = presented;
  if (claimed === null) return { code: 'MALFORMED_CREDENTIAL', reason: `the ${label} is not a well-formed keyledger secret`, slot, presented: null };
  if (claimed !== slot) return { code: 'WRONG_CREDENTIAL_KIND', reason: `the ${label} is not ${ARTICLE[slot]}`, slot, presented: claimed };
  if (!credential) return { code: 'UNKNOWN_CREDENTIAL', reason: `the ${label} is unknown`, slot, presented: claimed };
  const state = credentialState(credential, credential.ownerId === null ? null : (presented.owner ?? { active: false }), now);
  if (state === 'ACTIVE') return null;
  const fault = STATE_FAULT[state];
  return { code: fault.code, reason: fault.reason(label), slot, presented: claimed };
}

/**
 * AGENT_INTAKE: an API key (R4). BROWSER_INTAKE: a client token from an allowed origin, never an
 * API key (R11, R12). API: an API key and an application key of one organization whose owner is
 * active (R4, R14); the result names the actor. Any API key that comes with an Origin is refused (R12).
 */
export function verify(input: VerificationInput, lookup: CredentialLookup, now: Date): Verification {
  const api = present(lookup, 'API_KEY', input.apiKey);
  const app = present(lookup, 'APPLICATION_KEY', input.applicationKey);
  const token = present(lookup, 'CLIENT_TOKEN', input.clientToken);
  const recognized = recognizedOf([api, app, token]);
  const refuse = (fault: Fault): Verification => ({ valid: false, fault, recognized, missingScopes: [...input.requiredScopes] });
  const accept = (permissions: readonly Permission[], actor: PrincipalActor | null, owner: VerifiablePrincipal | null): Verification => {
    if (recognized === null) throw new Error('a valid credential is a recognized one');
    const granted = new Set<string>(permissions);
    const missingScopes = input.requiredScopes.filter((scope) => !granted.has(scope));
    return { valid: true, recognized, permissions, requiredScopesGranted: missingScopes.length === 0, missingScopes, actor, owner };
  };

  if (api === null && app === null && token === null) return refuse({ code: 'MISSING_CREDENTIALS', reason: 'no credentials', slot: null, presented: null });
  if (api !== null && (input.origin !== null || input.usage === 'BROWSER_INTAKE')) {
    return refuse({ code: 'API_KEY_IN_BROWSER', reason: 'API keys are refused from browsers; browsers use client tokens (R12)', slot: 'API_KEY', presented: api.claimed });
  }
  if (input.usage === 'BROWSER_INTAKE') {
    const fault = faultOf('CLIENT_TOKEN', token, now);
    if (fault) return refuse(fault);
    const allowed = token!.credential!.allowedOrigins;
    if (allowed.length > 0 && (input.origin === null || !allowed.includes(input.origin))) {
      return refuse({ code: 'ORIGIN_NOT_ALLOWED', reason: 'this origin is not allowed for this client token', slot: 'CLIENT_TOKEN', presented: 'CLIENT_TOKEN' });
    }
    return accept([], null, null);
  }
  if (token !== null)
    return refuse({ code: 'CLIENT_TOKEN_NOT_ALLOWED', reason: 'client tokens authenticate browser intake only (R11)', slot: 'CLIENT_TOKEN', presented: token.claimed });
  const apiFault = faultOf('API_KEY', api, now);
  if (apiFault) return refuse(apiFault);
  if (input.usage === 'AGENT_INTAKE' && app === null) return accept([], null, null);
  const appFault = faultOf('APPLICATION_KEY', app, now);
  if (appFault) return refuse(appFault);
  const apiKey = api!.credential!;
  const applicationKey = app!.credential!;
  const owner = app!.owner!;
  if (apiKey.orgId !== applicationKey.orgId) {
    return refuse({ code: 'ORG_MISMATCH', reason: 'the API key and the application key belong to different organizations', slot: null, presented: null });
  }
  const permissions = effectivePermissions(owner.role, applicationKey.scopes);
  const actor: PrincipalActor = {
    kind: 'principal',
    orgId: owner.orgId,
    principalId: owner.id,
    principalKind: owner.kind,
    role: owner.role,
    apiKeyId: apiKey.id,
    applicationKeyId: applicationKey.id,
    scopes: applicationKey.scopes,
    permissions,
  };
  return accept([...permissions], actor, owner);
}

/** Who a GraphQL request acts as, or why it acts as nobody. */
export type Authentication = { readonly ok: true; readonly actor: PrincipalActor } | { readonly ok: false; readonly fault: Fault };

export function authenticationOf(verification: Verification): Authentication {
  if (!verification.valid) return { ok: false, fault: verification.fault };
  if (verification.actor === null) throw new Error('only a verification for usage API names an actor');
  return { ok: true, actor: verification.actor };
}
