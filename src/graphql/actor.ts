// The authenticated actor of a resolver (its field's auth scopes guarantee there is one).

import type { PrincipalActor } from '../domain/actor.js';
import type { GraphQLContext } from './context.js';
import { unauthenticated } from './errors.js';

export function actorOf(context: GraphQLContext): PrincipalActor {
  if (!context.auth.ok) throw unauthenticated(context.auth.reason, context.auth.code);
  return context.auth.actor;
}
