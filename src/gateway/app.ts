// The gateway process: opens the stores, runs the projections and serves HTTP. `buildApp`
// returns `{ start, stop }`; `stop` drains requests before it closes the stores.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeLocation, type Config } from '../config.js';
import { openEventStore } from '../eventstore/open.js';
import type { EventStore } from '../eventstore/port.js';
import type { Logger } from '../logger.js';
import { keyledgerProjections, type ReadModels } from '../../projections/index.js';
import type { Projection } from '../../projections/projection.js';
import { openReadStore, type ReadStore } from '../../projections/read-store.js';
import { ProjectionRunner } from '../../projections/runner.js';
import { CommandHandler } from '../commands/handler.js';
import { Keyledger, type InitializedOrg } from '../commands/keyledger.js';
import { bootstrapBanner, bootstrapIfEmpty } from './bootstrap.js';
import { createGraphQLHandler, requestIdOf } from './graphql.js';
import { RequestAudit } from '../audit/request-audit.js';
import { RequestLog } from '../audit/request-log.js';
import { authenticateApi, credentialsFromHeaders, verifyCredentials } from './authenticate.js';
import { CredentialIndex } from './credential-index.js';
import { Metrics } from './metrics.js';
import { digestSecret } from '../domain/secrets.js';

export interface App {
  readonly store: EventStore;
  readonly readStore: ReadStore<ReadModels>;
  readonly runner: ProjectionRunner<ReadModels>;
  readonly keyledger: Keyledger;
  readonly index: CredentialIndex;
  readonly metrics: Metrics;
  /**
   * Listens; resolves with the address once the read store is migrated and the projections run,
   * and with the first organization when this start created it (bootstrap on an empty store).
   */
  start(): Promise<{ url: string; port: number; bootstrapped: InitializedOrg | null }>;
  stop(): Promise<void>;
}

export interface AppOptions {
  readonly logger: Logger;
  readonly projections?: readonly Projection<ReadModels>[];
  /** Where the first-run banner goes (default stdout); never the logger, since it holds secrets. */
  readonly announce?: (text: string) => void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

export async function buildApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  const store = await openEventStore(config.eventStore, logger);
  let readStore: ReadStore<ReadModels>;
  try {
    readStore = await openReadStore<ReadModels>(config.readStore);
  } catch (error) {
    await store.close();
    throw error;
  }
  const runner = new ProjectionRunner<ReadModels>({ store, readStore, projections: options.projections ?? keyledgerProjections(), logger });
  const index = new CredentialIndex();
  const metrics = new Metrics({ processMetrics: true });
  const requestLog = new RequestLog(store, metrics);
  // A command answers once the read models and this instance's CredentialIndex hold its events.
  const commands = new CommandHandler({ store, readYourWrites: (position) => Promise.all([runner.waitFor(position), index.waitFor(position)]).then(() => undefined) });
  const keyledger = new Keyledger({ commands, db: readStore.db });
  const graphql = createGraphQLHandler({ keyledger, db: readStore.db, index, requestLog, metrics, logger });
  let server: Server | undefined;
  let started = false;
  let stopping = false;

  async function ready(res: ServerResponse): Promise<void> {
    const projections = runner.localStates();
    const reasons: string[] = [];
    if (!started || stopping) reasons.push(stopping ? 'stopping' : 'starting');
    for (const p of projections) if (p.state !== 'running') reasons.push(`projection ${p.name} is ${p.state}${p.lastError ? `: ${p.lastError}` : ''}`);
    if (started && !stopping && !index.following) reasons.push('the credential index is not following the event store');
    try {
      await store.headPosition();
    } catch (error) {
      reasons.push(`event store: ${error instanceof Error ? error.message : String(error)}`);
    }
    sendJson(res, reasons.length === 0 ? 200 : 503, {
      status: reasons.length === 0 ? 'ready' : 'not_ready',
      ...(reasons.length === 0 ? {} : { reasons }),
      eventStore: store.kind,
      readStore: readStore.kind,
      projections: projections.map(({ name, state, position }) => ({ name, state, position })),
    });
  }

