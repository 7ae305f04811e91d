// Resolvers that verify credentials handed to them as arguments (verifyCredentials) return what
// they recognised; this wrapper hands it to the request's audit record, so that a request
// without credential headers of its own is attributed to the credentials it verified (R22).

import type { Recognized } from '../../domain/verification.js';
import type { GraphQLContext } from './context.js';

export interface Recognition {
  readonly recognized: Recognized | null;
  readonly refusal: string | null;
}

export function recognizing<Parent, Args, Result extends Recognition>(
  resolve: (parent: Parent, args: Args, context: GraphQLContext) => Result,
): (parent: Parent, args: Args, context: GraphQLContext) => Result {
  return (parent, args, context) => {
    const result = resolve(parent, args, context);
    context.audit.attribute(result.recognized, result.refusal);
    return result;
  };
}
