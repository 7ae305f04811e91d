// The lifecycle events API tests expect a mutation to append (spec section 5), written from the
// spec, not from the product's deciders: one builder per event type, each giving the stream and
// the whole data an event must carry. Ids may be given as the API shows them (Relay global ids)
// or as UUIDs; events hold UUIDs. A created credential's event holds a SHA-256 digest and the
// secret's last four characters, never the secret: the digest's value is not asserted, only its
// form.

import { decodeGlobalID } from '@pothos/plugin-relay';
import { expect } from 'vitest';
import { ViewerDocument } from '../gql/graphql.js';
import type { AppendedEvent, Credentials, TestGateway } from './gateway.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The UUID behind an id: a UUID as is, or a Relay global id decoded (of one of `typenames`, when given). */
export function uuidOf(id: string, typenames?: readonly string[]): string {
  if (UUID.test(id)) return id;
  const { typename, id: inner } = decodeGlobalID(id);
  if (typenames && !typenames.includes(typename)) throw new Error(`${id} is a ${typename} id, not a ${typenames.join(' or ')} id`);
  if (!UUID.test(inner)) throw new Error(`${id} does not hold a UUID`);
  return inner;
}

const org = (id: string) => uuidOf(id, ['Organization']);
const principal = (id: string) => uuidOf(id, ['User', 'ServiceAccount']);
const creator = (id: string | null) => (id === null ? null : principal(id));

const orgStream = (orgId: string) => `org-${org(orgId)}`;
const principalStream = (principalId: string) => `principal-${principal(principalId)}`;

/** Roles as events spell them ('admin', 'standard', 'read_only'); the API's enum is upper case. */
const roleOf = (role: string) => role.toLowerCase();

/** What a created credential's event holds of its secret: a SHA-256 digest (64 hex) and the secret's last four characters. */
function secretTrace(secret: string): { digest: unknown; last4: string } {
  expect(secret, 'a secret as the API returns it').toMatch(/^klk_(api|app|pub)_[0-9A-Za-z]{38}$/);
  return { digest: expect.stringMatching(/^[0-9a-f]{64}$/), last4: secret.slice(-4) };
}

/** No event holds any of these secrets, whole or without its prefix. */
export function expectNoSecretIn(events: readonly AppendedEvent[], ...secrets: string[]): void {
  const text = JSON.stringify(events);
  for (const secret of secrets) {
    expect(secret).toMatch(/^klk_(api|app|pub)_[0-9A-Za-z]{38}$/);
    expect(text.includes(secret.slice('klk_xxx_'.length)), `an event holds the secret ending ${secret.slice(-4)}`).toBe(false);
  }
}

/** Who acts with a credential: the org's and the principal's UUIDs (asked once per gateway and credential). */
const acting = new WeakMap<TestGateway, Map<string, Promise<{ orgId: string; principalId: string }>>>();
export function actingAs(g: TestGateway, as: Credentials): Promise<{ orgId: string; principalId: string }> {
  let known = acting.get(g);
  if (!known) acting.set(g, (known = new Map()));
  const key = `${as.apiKey} ${as.applicationKey}`;
  let found = known.get(key);
  if (!found) {
    found = g.call(ViewerDocument, {}, as).then((answer) => {
      expect(answer.errors, 'viewer of the acting credential').toBeUndefined();
      return { orgId: org(answer.data!.viewer.organization.id), principalId: principal(answer.data!.viewer.principal.id) };
    });
    known.set(key, found);
  }
  return found;
}

// ── org-{orgId} ──────────────────────────────────────────────────────────────

export function apiKeyLimitChanged(e: { orgId: string; apiKeyLimit: number; previousLimit: number }) {
  return { type: 'ApiKeyLimitChanged', stream: orgStream(e.orgId), data: { orgId: org(e.orgId), apiKeyLimit: e.apiKeyLimit, previousLimit: e.previousLimit } };
}

export function apiKeyCreated(e: { orgId: string; keyId: string; name: string; secret: string; createdBy: string | null }) {
  return {
    type: 'ApiKeyCreated',
    stream: orgStream(e.orgId),
    data: { orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApiKey']), name: e.name, ...secretTrace(e.secret), createdBy: creator(e.createdBy) },
  };
}

export function apiKeyRenamed(e: { orgId: string; keyId: string; name: string; previousName: string }) {
  return { type: 'ApiKeyRenamed', stream: orgStream(e.orgId), data: { orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApiKey']), name: e.name, previousName: e.previousName } };
}

export function apiKeyRevoked(e: { orgId: string; keyId: string; reason?: string }) {
  return { type: 'ApiKeyRevoked', stream: orgStream(e.orgId), data: { orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApiKey']), reason: e.reason ?? 'REVOKED' } };
}

export function clientTokenCreated(e: { orgId: string; tokenId: string; name: string; secret: string; allowedOrigins?: readonly string[]; createdBy: string | null }) {
  return {
    type: 'ClientTokenCreated',
    stream: orgStream(e.orgId),
    data: {
      orgId: org(e.orgId),
      tokenId: uuidOf(e.tokenId, ['ClientToken']),
      name: e.name,
      ...secretTrace(e.secret),
      allowedOrigins: [...(e.allowedOrigins ?? [])],
      createdBy: creator(e.createdBy),
    },
  };
}

export function clientTokenRenamed(e: { orgId: string; tokenId: string; name: string; previousName: string }) {
  return {
    type: 'ClientTokenRenamed',
    stream: orgStream(e.orgId),
    data: { orgId: org(e.orgId), tokenId: uuidOf(e.tokenId, ['ClientToken']), name: e.name, previousName: e.previousName },
  };
}

export function clientTokenRevoked(e: { orgId: string; tokenId: string; reason?: string }) {
  return { type: 'ClientTokenRevoked', stream: orgStream(e.orgId), data: { orgId: org(e.orgId), tokenId: uuidOf(e.tokenId, ['ClientToken']), reason: e.reason ?? 'REVOKED' } };
}

// ── principal-{principalId} ──────────────────────────────────────────────────

export function userInvited(e: { principalId: string; orgId: string; email: string; name: string; role: string }) {
  return {
    type: 'UserInvited',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), email: e.email, name: e.name, role: roleOf(e.role) },
  };
}

export function serviceAccountCreated(e: { principalId: string; orgId: string; name: string; role: string }) {
  return {
    type: 'ServiceAccountCreated',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), name: e.name, role: roleOf(e.role) },
  };
}

export function principalRoleChanged(e: { principalId: string; orgId: string; role: string; previousRole: string }) {
  return {
    type: 'PrincipalRoleChanged',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), role: roleOf(e.role), previousRole: roleOf(e.previousRole) },
  };
}