  function headersOf(req: IncomingMessage): { get(name: string): string | null } {
    return {
      get: (name) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : null;
      },
    };
  }

  /** Counted and logged by digest prefix, never by secret: nothing to attribute to an org. */
  function unrecognized(route: string, presented: readonly (string | null)[]): void {
    metrics.unrecognized(route);
    const digests = presented.filter((s): s is string => s !== null).map((s) => digestSecret(s).slice(0, 12));
    if (digests.length > 0) logger.info({ route, digestPrefixes: digests }, 'request with credentials that match no known key');
  }

  function serveGraphQL(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    const now = new Date();
    const audit = new RequestAudit(req, requestId, now);
    const presented = credentialsFromHeaders(headersOf(req), `http://${req.headers.host ?? ''}`);
    const { auth, recognized } = authenticateApi(presented, index, now);
    audit.recognized = recognized;
    if (!auth.ok && recognized) audit.deny(auth.code ?? 'UNAUTHENTICATED');
    if (!recognized && (presented.apiKey !== null || presented.applicationKey !== null)) unrecognized('graphql', [presented.apiKey, presented.applicationKey]);
    void graphql(req, res, { audit, auth, now });
  }

  /** GET /api/v1/validate: the monitoring API's key check (an API key alone, R4). */
  async function validate(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const now = new Date();
    const audit = new RequestAudit(req, requestId, now);
    audit.operationType = 'http';
    audit.operationName = 'GET /api/v1/validate';
    const headers = headersOf(req);
    const apiKey = headers.get('dd-api-key')?.trim() || headers.get('x-api-key')?.trim() || null;
    const verification = verifyCredentials(
      { apiKey, applicationKey: null, clientToken: null, usage: 'AGENT_INTAKE', origin: headers.get('origin'), requiredScopes: [] },
      index,
      now,
    );
    audit.recognized = verification.recognized;
    if (!verification.valid) audit.deny(verification.code ?? 'UNAUTHENTICATED');
    const entry = audit.entry();
    metrics.request('validate', entry ? audit.outcome : 'UNRECOGNIZED');
    if (!entry) unrecognized('validate', [apiKey]);
    else {
      try {
        await requestLog.record(entry);
      } catch (error) {
        logger.error({ err: error, requestId }, 'could not write the audit entry; the request is not acknowledged');
        sendJson(res, 503, { errors: ['Service Unavailable'] });
        return;
      }
    }
    if (verification.valid) sendJson(res, 200, { valid: true });
    else sendJson(res, 403, { errors: ['Forbidden'] });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    if (path === '/graphql') {
      serveGraphQL(req, res, requestId);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { errors: ['Method Not Allowed'] });
      return;
    }
    if (path === '/api/v1/validate') {
      validate(req, res, requestId).catch((error: unknown) => {
        logger.error({ err: error, requestId }, 'validate failed');
        if (!res.headersSent) sendJson(res, 500, { errors: ['Internal Server Error'] });
      });
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'metrics failed');
          sendJson(res, 500, { errors: ['Internal Server Error'] });
        },
      );
      return;
    }
    if (path === '/health') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/ready') {
      ready(res).catch((error: unknown) => {
        logger.error({ err: error }, 'readiness check failed');
        if (!res.headersSent) sendJson(res, 503, { status: 'not_ready' });
      });
      return;
    }
    sendJson(res, 404, { errors: ['Not Found'] });
  }

  return {
    store,
    readStore,
    runner,
    keyledger,
    index,
    metrics,
    async start() {
      await runner.migrate();
      // The index starts from the read models as they are, then follows the store.
      await index.load(readStore.db);
      index.start(store, logger);
      runner.start();
      const listening = createServer(handle);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(config.port, config.host, () => {
          listening.off('error', reject);
          resolve();
        });
      });
      started = true;
      const { port } = listening.address() as AddressInfo;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      const url = `http://${host}:${port}`;
      logger.info({ url, graphql: `${url}/graphql`, eventStore: describeLocation(config.eventStore), readStore: describeLocation(config.readStore) }, 'keyledger is listening');
      const bootstrapped = config.bootstrap ? await bootstrapIfEmpty(store, keyledger) : null;
      if (bootstrapped) {
        logger.info({ orgId: bootstrapped.organization.id, adminId: bootstrapped.admin.id }, 'first run: created an organization and its admin');
        (options.announce ?? ((text: string) => process.stdout.write(text)))(bootstrapBanner(bootstrapped, url));
      }
      return { url, port, bootstrapped };
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      if (server) {
        const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        // Requests in flight get a few seconds to finish.
        const force = setTimeout(() => server!.closeAllConnections(), 5000);
        await closing;
        clearTimeout(force);
      }
      await requestLog.close();
      await index.stop();
      await runner.stop();
      await readStore.close();
      await store.close();
      logger.info('keyledger stopped');
    },
  };
}
