// The organization aggregate (stream `org-{orgId}`): its API-key limit, its API keys and its
// client tokens. Org-wide invariants (R1-R3, R11) hold because they are decided on this one
// stream and appended with its expected revision; so does a rotation's revocation at the end of
// its grace (R18): decided against the stream, it is appended once however often it is asked for.

import { requirePermission, requireSameOrg, requireTimedActor, type Actor } from './actor.js';
import { DomainError, notFound } from './errors.js';
import { credentialChange, type CredentialChange } from './credential.js';
import type { OrganizationEvent } from './events.js';
import { MAX_ORIGIN_LENGTH, quoted, requireBoundedText } from './input.js';
import { parseName } from './names.js';
import { CredentialTable, holds } from './persistent-map.js';
import { graceEnd, graceEnded, requireNotRotated, type Rotation } from './rotation.js';

const DEFAULT_API_KEY_LIMIT = 50;
const MAX_API_KEY_LIMIT = 10_000;
const MAX_ALLOWED_ORIGINS = 50;

interface OrgCredential {
  readonly id: string;
  readonly name: string;
  readonly nameKey: string;
  readonly active: boolean;
  /** R18: rotated and in its grace (until revoked): it holds neither a slot (R2) nor its name (R3). */
  readonly rotation: Rotation | null;
}

export type OrganizationState =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly orgId: string;
      readonly name: string;
      readonly apiKeyLimit: number;
      readonly apiKeys: CredentialTable<OrgCredential>;
      readonly clientTokens: CredentialTable<OrgCredential>;
    };

export const initialOrganizationState: OrganizationState = { exists: false };

/**
 * Applies a credential change to one kind's table. Scoping is for application keys, which live in principal streams.
 * The table is persistent: folding a stream copies nothing, so it is linear in the stream's length.
 */
function applyChange(table: CredentialTable<OrgCredential>, change: CredentialChange): CredentialTable<OrgCredential> {
  switch (change.change) {
    case 'created': {
      const { id, name } = change.credential;
      return table.put({ id, name, nameKey: parseName(name).key, active: true, rotation: null });
    }
    case 'rotated': {
      const current = table.get(change.id);
      const { id, name } = change.successor;
      const next = table.put({ id, name, nameKey: parseName(name).key, active: true, rotation: null });
      return current ? next.put({ ...current, rotation: { successorId: id, revokeAt: change.revokeAt } }) : next;
    }
    case 'renamed': {
      const current = table.get(change.id);
      return current ? table.put({ ...current, name: change.name, nameKey: parseName(change.name).key }) : table;
    }
    case 'revoked': {
      const current = table.get(change.id);
      return current ? table.put({ ...current, active: false }) : table;
    }
    case 'scoped':
    case 'expired':
      return table;
    default: {
      const unhandled: never = change;
      throw new Error(`unknown credential change ${JSON.stringify(unhandled)}`);
    }
  }
}

export function evolveOrganization(state: OrganizationState, event: OrganizationEvent): OrganizationState {
  if (event.type === 'OrganizationCreated') {
    return {
      exists: true,
      orgId: event.data.orgId,
      name: event.data.name,
      apiKeyLimit: event.data.apiKeyLimit,
      apiKeys: CredentialTable.empty(),
      clientTokens: CredentialTable.empty(),
    };
  }
  if (!state.exists) return state;
  switch (event.type) {
    case 'ApiKeyLimitChanged':
      return { ...state, apiKeyLimit: event.data.apiKeyLimit };
    case 'ApiKeyCreated':
    case 'ApiKeyRenamed':
    case 'ApiKeyRotated':
    case 'ApiKeyRevoked':
      return { ...state, apiKeys: applyChange(state.apiKeys, credentialChange(event)) };
    case 'ClientTokenCreated':
    case 'ClientTokenRenamed':
    case 'ClientTokenRevoked':
      return { ...state, clientTokens: applyChange(state.clientTokens, credentialChange(event)) };
    default: {
      const unhandled: never = event;
      throw new Error(`unknown organization event ${JSON.stringify(unhandled)}`);
    }
  }
}

export interface NewSecret {
  readonly digest: string;
  readonly last4: string;
}

export type OrganizationCommand =
  | { type: 'CreateOrganization'; orgId: string; name: string; apiKeyLimit?: number; firstApiKey: { keyId: string; name: string } & NewSecret; createdBy: string | null }
  | { type: 'ChangeApiKeyLimit'; apiKeyLimit: number }
  | ({ type: 'CreateApiKey'; keyId: string; name: string } & NewSecret)
  | { type: 'RenameApiKey'; keyId: string; name: string }
  | { type: 'RevokeApiKey'; keyId: string }
  /** R18: `successorId` and its secret are made by the caller; `now` starts the grace. */
  | ({ type: 'RotateApiKey'; keyId: string; successorId: string; gracePeriodSeconds: number; now: Date } & NewSecret)
  /** R18, the scheduler's: revokes a rotated API key whose grace has ended at `now`; nothing when it is revoked already or not due. */
  | { type: 'EndApiKeyGrace'; keyId: string; now: Date }
  | ({ type: 'CreateClientToken'; tokenId: string; name: string; allowedOrigins: readonly string[] } & NewSecret)
  | { type: 'RenameClientToken'; tokenId: string; name: string }
  | { type: 'RevokeClientToken'; tokenId: string };

