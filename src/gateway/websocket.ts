// GraphQL over WebSocket (the graphql-ws protocol) on `/graphql`, on the gateway's own HTTP
// server: for the change feeds (R26), and any other operation. Credentials travel in the
// `connectionParams` of `connection_init`, under the header names (`X-API-Key`,
// `X-Application-Key`, or their `DD-` aliases), and are checked by the one verifier, like the
// headers of an HTTP request.
//
// The audit log (R22): the connection's init is a request of its own (one entry, route
// `WebSocket /graphql`); a connection whose credentials do not authenticate is closed with 4401.
// Each operation started on the connection is another request, authenticated again and recorded
// once, like an HTTP request, through the same RequestAuditor.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { GraphQLError } from 'graphql';
import { CloseCode, type OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { RequestAudit, type RequestAuditor } from '../audit/request-audit.js';
import type { CredentialLookup } from '../domain/verification.js';
import type { GraphQLContext } from '../graphql/core/context.js';
import { authenticationError } from '../graphql/core/errors.js';
import type { Logger } from '../platform/logger.js';
import { authenticateApi, credentialsFromHeaders, reauthenticator, type PresentedCredentials } from './authenticate.js';
import { honestResultOf, requestIdOf, type ServerContext } from './graphql.js';

const ROUTE = 'WebSocket /graphql';
/** A WebSocket message larger than this closes the connection (R29: a document is bounded like a request body). */
const MAX_MESSAGE_BYTES = 1_048_576;

interface Connection {
  presented: PresentedCredentials | null;
}

/** connectionParams as a header bag: names are case-insensitive, values strings. */
function paramsAsHeaders(params: Readonly<Record<string, unknown>> | undefined, request: IncomingMessage): { get(name: string): string | null } {
  const lower = new Map<string, string>();
  for (const [name, value] of Object.entries(params ?? {})) if (typeof value === 'string') lower.set(name.toLowerCase(), value);
  return {
    get: (name) => {
      // The Origin is the upgrade request's own: a browser page of another origin is one (R12).
      if (name === 'origin') return typeof request.headers.origin === 'string' ? request.headers.origin : null;
      return lower.get(name) ?? null;
    },
  };
}

export interface WebSocketEndpoint {
  /** Closes every connection (their feeds end) and stops accepting new ones. */
  close(): Promise<void>;
}

export function serveWebSocket(options: {
  server: Server;
  yoga: YogaServerInstance<ServerContext, GraphQLContext>;
  credentials: CredentialLookup;
  auditor: RequestAuditor;
  logger: Logger;
  maxMessageBytes?: number;
}): WebSocketEndpoint {
  const { yoga, credentials, auditor, logger } = options;
  const wss = new WebSocketServer({ server: options.server, path: '/graphql', maxPayload: options.maxMessageBytes ?? MAX_MESSAGE_BYTES });
  const connections = new WeakMap<object, Connection>();
  const connectionOf = (extra: object): Connection => {
    let connection = connections.get(extra);
    if (!connection) {
      connection = { presented: null };
      connections.set(extra, connection);
    }
    return connection;
  };

  const server = useServer<Record<string, unknown>>(
    {
      execute: (args: ExecutionArgs) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args: ExecutionArgs) => (args.rootValue as Enveloped).subscribe(args),
      async onConnect(ctx) {
        const request = ctx.extra.request;
        const now = new Date();
        const presented = credentialsFromHeaders(paramsAsHeaders(ctx.connectionParams, request), `http://${request.headers.host ?? ''}`);
        const { auth, recognized } = authenticateApi(presented, credentials, now);
        const audit = new RequestAudit(request, requestIdOf(request), now);
        audit.operationName = ROUTE;
        const refusal = auth.ok ? null : authenticationError(auth.fault);
        audit.attribute(recognized, refusal?.code ?? null, [presented.apiKey, presented.applicationKey]);
        const settled = await auditor.settle(audit, 'websocket');
        if (settled === 'UNAVAILABLE') {
          ctx.extra.socket.close(CloseCode.InternalServerError, 'AUDIT_UNAVAILABLE');
          return false;
        }
        if (refusal) {
          // 4401: the credentials do not authenticate (the reason is the code, a message would not fit).
          ctx.extra.socket.close(CloseCode.Unauthorized, refusal.code);
          return false;
        }
        connectionOf(ctx.extra).presented = presented;
        return true;
      },
      async onSubscribe(ctx, _id, payload) {
        const request = ctx.extra.request;
        const presented = connectionOf(ctx.extra).presented;
        if (!presented) return [new GraphQLError('the connection is not authenticated', { extensions: { code: 'UNAUTHENTICATED' } })];
        const now = new Date();
        const { auth, recognized } = authenticateApi(presented, credentials, now);
        const audit = new RequestAudit(request, randomUUID(), now);
        audit.operationType = 'graphql';
        audit.attribute(recognized, auth.ok ? null : authenticationError(auth.fault).code, [presented.apiKey, presented.applicationKey]);
        // Hashes the presented secrets once, not at every check of the feed.
        const reauthenticate = reauthenticator(presented, credentials);
        const initial = { req: request, audit, auth, now, reauthenticate, params: payload };
        const enveloped = yoga.getEnveloped(initial);
        const refuse = async (errors: readonly GraphQLError[]) => {
          const honest = honestResultOf({ errors: [...errors] }, audit, logger).errors ?? [];
          await auditor.settle(audit, 'websocket');
          return honest;
        };
        let document;
        try {
          document = enveloped.parse(payload.query);
        } catch (error) {
          return refuse([error instanceof GraphQLError ? error : new GraphQLError('the document could not be parsed', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })]);
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0)
          return refuse(
            errors.map((e: GraphQLError) =>
              typeof e.extensions.code === 'string' ? e : new GraphQLError(e.message, { nodes: e.nodes ?? null, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
            ),
          );
        const contextValue = await enveloped.contextFactory();
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          document,
          contextValue,
          rootValue: { execute: enveloped.execute as Enveloped['execute'], subscribe: enveloped.subscribe as Enveloped['subscribe'] } satisfies Enveloped,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? null,
        };
        return args;
      },
      async onOperation(_ctx, _id, _payload, args, operation) {
        // The operation has started (or was refused): its one entry, durable before anything is sent (R22, R25).
        const audit = (args.contextValue as GraphQLContext).audit;
        const result = await operation;
        if (!(Symbol.asyncIterator in result) && result.errors) honestResultOf(result, audit, logger);
        if ((await auditor.settle(audit, 'websocket')) !== 'UNAVAILABLE') return;
        if (Symbol.asyncIterator in result) await (result as AsyncIterator<unknown>).return?.();
        return { errors: [new GraphQLError('the audit log is unavailable; the operation was not started', { extensions: { code: 'AUDIT_UNAVAILABLE' } })] };
      },
      onNext(_ctx, _id, _payload, args, result) {
        return honestResultOf(result, (args.contextValue as GraphQLContext).audit, logger);
      },
    },
    wss,
  );

  return {
    async close() {
      // Going away; a client that does not answer the close within a second is cut off.
      for (const client of wss.clients) client.close(1001, 'the gateway is stopping');
      for (let waited = 0; wss.clients.size > 0 && waited < 1000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const client of wss.clients) client.terminate();
      await server.dispose();
    },
  };
}

interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}
