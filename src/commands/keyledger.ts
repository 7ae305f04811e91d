// keyledger's use cases: each mutation of the API and each operator command, as one call that
// makes ids and secrets, runs the command on its aggregate, and returns what the caller needs
// (the new secret exactly once). GraphQL and the CLI both call these; the rules live in the domain.

import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { OPERATOR, requireAnyPermission, SCHEDULER, type Actor } from '../domain/actor.js';
import { DomainError, notFound } from '../domain/errors.js';
import { APPLICATION_KEY_PERMISSIONS, parseEmail } from '../domain/principal.js';
import { issueSecret } from '../domain/secrets.js';
import { applicationKeyOwner, credentialById } from '../../projections/credentials/queries.js';
import type { CredentialsTable } from '../../projections/credentials/tables.js';
import { organizationById } from '../../projections/organizations/queries.js';
import type { OrganizationsTable } from '../../projections/organizations/tables.js';
import { principalById } from '../../projections/principals/queries.js';
import type { PrincipalsTable } from '../../projections/principals/tables.js';
import type { ReadDb } from '../../projections/read-models.js';
import { OrganizationAggregate, PrincipalAggregate } from './aggregates.js';
import type { CommandHandler } from './handler.js';

export interface IssuedCredential {
  readonly credential: CredentialsTable;
  /** Returned once, here; never stored or shown again. */
  readonly secret: string;
}

/** A rotation's outcome (R18): the successor with its secret, and the predecessor as it now stands. */
export interface RotatedCredential extends IssuedCredential {
  readonly predecessor: CredentialsTable;
}

export interface InitializedOrg {
  readonly organization: OrganizationsTable;
  readonly admin: PrincipalsTable;
  readonly apiKey: IssuedCredential;
  readonly applicationKey: IssuedCredential;
}

/**
 * A user's id follows from its org and email, so that "one user per email in an org" is decided
 * by the principal stream itself (appended with no_stream), without a cross-stream lookup.
 */
function userPrincipalId(orgId: string, email: string): string {
  return uuidv5(parseEmail(email), orgId);
}

export class Keyledger {
  readonly #commands: CommandHandler;
  readonly #db: ReadDb;
  readonly #now: () => Date;

  constructor(options: { commands: CommandHandler; db: ReadDb; now?: () => Date }) {
    this.#commands = options.commands;
    this.#db = options.db;
    this.#now = options.now ?? (() => new Date());
  }

  // ── operator (command line) ──────────────────────────────────────────────

