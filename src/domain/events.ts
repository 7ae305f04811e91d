// Every event keyledger appends (spec section 5), as one discriminated union per stream, and
// what each event is about. Stored events are history: their shapes never change, new facts
// get new event types. `EVENT_SUBJECT` is a Record over every type, so a new event type does
// not compile until it says what it is about; the consumers that fold it then fail to compile
// until they handle it (their switches end in `never`).

import type { Permission, Role } from './permissions.js';
import type { RequestEvent } from './requests.js';

export type CredentialKind = 'API_KEY' | 'APPLICATION_KEY' | 'CLIENT_TOKEN';
export const CREDENTIAL_KINDS = ['API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN'] as const satisfies readonly CredentialKind[];
/** Compiles only while CREDENTIAL_KINDS lists every kind. */
const everyKindListed: [Exclude<CredentialKind, (typeof CREDENTIAL_KINDS)[number]>] extends [never] ? true : false = true;
void everyKindListed;

export type PrincipalKind = 'USER' | 'SERVICE_ACCOUNT';

export type RevocationReason = 'REVOKED' | 'OWNER_DISABLED' | 'ROTATED';

/** Stream `org-{orgId}`: the organization, its API keys and its client tokens. */
export type OrganizationEvent =
  | { type: 'OrganizationCreated'; data: { orgId: string; name: string; apiKeyLimit: number } }
  | { type: 'ApiKeyLimitChanged'; data: { orgId: string; apiKeyLimit: number; previousLimit: number } }
  | { type: 'ApiKeyCreated'; data: { orgId: string; keyId: string; name: string; digest: string; last4: string; createdBy: string | null } }
  | { type: 'ApiKeyRenamed'; data: { orgId: string; keyId: string; name: string; previousName: string } }
  | { type: 'ApiKeyRevoked'; data: { orgId: string; keyId: string; reason: RevocationReason } }
  | {
      /** R18: `keyId` (the predecessor) is succeeded by `successorId`, made with the same name and a new secret; the predecessor is revoked at `revokeAt`. */
      type: 'ApiKeyRotated';
      data: { orgId: string; keyId: string; successorId: string; name: string; digest: string; last4: string; createdBy: string | null; revokeAt: string };
    }
  | {
      type: 'ClientTokenCreated';
      data: { orgId: string; tokenId: string; name: string; digest: string; last4: string; allowedOrigins: string[]; createdBy: string | null };
    }
  | { type: 'ClientTokenRenamed'; data: { orgId: string; tokenId: string; name: string; previousName: string } }
  | { type: 'ClientTokenRevoked'; data: { orgId: string; tokenId: string; reason: RevocationReason } };

/** Stream `principal-{principalId}`: a user or service account and the application keys it owns. */
export type PrincipalEvent =
  | { type: 'UserInvited'; data: { principalId: string; orgId: string; email: string; name: string; role: Role } }
  | { type: 'ServiceAccountCreated'; data: { principalId: string; orgId: string; name: string; role: Role } }
  | { type: 'PrincipalRoleChanged'; data: { principalId: string; orgId: string; role: Role; previousRole: Role } }
  | { type: 'PrincipalDisabled'; data: { principalId: string; orgId: string } }
  | {
      type: 'ApplicationKeyCreated';
      data: {
        principalId: string;
        orgId: string;
        keyId: string;
        name: string;
        digest: string;
        last4: string;
        scopes: Permission[] | null;
        expiresAt: string | null;
        createdBy: string | null;
      };
    }
  | { type: 'ApplicationKeyScoped'; data: { principalId: string; orgId: string; keyId: string; scopes: Permission[] | null; previousScopes: Permission[] | null } }
  | { type: 'ApplicationKeyRenamed'; data: { principalId: string; orgId: string; keyId: string; name: string; previousName: string } }
  | { type: 'ApplicationKeyRevoked'; data: { principalId: string; orgId: string; keyId: string; reason: RevocationReason } }
  | {
      /** R18: `keyId` (the predecessor) is succeeded by `successorId`, with the same name, scopes, owner and expiry and a new secret; the predecessor is revoked at `revokeAt`. */
      type: 'ApplicationKeyRotated';
      data: {
        principalId: string;
        orgId: string;
        keyId: string;
        successorId: string;
        name: string;
        digest: string;
        last4: string;
        scopes: Permission[] | null;
        expiresAt: string | null;
        createdBy: string | null;
        revokeAt: string;
      };
    }
  /** R19: the key passed its `expiresAt` (it stopped authenticating then, whether or not this was recorded yet). */
  | { type: 'ApplicationKeyExpired'; data: { principalId: string; orgId: string; keyId: string; expiresAt: string } }
  | { type: 'ApplicationKeyOwnerDisabled'; data: { principalId: string; orgId: string; keyId: string; reason: 'OWNER_DISABLED' } };

/** A change to the organization, a principal or a credential: what the audit log records beside requests (R23). */
export type LifecycleEvent = OrganizationEvent | PrincipalEvent;
export type KeyledgerEvent = LifecycleEvent | RequestEvent;
export type KeyledgerEventType = KeyledgerEvent['type'];

export type SubjectKind = 'ORGANIZATION' | 'PRINCIPAL' | CredentialKind | 'REQUEST';

