// The authenticated actor of a resolver (its field's auth scopes guarantee there is one).

import type { PrincipalActor } from '../../domain/actor.js';
import type { GraphQLContext } from './context.js';
import { authenticationError } from './errors.js';

export function actorOf(context: GraphQLContext): PrincipalActor {
  if (!context.auth.ok) throw authenticationError(context.auth.fault);
  return context.auth.actor;
}