  async initOrg(input: { name: string; adminEmail: string; adminName?: string; apiKeyLimit?: number; requestId?: string }): Promise<InitializedOrg> {
    const orgId = randomUUID();
    const adminId = userPrincipalId(orgId, input.adminEmail);
    const apiKey = issueSecret('API_KEY');
    const apiKeyId = randomUUID();
    const requestId = input.requestId ?? randomUUID();
    await this.#commands.execute(
      OrganizationAggregate,
      orgId,
      {
        type: 'CreateOrganization',
        orgId,
        name: input.name,
        ...(input.apiKeyLimit === undefined ? {} : { apiKeyLimit: input.apiKeyLimit }),
        firstApiKey: { keyId: apiKeyId, name: 'Default API key', digest: apiKey.digest, last4: apiKey.last4 },
        createdBy: adminId,
      },
      OPERATOR,
      requestId,
    );
    await this.#commands.execute(
      PrincipalAggregate,
      adminId,
      { type: 'InviteUser', principalId: adminId, orgId, email: input.adminEmail, name: input.adminName ?? input.adminEmail, role: 'admin' },
      OPERATOR,
      requestId,
    );
    const applicationKey = await this.#issueApplicationKey(OPERATOR, adminId, { name: 'Default application key', scopes: null, expiresAt: null }, requestId);
    return {
      organization: await this.organization(orgId),
      admin: await this.principal(adminId),
      apiKey: { credential: await this.credential(apiKeyId), secret: apiKey.secret },
      applicationKey,
    };
  }

  async setApiKeyLimit(orgId: string, apiKeyLimit: number): Promise<OrganizationsTable> {
    await this.#commands.execute(OrganizationAggregate, orgId, { type: 'ChangeApiKeyLimit', apiKeyLimit }, OPERATOR);
    return this.organization(orgId);
  }

  // ── API keys and client tokens (the org stream) ──────────────────────────

  async createApiKey(actor: Actor, input: { name: string }, requestId?: string): Promise<IssuedCredential> {
    const orgId = this.#orgOf(actor);
    const keyId = randomUUID();
    const issued = issueSecret('API_KEY');
    await this.#commands.execute(OrganizationAggregate, orgId, { type: 'CreateApiKey', keyId, name: input.name, digest: issued.digest, last4: issued.last4 }, actor, requestId);
    return { credential: await this.credential(keyId), secret: issued.secret };
  }

  async renameApiKey(actor: Actor, input: { id: string; name: string }, requestId?: string): Promise<CredentialsTable> {
    await this.#commands.execute(OrganizationAggregate, this.#orgOf(actor), { type: 'RenameApiKey', keyId: input.id, name: input.name }, actor, requestId);
    return this.credential(input.id);
  }

  async revokeApiKey(actor: Actor, input: { id: string }, requestId?: string): Promise<CredentialsTable> {
    await this.#commands.execute(OrganizationAggregate, this.#orgOf(actor), { type: 'RevokeApiKey', keyId: input.id }, actor, requestId);
    return this.credential(input.id);
  }

  /** R18: a successor with a new secret; the key is revoked when `gracePeriodSeconds` have passed (at once for 0). */
  async rotateApiKey(actor: Actor, input: { id: string; gracePeriodSeconds: number }, requestId?: string): Promise<RotatedCredential> {
    const successorId = randomUUID();
    const issued = issueSecret('API_KEY');
    await this.#commands.execute(
      OrganizationAggregate,
      this.#orgOf(actor),
      { type: 'RotateApiKey', keyId: input.id, successorId, gracePeriodSeconds: input.gracePeriodSeconds, now: this.#now(), digest: issued.digest, last4: issued.last4 },
      actor,
      requestId,
    );
    return { credential: await this.credential(successorId), secret: issued.secret, predecessor: await this.credential(input.id) };
  }

  async createClientToken(actor: Actor, input: { name: string; allowedOrigins: readonly string[] }, requestId?: string): Promise<IssuedCredential> {
    const tokenId = randomUUID();
    const issued = issueSecret('CLIENT_TOKEN');
    await this.#commands.execute(
      OrganizationAggregate,
      this.#orgOf(actor),
      { type: 'CreateClientToken', tokenId, name: input.name, allowedOrigins: input.allowedOrigins, digest: issued.digest, last4: issued.last4 },
      actor,
      requestId,
    );
    return { credential: await this.credential(tokenId), secret: issued.secret };
  }

  async renameClientToken(actor: Actor, input: { id: string; name: string }, requestId?: string): Promise<CredentialsTable> {
    await this.#commands.execute(OrganizationAggregate, this.#orgOf(actor), { type: 'RenameClientToken', tokenId: input.id, name: input.name }, actor, requestId);
    return this.credential(input.id);
  }

  async revokeClientToken(actor: Actor, input: { id: string }, requestId?: string): Promise<CredentialsTable> {
    await this.#commands.execute(OrganizationAggregate, this.#orgOf(actor), { type: 'RevokeClientToken', tokenId: input.id }, actor, requestId);
    return this.credential(input.id);
  }

  // ── principals and their application keys (principal streams) ───────────

  async createApplicationKey(
    actor: Actor,
    input: { name: string; ownerId?: string | null; scopes: readonly string[] | null; expiresAt: Date | null },
    requestId?: string,
  ): Promise<IssuedCredential> {
    const ownerId = input.ownerId ?? (actor.kind === 'principal' ? actor.principalId : null);
    if (ownerId === null) throw new DomainError('BAD_USER_INPUT', 'ownerId is required', 'ownerId');
    return this.#issueApplicationKey(actor, ownerId, input, requestId);
  }

  async scopeApplicationKey(actor: Actor, input: { id: string; scopes: readonly string[] | null }, requestId?: string): Promise<CredentialsTable> {
    const ownerId = await this.#applicationKeyOwner(actor, input.id);
    await this.#commands.execute(PrincipalAggregate, ownerId, { type: 'ScopeApplicationKey', keyId: input.id, scopes: input.scopes }, actor, requestId);
    return this.credential(input.id);
  }

  async renameApplicationKey(actor: Actor, input: { id: string; name: string }, requestId?: string): Promise<CredentialsTable> {
    const ownerId = await this.#applicationKeyOwner(actor, input.id);
    await this.#commands.execute(PrincipalAggregate, ownerId, { type: 'RenameApplicationKey', keyId: input.id, name: input.name }, actor, requestId);
    return this.credential(input.id);
  }

  async revokeApplicationKey(actor: Actor, input: { id: string }, requestId?: string): Promise<CredentialsTable> {
    const ownerId = await this.#applicationKeyOwner(actor, input.id);
    await this.#commands.execute(PrincipalAggregate, ownerId, { type: 'RevokeApplicationKey', keyId: input.id }, actor, requestId);
    return this.credential(input.id);
  }

  /** R18: a successor with a new secret and the same name, scopes, owner and expiry; the key is revoked when `gracePeriodSeconds` have passed. */
  async rotateApplicationKey(actor: Actor, input: { id: string; gracePeriodSeconds: number }, requestId?: string): Promise<RotatedCredential> {
    const ownerId = await this.#applicationKeyOwner(actor, input.id);
    const successorId = randomUUID();
    const issued = issueSecret('APPLICATION_KEY');
    await this.#commands.execute(
      PrincipalAggregate,
      ownerId,
      { type: 'RotateApplicationKey', keyId: input.id, successorId, gracePeriodSeconds: input.gracePeriodSeconds, now: this.#now(), digest: issued.digest, last4: issued.last4 },
      actor,
      requestId,
    );
    return { credential: await this.credential(successorId), secret: issued.secret, predecessor: await this.credential(input.id) };
  }

  async inviteUser(actor: Actor, input: { email: string; name?: string | null; role: string }, requestId?: string): Promise<PrincipalsTable> {
    const orgId = this.#orgOf(actor);
    const principalId = userPrincipalId(orgId, input.email);
    await this.#commands.execute(
      PrincipalAggregate,
      principalId,
      { type: 'InviteUser', principalId, orgId, email: input.email, name: input.name ?? input.email, role: input.role },
      actor,
      requestId,
    );
    return this.principal(principalId);
  }

  async createServiceAccount(actor: Actor, input: { name: string; role: string }, requestId?: string): Promise<PrincipalsTable> {
    const orgId = this.#orgOf(actor);
    const principalId = randomUUID();
    await this.#commands.execute(PrincipalAggregate, principalId, { type: 'CreateServiceAccount', principalId, orgId, name: input.name, role: input.role }, actor, requestId);
    return this.principal(principalId);
  }

  async changeRole(actor: Actor, input: { principalId: string; role: string }, requestId?: string): Promise<PrincipalsTable> {
    await this.#commands.execute(PrincipalAggregate, input.principalId, { type: 'ChangeRole', role: input.role }, actor, requestId);
    return this.principal(input.principalId);
  }

  async disablePrincipal(actor: Actor, input: { principalId: string }, requestId?: string): Promise<PrincipalsTable> {
    await this.#commands.execute(PrincipalAggregate, input.principalId, { type: 'DisablePrincipal' }, actor, requestId);
    return this.principal(input.principalId);
  }

  // ── what time brings (the scheduler, as the system actor) ────────────────

  /**
   * R18: revokes a rotated key whose grace has ended (reason ROTATED). Decided against its stream:
   * true when this call appended the revocation, false when there was nothing to record (revoked
   * already, by hand or by an earlier call on any instance, or not yet due).
   */
  async endRotationGrace(key: { kind: 'API_KEY' | 'APPLICATION_KEY'; id: string; orgId: string; ownerId: string | null }): Promise<boolean> {
    const now = this.#now();
    const result =
      key.kind === 'API_KEY'
        ? await this.#commands.execute(OrganizationAggregate, key.orgId, { type: 'EndApiKeyGrace', keyId: key.id, now }, SCHEDULER)
        : await this.#commands.execute(PrincipalAggregate, this.#ownerOf(key), { type: 'EndApplicationKeyGrace', keyId: key.id, now }, SCHEDULER);
    return result.events.length > 0;
  }

  /** R19: records that an application key passed its expiresAt, once; true when this call appended it. */
  async recordExpiry(key: { id: string; ownerId: string | null }): Promise<boolean> {
    const result = await this.#commands.execute(PrincipalAggregate, this.#ownerOf(key), { type: 'RecordApplicationKeyExpiry', keyId: key.id, now: this.#now() }, SCHEDULER);
    return result.events.length > 0;
  }

  // ── reads of what a command just wrote ───────────────────────────────────

  async organization(orgId: string): Promise<OrganizationsTable> {
    const row = await organizationById(this.#db, orgId);
    if (!row) throw notFound('organization');
    return row;
  }

  async principal(principalId: string): Promise<PrincipalsTable> {
    const row = await principalById(this.#db, principalId);
    if (!row) throw notFound('principal');
    return row;
  }

  async credential(id: string): Promise<CredentialsTable> {
    const row = await credentialById(this.#db, id);
    if (!row) throw notFound('credential');
    return row;
  }

  async #issueApplicationKey(
    actor: Actor,
    ownerId: string,
    input: { name: string; scopes: readonly string[] | null; expiresAt: Date | null },
    requestId?: string,
  ): Promise<IssuedCredential> {
    const keyId = randomUUID();
    const issued = issueSecret('APPLICATION_KEY');
    await this.#commands.execute(
      PrincipalAggregate,
      ownerId,
      { type: 'CreateApplicationKey', keyId, name: input.name, scopes: input.scopes, expiresAt: input.expiresAt, now: this.#now(), digest: issued.digest, last4: issued.last4 },
      actor,
      requestId,
    );
    return { credential: await this.credential(keyId), secret: issued.secret };
  }

  /** The stream of an application key is its owner's; a key of another org does not exist (R20). */
  async #applicationKeyOwner(actor: Actor, keyId: string): Promise<string> {
    // R20: lacking every application-key permission is FORBIDDEN before the key is looked up.
    requireAnyPermission(actor, APPLICATION_KEY_PERMISSIONS);
    const key = await applicationKeyOwner(this.#db, keyId);
    if (!key || (actor.kind === 'principal' && key.orgId !== actor.orgId)) throw notFound('application key');
    return key.ownerId;
  }

  #ownerOf(key: { id: string; ownerId: string | null }): string {
    if (key.ownerId === null) throw new Error(`application key ${key.id} has no owner`);
    return key.ownerId;
  }

  #orgOf(actor: Actor): string {
    if (actor.kind !== 'principal') throw new DomainError('BAD_USER_INPUT', 'an operator acts on an organization through the command line');
    return actor.orgId;
  }
}
