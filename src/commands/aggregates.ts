// The two aggregates of the domain, in the shape the command handler runs.

import { isOrganizationEvent, isPrincipalEvent, type OrganizationEvent, type PrincipalEvent } from '../domain/events.js';
import { decideOrganization, evolveOrganization, initialOrganizationState, type OrganizationCommand, type OrganizationState } from '../domain/organization.js';
import { decidePrincipal, evolvePrincipal, initialPrincipalState, type PrincipalCommand, type PrincipalState } from '../domain/principal.js';
import type { Aggregate } from './handler.js';

export const OrganizationAggregate: Aggregate<OrganizationState, OrganizationEvent, OrganizationCommand> = {
  category: 'org',
  owns: isOrganizationEvent,
  initial: initialOrganizationState,
  evolve: evolveOrganization,
  decide: decideOrganization,
};

export const PrincipalAggregate: Aggregate<PrincipalState, PrincipalEvent, PrincipalCommand> = {
  category: 'principal',
  owns: isPrincipalEvent,
  initial: initialPrincipalState,
  evolve: evolvePrincipal,
  decide: decidePrincipal,
};
