// The GraphQL endpoint: yoga with the Pothos schema, authentication per request, armour
// against abusive documents, and errors mapped to codes (R21) or masked and logged.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Kysely } from 'kysely';
import type { Keyledger } from '../commands/keyledger.js';
import { DomainError } from '../domain/errors.js';
import type { GraphQLContext } from '../graphql/context.js';
import { graphQLErrorOf } from '../graphql/errors.js';
import { schema } from '../graphql/schema.js';
import type { Logger } from '../logger.js';
import type { ReadModels } from '../../projections/index.js';
import { authenticate, credentialsFromHeaders } from './authenticate.js';

export type ServerContext = { req: IncomingMessage; res: ServerResponse };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A caller's X-Request-Id when it is a sane token, else a fresh one; echoed on the response. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

export function createGraphQLHandler(options: { keyledger: Keyledger; db: Kysely<ReadModels>; logger: Logger }): YogaServerInstance<ServerContext, GraphQLContext> {
  const { keyledger, db, logger } = options;
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: {
      title: 'keyledger',
      headers: JSON.stringify({ 'X-API-Key': 'klk_api_…', 'X-Application-Key': 'klk_app_…' }, null, 2),
      defaultQuery: '{\n  viewer {\n    principal { name role }\n    organization { name apiKeyLimit activeApiKeyCount }\n    permissions\n  }\n}\n',
    },
    logging: {
      debug: (...args) => logger.debug({ yoga: args.map(String) }),
      info: (...args) => logger.info({ yoga: args.map(String) }),
      warn: (...args) => logger.warn({ yoga: args.map(String) }),
      error: (...args) => logger.error({ yoga: args.map(String) }),
    },
    plugins: [EnvelopArmorPlugin({ maxDepth: { n: 12 }, maxAliases: { n: 20 }, costLimit: { maxCost: 20_000 } })],
    context: async ({ request, req, res }) => {
      const requestId = (res.getHeader('x-request-id') as string | undefined) ?? requestIdOf(req);
      const now = new Date();
      return {
        requestId,
        now,
        keyledger,
        db,
        auth: await authenticate(credentialsFromHeaders(request.headers, new URL(request.url).origin), db, now),
      };
    },
    maskedErrors: {
      maskError: (error, message) => {
        const graphQLError = error instanceof GraphQLError ? error : null;
        const original = graphQLError?.originalError ?? error;
        if (original instanceof DomainError) {
          const mapped = graphQLErrorOf(original);
          return new GraphQLError(mapped.message, { nodes: graphQLError?.nodes ?? null, path: graphQLError?.path ?? null, originalError: original, extensions: mapped.extensions });
        }
        if (graphQLError && (!graphQLError.originalError || graphQLError.originalError instanceof GraphQLError)) return graphQLError;
        logger.error({ err: original, path: graphQLError?.path }, 'unexpected error in a GraphQL request');
        return new GraphQLError(message, { nodes: graphQLError?.nodes ?? null, path: graphQLError?.path ?? null, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
  });
}
