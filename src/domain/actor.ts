// Who performs a command: a principal through its credentials (the API), or the operator
// (the command line), who stands outside every organization's permissions.

import { DomainError, forbidden, notFound } from './errors.js';
import type { PrincipalKind } from './events.js';
import type { Permission, Role } from './permissions.js';

export interface PrincipalActor {
  readonly kind: 'principal';
  readonly orgId: string;
  readonly principalId: string;
  readonly principalKind: PrincipalKind;
  readonly role: Role;
  readonly apiKeyId: string;
  readonly applicationKeyId: string;
  /** The application key's scopes (null: unscoped). */
  readonly scopes: readonly Permission[] | null;
  /** R7: scopes intersected with the owner's current permissions. */
  readonly permissions: ReadonlySet<Permission>;
}

export interface OperatorActor {
  readonly kind: 'operator';
}

export type Actor = PrincipalActor | OperatorActor;

export const OPERATOR: OperatorActor = { kind: 'operator' };

export function requirePermission(actor: Actor, permission: Permission): void {
  if (actor.kind === 'operator') return;
  if (!actor.permissions.has(permission)) throw forbidden(`this credential lacks the ${permission} permission`);
}

/** A command some of whose targets need one permission and others another: lacking them all is FORBIDDEN whatever the target (R20). */
export function requireAnyPermission(actor: Actor, permissions: readonly Permission[]): void {
  if (actor.kind === 'operator') return;
  if (!permissions.some((p) => actor.permissions.has(p))) throw forbidden(`this credential lacks the ${permissions.join(' or ')} permission`);
}

/** R20: what belongs to another organization does not exist for this actor. */
export function requireSameOrg(actor: Actor, orgId: string, what: string): void {
  if (actor.kind === 'operator') return;
  if (actor.orgId !== orgId) throw notFound(what);
}

/** R9: nobody grants a scope (or a role's permissions) that their credential lacks. */
export function requireGrantable(actor: Actor, permissions: Iterable<Permission>, what: string): void {
  if (actor.kind === 'operator') return;
  const missing = [...permissions].filter((p) => !actor.permissions.has(p));
  if (missing.length > 0) throw new DomainError('FORBIDDEN', `cannot grant ${what} this credential does not hold: ${missing.join(', ')}`);
}

/** What every event records of its actor (spec section 5); never a secret. */
export interface EventMetadata {
  readonly [key: string]: string | null;
  readonly actorPrincipalId: string | null;
  readonly actorApiKeyId: string | null;
  readonly actorAppKeyId: string | null;
  readonly via: 'api' | 'cli';
  readonly requestId: string;
  readonly at: string;
}

export function eventMetadata(actor: Actor, requestId: string, at: Date): EventMetadata {
  return actor.kind === 'operator'
    ? { actorPrincipalId: null, actorApiKeyId: null, actorAppKeyId: null, via: 'cli', requestId, at: at.toISOString() }
    : { actorPrincipalId: actor.principalId, actorApiKeyId: actor.apiKeyId, actorAppKeyId: actor.applicationKeyId, via: 'api', requestId, at: at.toISOString() };
}