type ExistingOrg = Extract<OrganizationState, { exists: true }>;

/** R3: unique among the org's active credentials of one kind, after trimming and case-folding; a rotated key in its grace holds no name (R18). */
function requireFreeName(table: CredentialTable<OrgCredential>, nameKey: string, except?: string): void {
  if (table.nameTaken(nameKey, except)) throw new DomainError('NAME_TAKEN', 'an active key of this kind already has this name', 'name');
}

function requireActive(table: CredentialTable<OrgCredential>, id: string, what: string): OrgCredential {
  const credential = table.get(id);
  if (!credential) throw notFound(what);
  if (!credential.active) throw new DomainError('ALREADY_REVOKED', `${what} is revoked; a revoked credential cannot be changed or restored`);
  return credential;
}

function parseApiKeyLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_API_KEY_LIMIT) {
    throw new DomainError('BAD_USER_INPUT', `the API-key limit must be a whole number from 1 to ${MAX_API_KEY_LIMIT}`, 'apiKeyLimit');
  }
  return limit;
}

/** Origins as browsers send them: scheme, host and port, nothing else. */
function parseAllowedOrigins(origins: readonly string[]): string[] {
  if (origins.length > MAX_ALLOWED_ORIGINS) throw new DomainError('BAD_USER_INPUT', `at most ${MAX_ALLOWED_ORIGINS} allowed origins`, 'allowedOrigins');
  const parsed = origins.map((raw) => {
    // R29: bounded and clean before it is parsed, let alone stored.
    requireBoundedText(raw, 'allowedOrigins', MAX_ORIGIN_LENGTH);
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new DomainError('BAD_USER_INPUT', `${quoted(raw)} is not an origin such as https://app.example.com`, 'allowedOrigins');
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== raw.trim().replace(/\/$/, '').toLowerCase()) {
      throw new DomainError('BAD_USER_INPUT', `${quoted(raw)} is not an origin such as https://app.example.com (scheme, host and port only)`, 'allowedOrigins');
    }
    return url.origin;
  });
  if (new Set(parsed).size !== parsed.length) throw new DomainError('BAD_USER_INPUT', 'allowed origins are listed twice', 'allowedOrigins');
  return parsed;
}

function existing(state: OrganizationState, actor: Actor): ExistingOrg {
  if (!state.exists) throw notFound('organization');
  requireSameOrg(actor, state.orgId, 'organization');
  return state;
}

/** The permission each command needs, whatever its target. */
function requireCommandPermission(command: Exclude<OrganizationCommand, { type: 'CreateOrganization' }>, actor: Actor): void {
  requireTimedActor(actor, command.type === 'EndApiKeyGrace');
  switch (command.type) {
    case 'ChangeApiKeyLimit':
      if (actor.kind !== 'operator') throw new DomainError('FORBIDDEN', "an organization's API-key limit is changed by an operator");
      return;
    case 'CreateApiKey':
    case 'RenameApiKey':
      return requirePermission(actor, 'api_keys_write');
    case 'RevokeApiKey':
      return requirePermission(actor, 'api_keys_delete');
    case 'RotateApiKey':
      // A rotation creates a key and revokes one: both permissions.
      requirePermission(actor, 'api_keys_write');
      return requirePermission(actor, 'api_keys_delete');
    case 'EndApiKeyGrace':
      return;
    case 'CreateClientToken':
    case 'RenameClientToken':
    case 'RevokeClientToken':
      return requirePermission(actor, 'client_tokens_write');
    default: {
      const unhandled: never = command;
      throw new Error(`unknown organization command ${JSON.stringify(unhandled)}`);
    }
  }
}

