// The two aggregates of the domain, in the shape the command handler runs.

import {
  decideOrganization,
  evolveOrganization,
  initialOrganizationState,
  type OrganizationCommand,
  type OrganizationEvent,
  type OrganizationState,
} from '../domain/organization.js';
import { decidePrincipal, evolvePrincipal, initialPrincipalState, type PrincipalCommand, type PrincipalEvent, type PrincipalState } from '../domain/principal.js';
import type { Aggregate } from './handler.js';

export const OrganizationAggregate: Aggregate<OrganizationState, OrganizationEvent, OrganizationCommand> = {
  category: 'org',
  initial: initialOrganizationState,
  evolve: evolveOrganization,
  decide: decideOrganization,
};

export const PrincipalAggregate: Aggregate<PrincipalState, PrincipalEvent, PrincipalCommand> = {
  category: 'principal',
  initial: initialPrincipalState,
  evolve: evolvePrincipal,
  decide: decidePrincipal,
};
