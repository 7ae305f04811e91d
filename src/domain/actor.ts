// Who performs a command: a principal through its credentials (the API), the operator (the
// command line), who stands outside every organization's permissions, or keyledger itself (the
// scheduler, which records what time brings: the end of a rotation's grace, an expiry).

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

/** keyledger itself: it runs only the timed commands (R18's end of a grace, R19's expiry), and nothing else. */
export interface SystemActor {
  readonly kind: 'system';
  readonly name: 'scheduler';
}

export type Actor = PrincipalActor | OperatorActor | SystemActor;

export const OPERATOR: OperatorActor = { kind: 'operator' };

export const SCHEDULER: SystemActor = { kind: 'system', name: 'scheduler' };

/** The timed commands are the scheduler's, and the scheduler runs nothing else. */
export function requireTimedActor(actor: Actor, timed: boolean): void {
  if ((actor.kind === 'system') !== timed) {
    throw forbidden(timed ? 'this change is made by keyledger itself when its time comes' : 'the scheduler only records what time brings');
  }
}

export function requirePermission(actor: Actor, permission: Permission): void {
  if (actor.kind !== 'principal') return;
  if (!actor.permissions.has(permission)) throw forbidden(`this credential lacks the ${permission} permission`);
}

/** A command some of whose targets need one permission and others another: lacking them all is FORBIDDEN whatever the target (R20). */
export function requireAnyPermission(actor: Actor, permissions: readonly Permission[]): void {
  if (actor.kind !== 'principal') return;
  if (!permissions.some((p) => actor.permissions.has(p))) throw forbidden(`this credential lacks the ${permissions.join(' or ')} permission`);
}

/** R20: what belongs to another organization does not exist for this actor. */
export function requireSameOrg(actor: Actor, orgId: string, what: string): void {
  if (actor.kind !== 'principal') return;
  if (actor.orgId !== orgId) throw notFound(what);
}

/** R9: nobody grants a scope (or a role's permissions) that their credential lacks. */
export function requireGrantable(actor: Actor, permissions: Iterable<Permission>, what: string): void {
  if (actor.kind !== 'principal') return;
  const missing = [...permissions].filter((p) => !actor.permissions.has(p));
  if (missing.length > 0) throw new DomainError('FORBIDDEN', `cannot grant ${what} this credential does not hold: ${missing.join(', ')}`);
}

/** What every event records of its actor (spec section 5); never a secret. */
export interface EventMetadata {
  readonly [key: string]: string | null;
  readonly actorPrincipalId: string | null;
  readonly actorApiKeyId: string | null;
  readonly actorAppKeyId: string | null;
  readonly via: 'api' | 'cli' | 'scheduler';
  readonly requestId: string;
  readonly at: string;
}

export function eventMetadata(actor: Actor, requestId: string, at: Date): EventMetadata {
  return actor.kind === 'principal'
    ? { actorPrincipalId: actor.principalId, actorApiKeyId: actor.apiKeyId, actorAppKeyId: actor.applicationKeyId, via: 'api', requestId, at: at.toISOString() }
    : { actorPrincipalId: null, actorApiKeyId: null, actorAppKeyId: null, via: actor.kind === 'operator' ? 'cli' : 'scheduler', requestId, at: at.toISOString() };
}