export function decideOrganization(command: OrganizationCommand, state: OrganizationState, actor: Actor): OrganizationEvent[] {
  if (command.type === 'CreateOrganization') {
    if (actor.kind !== 'operator') throw new DomainError('FORBIDDEN', 'organizations are created by an operator');
    if (state.exists) throw new DomainError('CONFLICT', 'this organization exists already');
    const name = parseName(command.name);
    const keyName = parseName(command.firstApiKey.name);
    const apiKeyLimit = parseApiKeyLimit(command.apiKeyLimit ?? DEFAULT_API_KEY_LIMIT);
    const { keyId, digest, last4 } = command.firstApiKey;
    return [
      { type: 'OrganizationCreated', data: { orgId: command.orgId, name: name.display, apiKeyLimit } },
      // R1: an organization starts with one API key.
      { type: 'ApiKeyCreated', data: { orgId: command.orgId, keyId, name: keyName.display, digest, last4, createdBy: command.createdBy } },
    ];
  }
  // R20: a credential that lacks the permission whatever the target is FORBIDDEN before any lookup.
  requireCommandPermission(command, actor);
  const org = existing(state, actor);
  const orgId = org.orgId;
  const createdBy = actor.kind === 'principal' ? actor.principalId : null;
  switch (command.type) {
    case 'ChangeApiKeyLimit': {
      const apiKeyLimit = parseApiKeyLimit(command.apiKeyLimit);
      if (apiKeyLimit === org.apiKeyLimit) return [];
      return [{ type: 'ApiKeyLimitChanged', data: { orgId, apiKeyLimit, previousLimit: org.apiKeyLimit } }];
    }
    case 'CreateApiKey': {
      const name = parseName(command.name);
      requireFreeName(org.apiKeys, name.key);
      // R2: at most apiKeyLimit active API keys.
      if (org.apiKeys.holding >= org.apiKeyLimit) {
        throw new DomainError('API_KEY_LIMIT', `this organization has its limit of ${org.apiKeyLimit} active API keys; revoke one or ask an operator to raise the limit`);
      }
      return [{ type: 'ApiKeyCreated', data: { orgId, keyId: command.keyId, name: name.display, digest: command.digest, last4: command.last4, createdBy } }];
    }
    case 'RenameApiKey': {
      const key = requireActive(org.apiKeys, command.keyId, 'API key');
      requireNotRotated(key, 'API key');
      const name = parseName(command.name);
      requireFreeName(org.apiKeys, name.key, key.id);
      if (name.display === key.name) return [];
      return [{ type: 'ApiKeyRenamed', data: { orgId, keyId: key.id, name: name.display, previousName: key.name } }];
    }
    case 'RevokeApiKey': {
      const key = requireActive(org.apiKeys, command.keyId, 'API key');
      // R1: an organization keeps at least one active API key (a rotated key in its grace is on its way out: its successor counts).
      if (holds(key) && org.apiKeys.holding <= 1) throw new DomainError('LAST_API_KEY', "this is the organization's last active API key; create another before revoking it");
      return [{ type: 'ApiKeyRevoked', data: { orgId, keyId: key.id, reason: 'REVOKED' } }];
    }
    case 'RotateApiKey': {
      const revokeAt = graceEnd(command.gracePeriodSeconds, command.now);
      const key = requireActive(org.apiKeys, command.keyId, 'API key');
      requireNotRotated(key, 'API key');
      // R2, R3: the successor takes the predecessor's slot and name, so neither refuses a rotation.
      const { successorId, digest, last4 } = command;
      const rotated: OrganizationEvent = { type: 'ApiKeyRotated', data: { orgId, keyId: key.id, successorId, name: key.name, digest, last4, createdBy, revokeAt } };
      // No grace: the predecessor is revoked in the same append.
      return command.gracePeriodSeconds === 0 ? [rotated, { type: 'ApiKeyRevoked', data: { orgId, keyId: key.id, reason: 'ROTATED' } }] : [rotated];
    }
    case 'EndApiKeyGrace': {
      const key = org.apiKeys.get(command.keyId);
      if (!key) throw notFound('API key');
      // Revoked already (by hand, or by an earlier attempt), not rotated, or not yet due: nothing to record.
      if (!key.active || key.rotation === null || !graceEnded(key.rotation, command.now)) return [];
      return [{ type: 'ApiKeyRevoked', data: { orgId, keyId: key.id, reason: 'ROTATED' } }];
    }
    case 'CreateClientToken': {
      const name = parseName(command.name);
      requireFreeName(org.clientTokens, name.key);
      const allowedOrigins = parseAllowedOrigins(command.allowedOrigins);
      return [
        { type: 'ClientTokenCreated', data: { orgId, tokenId: command.tokenId, name: name.display, digest: command.digest, last4: command.last4, allowedOrigins, createdBy } },
      ];
    }
    case 'RenameClientToken': {
      const token = requireActive(org.clientTokens, command.tokenId, 'client token');
      const name = parseName(command.name);
      requireFreeName(org.clientTokens, name.key, token.id);
      if (name.display === token.name) return [];
      return [{ type: 'ClientTokenRenamed', data: { orgId, tokenId: token.id, name: name.display, previousName: token.name } }];
    }
    case 'RevokeClientToken': {
      const token = requireActive(org.clientTokens, command.tokenId, 'client token');
      return [{ type: 'ClientTokenRevoked', data: { orgId, tokenId: token.id, reason: 'REVOKED' } }];
    }
    default: {
      const unhandled: never = command;
      throw new Error(`unknown organization command ${JSON.stringify(unhandled)}`);
    }
  }
}