/** What each event is about. */
export const EVENT_SUBJECT = {
  OrganizationCreated: 'ORGANIZATION',
  ApiKeyLimitChanged: 'ORGANIZATION',
  ApiKeyCreated: 'API_KEY',
  ApiKeyRenamed: 'API_KEY',
  ApiKeyRevoked: 'API_KEY',
  ApiKeyRotated: 'API_KEY',
  ClientTokenCreated: 'CLIENT_TOKEN',
  ClientTokenRenamed: 'CLIENT_TOKEN',
  ClientTokenRevoked: 'CLIENT_TOKEN',
  UserInvited: 'PRINCIPAL',
  ServiceAccountCreated: 'PRINCIPAL',
  PrincipalRoleChanged: 'PRINCIPAL',
  PrincipalDisabled: 'PRINCIPAL',
  ApplicationKeyCreated: 'APPLICATION_KEY',
  ApplicationKeyScoped: 'APPLICATION_KEY',
  ApplicationKeyRenamed: 'APPLICATION_KEY',
  ApplicationKeyRevoked: 'APPLICATION_KEY',
  ApplicationKeyRotated: 'APPLICATION_KEY',
  ApplicationKeyExpired: 'APPLICATION_KEY',
  ApplicationKeyOwnerDisabled: 'APPLICATION_KEY',
  RequestAuthenticated: 'REQUEST',
  RequestDenied: 'REQUEST',
} as const satisfies Record<KeyledgerEventType, SubjectKind>;

type TypesAbout<K extends SubjectKind> = { [T in KeyledgerEventType]: (typeof EVENT_SUBJECT)[T] extends K ? T : never }[KeyledgerEventType];

function typesAbout<K extends SubjectKind>(...kinds: readonly K[]): TypesAbout<K>[] {
  const wanted: readonly SubjectKind[] = kinds;
  return (Object.keys(EVENT_SUBJECT) as KeyledgerEventType[]).filter((type): type is TypesAbout<K> => wanted.includes(EVENT_SUBJECT[type]));
}

export type CredentialEventType = TypesAbout<CredentialKind>;
export type CredentialEvent = Extract<LifecycleEvent, { type: CredentialEventType }>;
export const CREDENTIAL_EVENT_TYPES: readonly CredentialEventType[] = typesAbout('API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN');

export type PrincipalLifecycleEventType = TypesAbout<'PRINCIPAL'>;
export type PrincipalLifecycleEvent = Extract<PrincipalEvent, { type: PrincipalLifecycleEventType }>;
export const PRINCIPAL_EVENT_TYPES: readonly PrincipalLifecycleEventType[] = typesAbout('PRINCIPAL');

export type OrganizationLifecycleEventType = TypesAbout<'ORGANIZATION'>;
export type OrganizationLifecycleEvent = Extract<OrganizationEvent, { type: OrganizationLifecycleEventType }>;
export const ORGANIZATION_EVENT_TYPES: readonly OrganizationLifecycleEventType[] = typesAbout('ORGANIZATION');

export type LifecycleEventType = LifecycleEvent['type'];
export const LIFECYCLE_EVENT_TYPES: readonly LifecycleEventType[] = typesAbout('ORGANIZATION', 'PRINCIPAL', 'API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN');

export type RequestEventType = TypesAbout<'REQUEST'>;
export const REQUEST_EVENT_TYPES: readonly RequestEventType[] = typesAbout('REQUEST');

export function isKeyledgerEventType(type: string): type is KeyledgerEventType {
  return Object.hasOwn(EVENT_SUBJECT, type);
}

/** The id of what a lifecycle event is about: the credential, the principal or the organization. */
export function subjectIdOf(event: LifecycleEvent): string {
  switch (event.type) {
    case 'OrganizationCreated':
    case 'ApiKeyLimitChanged':
      return event.data.orgId;
    case 'ApiKeyCreated':
    case 'ApiKeyRenamed':
    case 'ApiKeyRevoked':
    case 'ApiKeyRotated':
    case 'ApplicationKeyCreated':
    case 'ApplicationKeyScoped':
    case 'ApplicationKeyRenamed':
    case 'ApplicationKeyRevoked':
    case 'ApplicationKeyRotated':
    case 'ApplicationKeyExpired':
    case 'ApplicationKeyOwnerDisabled':
      return event.data.keyId;
    case 'ClientTokenCreated':
    case 'ClientTokenRenamed':
    case 'ClientTokenRevoked':
      return event.data.tokenId;
    case 'UserInvited':
    case 'ServiceAccountCreated':
    case 'PrincipalRoleChanged':
    case 'PrincipalDisabled':
      return event.data.principalId;
    default: {
      const unhandled: never = event;
      throw new Error(`no subject for ${JSON.stringify(unhandled)}`);
    }
  }
}

const CREDENTIAL_TYPES: ReadonlySet<string> = new Set(CREDENTIAL_EVENT_TYPES);
const PRINCIPAL_TYPES: ReadonlySet<string> = new Set(PRINCIPAL_EVENT_TYPES);

export function isCredentialEvent<E extends { readonly type: string }>(event: E): event is Extract<E, { type: CredentialEventType }> {
  return CREDENTIAL_TYPES.has(event.type);
}

export function isPrincipalLifecycleEvent<E extends { readonly type: string }>(event: E): event is Extract<E, { type: PrincipalLifecycleEventType }> {
  return PRINCIPAL_TYPES.has(event.type);
}

/** Which stream category holds the events about each subject (spec section 5). */
const STREAM_OF: Readonly<Record<SubjectKind, 'org' | 'principal' | 'requests'>> = {
  ORGANIZATION: 'org',
  API_KEY: 'org',
  CLIENT_TOKEN: 'org',
  PRINCIPAL: 'principal',
  APPLICATION_KEY: 'principal',
  REQUEST: 'requests',
};

export function isOrganizationEvent<E extends { readonly type: KeyledgerEventType }>(event: E): event is Extract<E, OrganizationEvent> {
  return STREAM_OF[EVENT_SUBJECT[event.type]] === 'org';
}

export function isPrincipalEvent<E extends { readonly type: KeyledgerEventType }>(event: E): event is Extract<E, PrincipalEvent> {
  return STREAM_OF[EVENT_SUBJECT[event.type]] === 'principal';
}
