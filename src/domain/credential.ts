// A credential, as every consumer folds it: the one reading of each credential event
// (`credentialChange`), and the one rule of a credential's status (`credentialState`). The
// aggregates, the `credentials` read model and the CredentialIndex all apply these changes;
// the read model's SQL twin of the status rule is projections/credentials/status.ts.

import type { CredentialEvent, CredentialKind, PrincipalLifecycleEvent, PrincipalKind, RevocationReason } from './events.js';
import type { Permission, Role } from './permissions.js';

/** A credential as it was created. */
export interface NewCredential {
  readonly id: string;
  readonly kind: CredentialKind;
  readonly orgId: string;
  readonly name: string;
  /** SHA-256 of the secret: how a presented secret is found. Not the secret. */
  readonly digest: string;
  readonly last4: string;
  /** The owning principal of an application key; null for org credentials (API keys, client tokens). */
  readonly ownerId: string | null;
  readonly createdBy: string | null;
  /** Application keys: the scopes written on the key; null when unscoped (and for other kinds). */
  readonly scopes: readonly Permission[] | null;
  /** Client tokens: the origins a browser may send them from (empty: any). */
  readonly allowedOrigins: readonly string[];
  readonly expiresAt: string | null;
}

export type CredentialChange =
  | { readonly change: 'created'; readonly credential: NewCredential }
  | { readonly change: 'renamed'; readonly id: string; readonly kind: CredentialKind; readonly name: string }
  | { readonly change: 'scoped'; readonly id: string; readonly kind: CredentialKind; readonly scopes: readonly Permission[] | null }
  | { readonly change: 'revoked'; readonly id: string; readonly kind: CredentialKind; readonly reason: RevocationReason }
  /** R18: the credential `id` is succeeded by `successor` (created now), and is revoked at `revokeAt`; until then both authenticate. */
  | { readonly change: 'rotated'; readonly id: string; readonly kind: CredentialKind; readonly successor: NewCredential; readonly revokeAt: string }
  /** R19: its expiry was recorded. It changes no status: a key expires at its `expiresAt`, recorded or not. */
  | { readonly change: 'expired'; readonly id: string; readonly kind: CredentialKind };

/** What a credential event changes. */
export function credentialChange(event: CredentialEvent): CredentialChange {
  switch (event.type) {
    case 'ApiKeyCreated': {
      const { keyId, orgId, name, digest, last4, createdBy } = event.data;
      return {
        change: 'created',
        credential: { id: keyId, kind: 'API_KEY', orgId, name, digest, last4, ownerId: null, createdBy, scopes: null, allowedOrigins: [], expiresAt: null },
      };
    }
    case 'ClientTokenCreated': {
      const { tokenId, orgId, name, digest, last4, createdBy, allowedOrigins } = event.data;
      return {
        change: 'created',
        credential: { id: tokenId, kind: 'CLIENT_TOKEN', orgId, name, digest, last4, ownerId: null, createdBy, scopes: null, allowedOrigins, expiresAt: null },
      };
    }
    case 'ApplicationKeyCreated': {
      const { keyId, orgId, principalId, name, digest, last4, createdBy, scopes, expiresAt } = event.data;
      return {
        change: 'created',
        credential: { id: keyId, kind: 'APPLICATION_KEY', orgId, name, digest, last4, ownerId: principalId, createdBy, scopes, allowedOrigins: [], expiresAt },
      };
    }
    case 'ApiKeyRotated': {
      const { keyId, successorId, orgId, name, digest, last4, createdBy, revokeAt } = event.data;
      return {
        change: 'rotated',
        id: keyId,
        kind: 'API_KEY',
        revokeAt,
        successor: { id: successorId, kind: 'API_KEY', orgId, name, digest, last4, ownerId: null, createdBy, scopes: null, allowedOrigins: [], expiresAt: null },
      };
    }
    case 'ApplicationKeyRotated': {
      const { keyId, successorId, orgId, principalId, name, digest, last4, createdBy, scopes, expiresAt, revokeAt } = event.data;
      return {
        change: 'rotated',
        id: keyId,
        kind: 'APPLICATION_KEY',
        revokeAt,
        successor: { id: successorId, kind: 'APPLICATION_KEY', orgId, name, digest, last4, ownerId: principalId, createdBy, scopes, allowedOrigins: [], expiresAt },
      };
    }
    case 'ApplicationKeyExpired':
      return { change: 'expired', id: event.data.keyId, kind: 'APPLICATION_KEY' };
    case 'ApiKeyRenamed':
      return { change: 'renamed', id: event.data.keyId, kind: 'API_KEY', name: event.data.name };
    case 'ClientTokenRenamed':
      return { change: 'renamed', id: event.data.tokenId, kind: 'CLIENT_TOKEN', name: event.data.name };
    case 'ApplicationKeyRenamed':
      return { change: 'renamed', id: event.data.keyId, kind: 'APPLICATION_KEY', name: event.data.name };
    case 'ApplicationKeyScoped':
      return { change: 'scoped', id: event.data.keyId, kind: 'APPLICATION_KEY', scopes: event.data.scopes };
    case 'ApiKeyRevoked':
      return { change: 'revoked', id: event.data.keyId, kind: 'API_KEY', reason: event.data.reason };
    case 'ClientTokenRevoked':
      return { change: 'revoked', id: event.data.tokenId, kind: 'CLIENT_TOKEN', reason: event.data.reason };
    case 'ApplicationKeyRevoked':
    case 'ApplicationKeyOwnerDisabled':
      return { change: 'revoked', id: event.data.keyId, kind: 'APPLICATION_KEY', reason: event.data.reason };
    default: {
      const unhandled: never = event;
      throw new Error(`not a credential event: ${JSON.stringify(unhandled)}`);
    }
  }
}

