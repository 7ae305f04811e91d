// Given/when/then for the domain's deciders, after Emmett's DeciderSpecification: the given
// events are folded with `evolve` from `initial`, the command is decided for an actor, and the
// outcome is either the exact list of events decided, none, or a DomainError's code.

import { expect } from 'vitest';
import type { Actor, PrincipalActor } from '../../src/domain/actor.js';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js';
import { effectivePermissions, type Role } from '../../src/domain/permissions.js';

interface Outcome<Event> {
  /** The command decides exactly these events (types and data, in order). */
  then(expected: readonly Event[]): void;
  /** The command is accepted and decides no event. */
  thenNothing(): void;
  /** The command is refused with this DomainError code; returns the error for further checks. */
  thenThrows(code: DomainErrorCode): DomainError;
}

export interface DeciderSpecification<Command, Event> {
  given(events: readonly Event[]): { when(command: Command, actor: Actor): Outcome<Event> };
}

export function decider<Command, Event, State>(
  initial: State,
  evolve: (state: State, event: Event) => State,
  decide: (command: Command, state: State, actor: Actor) => Event[],
): DeciderSpecification<Command, Event> {
  return {
    given: (events) => ({
      when: (command, actor) => {
        const run = (): Event[] => decide(command, events.reduce(evolve, initial), actor);
        return {
          // oxlint-disable-next-line unicorn/no-thenable -- the API asked for is given(events).when(command, actor).then(events); an Outcome is never awaited
          then: (expected) => expect(run()).toEqual(expected),
          thenNothing: () => expect(run()).toEqual([]),
          thenThrows: (code) => {
            let decided: Event[];
            try {
              decided = run();
            } catch (error) {
              if (!(error instanceof DomainError)) throw error;
              expect(error.code, error.message).toBe(code);
              return error;
            }
            return expect.unreachable(`expected ${code}, but the command decided ${JSON.stringify(decided)}`);
          },
        };
      },
    }),
  };
}

export const ORG_ID = 'org-1';
export const OTHER_ORG_ID = 'org-2';

export type ActorOverrides = Partial<Omit<PrincipalActor, 'kind' | 'role' | 'permissions'>>;

/** A principal acting through an application key: its permissions are R7's, from its role and the key's scopes. */
export function actorOf(role: Role, overrides: ActorOverrides = {}): PrincipalActor {
  const fields = {
    orgId: ORG_ID,
    principalId: `${role}-actor`,
    principalKind: 'USER' as const,
    apiKeyId: 'actor-api-key',
    applicationKeyId: 'actor-application-key',
    scopes: null,
    ...overrides,
  };
  return { kind: 'principal', role, ...fields, permissions: effectivePermissions(role, fields.scopes) };
}
