// The GraphQL endpoint: yoga with the Pothos schema, authentication from the CredentialIndex,
// armour against abusive documents, errors mapped to codes (R21) or masked and logged, and an
// audit entry per credentialed request, durable before the response leaves (R22, R25).

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, getOperationAST, type ExecutionResult } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { ReadDb } from '../../projections/read-models.js';
import type { RequestAudit, RequestAuditor } from '../audit/request-audit.js';
import type { Keyledger } from '../commands/keyledger.js';
import { DomainError } from '../domain/errors.js';
import type { Authentication, CredentialLookup } from '../domain/verification.js';
import type { GraphQLContext } from '../graphql/core/context.js';
import { graphQLErrorOf } from '../graphql/core/errors.js';
import { schema } from '../graphql/schema.js';
import type { Logger } from '../platform/logger.js';

export type ServerContext = { req: IncomingMessage; res: ServerResponse; audit: RequestAudit; auth: Authentication; now: Date };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A caller's X-Request-Id when it is a sane token, else a fresh one; echoed on the response. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Codes of a result's errors, before masking: a refusal is still a DomainError inside. */
function errorCodes(result: ExecutionResult): (string | undefined)[] {
  return (result.errors ?? []).map((error) => {
    const code = error.extensions?.code;
    if (typeof code === 'string') return code;
    return error.originalError instanceof DomainError ? error.originalError.code : undefined;
  });
}

/** Records what the operation was and how it ended, and writes the entry before the response goes. */
function auditPlugin(auditor: RequestAuditor): Plugin<GraphQLContext & ServerContext, ServerContext> {
  return {
    onValidate({ context }) {
      return ({ valid }) => {
        if (!valid) context.audit.fail('GRAPHQL_VALIDATION_FAILED');
      };
    },
    onExecute({ args }) {
      const audit = (args.contextValue as GraphQLContext).audit;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation) {
        audit.operationType = operation.operation;
        audit.operationName = operation.name?.value ?? null;
        audit.rootFields = operation.selectionSet.selections.flatMap((s) => (s.kind === 'Field' ? [s.name.value] : []));
      }
      return {
        onExecuteDone({ result }) {
          if (!(Symbol.asyncIterator in result)) audit.errors(errorCodes(result));
        },
      };
    },
    async onResponse(payload) {
      const { serverContext, response, fetchAPI } = payload;
      const audit = serverContext.audit;
      if (audit.operationType === 'http') audit.operationType = 'graphql';
      if (response.status >= 400 && audit.outcome === 'ALLOWED') audit.fail(`HTTP_${response.status}`);
      if ((await auditor.settle(audit, 'graphql')) !== 'UNAVAILABLE') return;
      payload.setResponse(
        new fetchAPI.Response(
          JSON.stringify({ errors: [{ message: 'the audit log is unavailable; the request was not acknowledged', extensions: { code: 'AUDIT_UNAVAILABLE' } }] }),
          {
            status: 503,
            headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': audit.requestId },
          },
        ),
      );
    },
  };
}

export function createGraphQLHandler(options: {
  keyledger: Keyledger;
  readDb: ReadDb;
  credentials: CredentialLookup;
  auditor: RequestAuditor;
  logger: Logger;
}): YogaServerInstance<ServerContext, GraphQLContext> {
  const { keyledger, readDb, credentials, auditor, logger } = options;
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
    plugins: [EnvelopArmorPlugin({ maxDepth: { n: 12 }, maxAliases: { n: 20 }, costLimit: { maxCost: 20_000 } }), auditPlugin(auditor)],
    // Authentication happened before yoga (so that even a malformed document is attributed).
    context: ({ audit, auth, now }) => ({ requestId: audit.requestId, now, keyledger, readDb, credentials, audit, auth }),
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