/** A principal as it was created. */
interface NewPrincipal {
  readonly id: string;
  readonly orgId: string;
  readonly kind: PrincipalKind;
  readonly name: string;
  readonly email: string | null;
  readonly role: Role;
}

export type PrincipalChange =
  | { readonly change: 'created'; readonly principal: NewPrincipal }
  | { readonly change: 'roleChanged'; readonly id: string; readonly role: Role }
  | { readonly change: 'disabled'; readonly id: string };

/** What a principal event changes of the principal itself (its keys' events are credential events). */
export function principalChange(event: PrincipalLifecycleEvent): PrincipalChange {
  switch (event.type) {
    case 'UserInvited': {
      const { principalId, orgId, name, email, role } = event.data;
      return { change: 'created', principal: { id: principalId, orgId, kind: 'USER', name, email, role } };
    }
    case 'ServiceAccountCreated': {
      const { principalId, orgId, name, role } = event.data;
      return { change: 'created', principal: { id: principalId, orgId, kind: 'SERVICE_ACCOUNT', name, email: null, role } };
    }
    case 'PrincipalRoleChanged':
      return { change: 'roleChanged', id: event.data.principalId, role: event.data.role };
    case 'PrincipalDisabled':
      return { change: 'disabled', id: event.data.principalId };
    default: {
      const unhandled: never = event;
      throw new Error(`not a principal event: ${JSON.stringify(unhandled)}`);
    }
  }
}

/** A credential's status as lists, filters and reports show it. */
export type CredentialStatus = 'ACTIVE' | 'REVOKED' | 'EXPIRED';

/** Its status with the cause of a refusal, finest first: what verification reports. */
export type CredentialState = CredentialStatus | 'OWNER_DISABLED';

export interface CredentialStatusFacts {
  /** False once revoked by an event (by hand, with its owner, or at the end of a rotation): final (R17). Expiry is a matter of time, not of this flag. */
  readonly active: boolean;
  readonly expiresAt: string | null;
  /** A rotated credential (R18): when its grace ends. Null for a credential not rotated. */
  readonly revokesAt: string | null;
}

/**
 * The one status rule (R13, R14, R17, R18, R19): a disabled owner's keys do not authenticate
 * (they are revoked in the same append, R13: the owner's state says why); a revoked credential
 * is revoked for good; a rotated one is revoked when its grace ends (`revokesAt`), whether or not
 * the revocation is recorded yet, as an application key expires at its `expiresAt`. `owner` is
 * null for org credentials, and for read models, which record an owner's disabling as its keys'
 * revocation.
 */
export function credentialState(credential: CredentialStatusFacts, owner: { readonly active: boolean } | null, now: Date): CredentialState {
  if (owner !== null && !owner.active) return 'OWNER_DISABLED';
  if (!credential.active) return 'REVOKED';
  if (credential.revokesAt !== null && credential.revokesAt <= now.toISOString()) return 'REVOKED';
  if (credential.expiresAt !== null && credential.expiresAt <= now.toISOString()) return 'EXPIRED';
  return 'ACTIVE';
}

export function credentialStatus(credential: CredentialStatusFacts, owner: { readonly active: boolean } | null, now: Date): CredentialStatus {
  const state = credentialState(credential, owner, now);
  return state === 'OWNER_DISABLED' ? 'REVOKED' : state;
}