export function principalDisabled(e: { principalId: string; orgId: string }) {
  return { type: 'PrincipalDisabled', stream: principalStream(e.principalId), data: { principalId: principal(e.principalId), orgId: org(e.orgId) } };
}

export function applicationKeyCreated(e: {
  principalId: string;
  orgId: string;
  keyId: string;
  name: string;
  secret: string;
  scopes?: readonly string[] | null;
  expiresAt?: string | null;
  createdBy: string | null;
}) {
  return {
    type: 'ApplicationKeyCreated',
    stream: principalStream(e.principalId),
    data: {
      principalId: principal(e.principalId),
      orgId: org(e.orgId),
      keyId: uuidOf(e.keyId, ['ApplicationKey']),
      name: e.name,
      ...secretTrace(e.secret),
      scopes: e.scopes ? [...e.scopes] : null,
      expiresAt: e.expiresAt ?? null,
      createdBy: creator(e.createdBy),
    },
  };
}

export function applicationKeyScoped(e: { principalId: string; orgId: string; keyId: string; scopes: readonly string[] | null; previousScopes: readonly string[] | null }) {
  return {
    type: 'ApplicationKeyScoped',
    stream: principalStream(e.principalId),
    data: {
      principalId: principal(e.principalId),
      orgId: org(e.orgId),
      keyId: uuidOf(e.keyId, ['ApplicationKey']),
      scopes: e.scopes ? [...e.scopes] : null,
      previousScopes: e.previousScopes ? [...e.previousScopes] : null,
    },
  };
}

export function applicationKeyRenamed(e: { principalId: string; orgId: string; keyId: string; name: string; previousName: string }) {
  return {
    type: 'ApplicationKeyRenamed',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApplicationKey']), name: e.name, previousName: e.previousName },
  };
}

export function applicationKeyRevoked(e: { principalId: string; orgId: string; keyId: string; reason?: string }) {
  return {
    type: 'ApplicationKeyRevoked',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApplicationKey']), reason: e.reason ?? 'REVOKED' },
  };
}

export function applicationKeyOwnerDisabled(e: { principalId: string; orgId: string; keyId: string }) {
  return {
    type: 'ApplicationKeyOwnerDisabled',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApplicationKey']), reason: 'OWNER_DISABLED' },
  };
}

// ── rotation (R18) and expiry (R19) ──────────────────────────────────────────

/** ApiKeyRotated: the predecessor `keyId`, its successor (same name, a new secret: digest and last4 only) and the end of the grace. */
export function apiKeyRotated(e: { orgId: string; keyId: string; successorId: string; name: string; secret: string; createdBy: string | null; revokeAt: string }) {
  return {
    type: 'ApiKeyRotated',
    stream: orgStream(e.orgId),
    data: {
      orgId: org(e.orgId),
      keyId: uuidOf(e.keyId, ['ApiKey']),
      successorId: uuidOf(e.successorId, ['ApiKey']),
      name: e.name,
      ...secretTrace(e.secret),
      createdBy: creator(e.createdBy),
      revokeAt: e.revokeAt,
    },
  };
}

/** ApplicationKeyRotated: in the owner's stream, the successor with the predecessor's name, scopes and expiry. */
export function applicationKeyRotated(e: {
  principalId: string;
  orgId: string;
  keyId: string;
  successorId: string;
  name: string;
  secret: string;
  scopes: readonly string[] | null;
  expiresAt: string | null;
  createdBy: string | null;
  revokeAt: string;
}) {
  return {
    type: 'ApplicationKeyRotated',
    stream: principalStream(e.principalId),
    data: {
      principalId: principal(e.principalId),
      orgId: org(e.orgId),
      keyId: uuidOf(e.keyId, ['ApplicationKey']),
      successorId: uuidOf(e.successorId, ['ApplicationKey']),
      name: e.name,
      ...secretTrace(e.secret),
      scopes: e.scopes ? [...e.scopes] : null,
      expiresAt: e.expiresAt,
      createdBy: creator(e.createdBy),
      revokeAt: e.revokeAt,
    },
  };
}

export function applicationKeyExpired(e: { principalId: string; orgId: string; keyId: string; expiresAt: string }) {
  return {
    type: 'ApplicationKeyExpired',
    stream: principalStream(e.principalId),
    data: { principalId: principal(e.principalId), orgId: org(e.orgId), keyId: uuidOf(e.keyId, ['ApplicationKey']), expiresAt: e.expiresAt },
  };
}
