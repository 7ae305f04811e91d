// The gateway process: opens the stores, runs the projections and serves HTTP. `buildApp`
// returns `{ start, stop }`; `stop` drains requests before it closes the stores.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeLocation, type Config } from '../platform/config.js';
import { openEventStore, withAppendTiming } from '../eventstore/open.js';
import type { EventStore, Position } from '../eventstore/port.js';
import { StoreUnavailableError } from '../eventstore/errors.js';
import type { Logger } from '../platform/logger.js';
import { CredentialIndex } from '../../projections/credentials/credential-index.js';
import { keyledgerProjections, type KeyledgerProjection } from '../../projections/index.js';
import { openReadStore, type ReadStore } from '../../projections/core/read-store.js';
import type { ReadModels } from '../../projections/read-models.js';
import { ProjectionRunner, type LeaderDuty } from '../../projections/core/runner.js';
import { Scheduler } from '../commands/scheduler.js';
import { systemClock, type Clock } from '../platform/clock.js';
import { leaseFor } from '../../projections/core/lease.js';
import { ProjectionThread } from '../../projections/core/thread.js';
import type { ProjectionWorkerSetup } from './projection-worker.js';
import type { KeyledgerEvent } from '../domain/events.js';
import { decodeEvent, type Recorded } from '../eventstore/recorded.js';
import { CommandHandler } from '../commands/handler.js';
import { Keyledger, type InitializedOrg } from '../commands/keyledger.js';
import { bootstrapBanner, bootstrapIfEmpty, showFirstRunKeys } from './bootstrap.js';
import { answerClientError, createGraphQLHandler, requestIdOf, SSE_STREAM_PATH } from './graphql.js';
import { serveWebSocket, type WebSocketEndpoint } from './websocket.js';
import { Feeds } from '../feeds/feeds.js';
import { RequestAudit, RequestAuditor } from '../audit/request-audit.js';
import { RequestLog } from '../audit/request-log.js';
import { verify } from '../domain/verification.js';
import { authenticationErrorCode } from '../graphql/core/errors.js';
import { Metrics } from '../platform/metrics.js';
import { authenticateApi, credentialsFromHeaders, reauthenticator } from './authenticate.js';
import { accessLine, requestScoped, withRequestLogger } from './request-logging.js';

export interface App {
  readonly store: EventStore;
  readonly readStore: ReadStore<ReadModels>;
  readonly runner: ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>;
  /** The worker thread that applies the projections; null when they run on the main thread (KEYLEDGER_PROJECTION_THREAD=main, a :memory: store). */
  readonly projectionThread: ProjectionThread<ProjectionWorkerSetup, Recorded<KeyledgerEvent>> | null;
  readonly keyledger: Keyledger;
  readonly index: CredentialIndex;
  readonly metrics: Metrics;
  /** Records what time brings (R18's end of a grace, R19's expiry) while this instance holds the projection lease. */
  readonly scheduler: Scheduler;
  /** The change feeds (subscriptions, R26) open on this instance. */
  readonly feeds: Feeds;
  /**
   * Listens; resolves with the address once the read store is migrated and the projections run,
   * and with the first organization when this start created it (bootstrap on an empty store).
   */
  start(): Promise<{ url: string; port: number; bootstrapped: InitializedOrg | null }>;
  stop(): Promise<void>;
}

export interface AppOptions {
  readonly logger: Logger;
  readonly projections?: readonly KeyledgerProjection[];
  /**
   * Where the first-run banner goes; never the logger nor stdout, since it holds secrets. Default:
   * the controlling terminal, else the file `config.firstRunKeysFile` (see bootstrap.ts).
   */
  readonly announce?: (text: string) => void;
  /** What the projection lease's holder does besides applying the projections (see LeaderDuty). */
  readonly duties?: readonly LeaderDuty[];
  /** What time it is, for requests, commands and the scheduler (default: the system's); tests pass one they move forward. */
  readonly clock?: Clock;
  /** The change feeds' bounds (tests make them small): payloads buffered per feed, feeds per application key. */
  readonly feeds?: { readonly bufferSize?: number; readonly maxPerCredential?: number };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

export async function buildApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  const metrics = new Metrics({ processMetrics: true });
  // Every wait on the store is bounded (R30): past it, the request answers 503 STORE_UNAVAILABLE.
  const timeoutMs = config.storeTimeoutMs;
  // The projections run on a worker thread (projections/core/thread.ts) unless told otherwise, or
  // unless they cannot: a store only this thread's connection sees (SQLite :memory:), or
  // projections a caller made here (tests).
  const inMemory = (location: { kind: string; path?: string }) => location.kind === 'sqlite' && location.path === ':memory:';
  const onWorker = config.projectionThread === 'worker' && options.projections === undefined && !inMemory(config.eventStore) && !inMemory(config.readStore);
  let thread: ProjectionThread<ProjectionWorkerSetup, Recorded<KeyledgerEvent>> | undefined;
  const store = withAppendTiming(await openEventStore(config.eventStore, logger, { timeoutMs, poolSize: config.pgPoolSize }), (result, seconds) => {
    metrics.eventStoreAppend(result, seconds);
    // The worker's subscriptions look at once, instead of at their store's next poll.
    if (result === 'ok') thread?.appended();
  });
  let readStore: ReadStore<ReadModels>;
  try {
    readStore = await openReadStore<ReadModels>(config.readStore, { logger, timeoutMs, poolSize: config.pgPoolSize });
  } catch (error) {
    await store.close();
    throw error;
  }
  if (onWorker) {
    thread = new ProjectionThread({
      entry: new URL(import.meta.url.endsWith('.ts') ? './projection-worker.ts' : './projection-worker.js', import.meta.url),
      setup: { config },
      sqliteFiles: [config.eventStore, config.readStore].flatMap((location) => (location.kind === 'sqlite' ? [location.path] : [])),
      instance: config.instanceId,
      leaseKind: config.readStore.kind === 'postgres' ? 'postgres' : 'sole',
      logger,
      decode: decodeEvent,
    });
  }
  // On PostgreSQL, one instance of the fleet applies the projections: the lease's holder (lease.ts).
  // With a worker thread, the worker takes part in the lease.
  const lease = thread === undefined ? leaseFor(config.readStore, { instance: config.instanceId, logger, timeoutMs, db: readStore.db }) : undefined;
  const clock = options.clock ?? systemClock;
  // The lease holder records what time brings (R18, R19): the end of a rotation's grace, an expiry.
  const scheduler = new Scheduler({
    clock,
    db: readStore.db,
    logger,
    keyledger: { endRotationGrace: (key) => keyledger.endRotationGrace(key), recordExpiry: (key) => keyledger.recordExpiry(key) },
  });
  const runner = new ProjectionRunner({
    store,
    readStore,
    projections: options.projections ?? keyledgerProjections(),
    decode: decodeEvent,
    logger,
    ...(lease === undefined ? {} : { lease }),
    duties: [scheduler, ...(options.duties ?? [])],
    ...(thread === undefined ? {} : { worker: thread }),
  });
  const index = new CredentialIndex();
  metrics.observeCredentialIndex(() => index.size);
  metrics.observeProjections(async () => (await runner.status()).map(({ name, lagEvents, lagMs }) => ({ name, lagEvents, lagSeconds: lagMs / 1000 })));
  const auditor = new RequestAuditor(new RequestLog(store, metrics), metrics, logger);
  // A command answers once the read models and this instance's CredentialIndex hold its events;
  // when they cannot follow the store within the bound, it answers STORE_UNAVAILABLE (R30).
  const readYourWrites = (position: Position) =>
    Promise.all([runner.waitFor(position, { timeoutMs }), index.waitFor(position, timeoutMs)]).then(
      () => undefined,
      (error: unknown) => {
        throw new StoreUnavailableError(`the read models did not catch up with the store within ${timeoutMs} ms`, { cause: error });
      },
    );
  const commands = new CommandHandler({ store, readYourWrites, now: () => clock.now() });
  const keyledger = new Keyledger({ commands, db: readStore.db, now: () => clock.now() });
  const feeds = new Feeds({ store, readModels: runner, index, db: readStore.db, timeoutMs, ...options.feeds });
  const graphql = createGraphQLHandler({
    keyledger,
    readDb: readStore.db,
    credentials: index,
    auditor,
    feeds,
    // Inside a request, its lines (yoga's, the error mask's) carry its request id.
    logger: requestScoped(logger),
    maxBodyBytes: config.maxBodyBytes,
    graphiql: config.graphiql,
    corsOrigins: config.corsOrigins,
  });
  let server: Server | undefined;
  let websocket: WebSocketEndpoint | undefined;
  let started = false;
  let stopping = false;

  async function ready(res: ServerResponse): Promise<void> {
    const projections = runner.localStates();
    const reasons: string[] = [];
    if (!started || stopping) reasons.push(stopping ? 'stopping' : 'starting');
    for (const p of projections) {
      if (p.state !== 'running' && p.state !== 'following') reasons.push(`projection ${p.name} is ${p.state}${p.lastError ? `: ${p.lastError}` : ''}`);
    }
    if (started && !stopping && !index.following) reasons.push('the credential index is not following the event store');
    const [events, reads, leased] = await Promise.allSettled([store.headPosition(), readStore.ping(), runner.lease()]);
    if (events.status === 'rejected') reasons.push(`event store: ${messageOf(events.reason)}`);
    if (reads.status === 'rejected') reasons.push(`read store: ${messageOf(reads.reason)}`);
    const leaseStatus = leased.status === 'fulfilled' ? leased.value : null;
    if (leaseStatus?.problem !== undefined && started && !stopping) reasons.push(`projection lease: ${leaseStatus.problem}`);
    sendJson(res, reasons.length === 0 ? 200 : 503, {
      status: reasons.length === 0 ? 'ready' : 'not_ready',
      ...(reasons.length === 0 ? {} : { reasons }),
      eventStore: store.kind,
      readStore: readStore.kind,
      instance: config.instanceId,
      lease:
        leaseStatus === null
          ? { held: runner.leading, holder: null }
          : {
              held: leaseStatus.held,
              holder: leaseStatus.kind === 'sole' ? config.instanceId : (leaseStatus.holder?.instance ?? null),
            },
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

  function serveGraphQL(req: IncomingMessage, res: ServerResponse, audit: RequestAudit, now: Date, log: Logger): void {
    // Every /graphql answer, the GraphiQL page, errors and the 503 of the audit included: an answer may hold a new secret.
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    const presented = credentialsFromHeaders(headersOf(req), `http://${req.headers.host ?? ''}`);
    const { auth, recognized } = authenticateApi(presented, index, now);
    audit.attribute(recognized, auth.ok ? null : authenticationErrorCode(auth.fault), [presented.apiKey, presented.applicationKey]);
    // The request's logger goes with it (yoga's server context); what yoga logs at once, before its first wait, finds it active.
    withRequestLogger(log, () => void graphql(req, res, { audit, auth, now, reauthenticate: reauthenticator(presented, index), log }));
  }

  /** GET /api/v1/validate: the monitoring API's key check (an API key alone, R4). */
  async function validate(req: IncomingMessage, res: ServerResponse, audit: RequestAudit, now: Date): Promise<void> {
    audit.operationType = 'http';
    audit.operationName = 'GET /api/v1/validate';
    const headers = headersOf(req);
    const apiKey = headers.get('dd-api-key')?.trim() || headers.get('x-api-key')?.trim() || null;
    const verification = verify({ usage: 'AGENT_INTAKE', apiKey, applicationKey: null, clientToken: null, origin: headers.get('origin'), requiredScopes: [] }, index, now);
    audit.attribute(verification.recognized, verification.valid ? null : verification.fault.code, [apiKey]);
    // The plain route's answers, as the monitoring API gives them: the status says it all.
    if ((await auditor.settle(audit, 'validate')) === 'UNAVAILABLE') sendJson(res, 503, { errors: ['Service Unavailable'] });
    else if (verification.valid) sendJson(res, 200, { valid: true });
    else sendJson(res, 403, { errors: ['Forbidden'] });
  }

  /**
   * Every request: its id, a logger that carries it (made when a line is logged or GraphQL needs
   * it), and one access line (and its metrics) once the response has finished, or the connection
   * closed before.
   */
  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const now = clock.now();
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const requestId = requestIdOf(req);
    let log: Logger | undefined;
    const logOf = (): Logger => (log ??= logger.child({ requestId }));
    res.setHeader('x-request-id', requestId);
    const audit = path === '/graphql' || path === SSE_STREAM_PATH || path === '/api/v1/validate' ? new RequestAudit(req, requestId, now) : null;
    let logged = false;
    const finished = (aborted: boolean) => {
      if (logged) return;
      logged = true;
      const line = accessLine({ method: req.method ?? 'GET', path, status: res.statusCode, durationMs: performance.now() - started, aborted }, audit);
      metrics.httpRequest(line, line.durationMs / 1000);
      if (logger.isLevelEnabled('info')) logOf().info(line, 'request');
    };
    res.once('finish', () => finished(false));
    res.once('close', () => finished(!res.writableFinished));
    route(req, res, path, audit, now, logOf);
  }

  function route(req: IncomingMessage, res: ServerResponse, path: string, audit: RequestAudit | null, now: Date, logOf: () => Logger): void {
    if ((path === '/graphql' || path === SSE_STREAM_PATH) && audit) {
      serveGraphQL(req, res, audit, now, logOf());
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { errors: ['Method Not Allowed'] });
      return;
    }
    if (path === '/api/v1/validate' && audit) {
      validate(req, res, audit, now).catch((error: unknown) => {
        logOf().error({ err: error }, 'validate failed');
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
          logOf().error({ err: error }, 'metrics failed');
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
        logOf().error({ err: error }, 'readiness check failed');
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
    projectionThread: thread ?? null,
    keyledger,
    index,
    metrics,
    scheduler,
    feeds,
    async start() {
      await runner.migrate();
      // A worker thread boots (its modules, its connections) while the index loads.
      runner.start();
      // The index starts from the read models as they are (their checkpoints and rows read in one
      // snapshot, however far the projections have gone meanwhile), then follows the store.
      await index.load(readStore.db);
      index.start(store, logger);
      // As on the main thread, the projections have started (or failed to) when the gateway listens.
      await thread?.started(timeoutMs);
      const listening = createServer(handle);
      // Node's own refusals (431 headers too large, 400 malformed HTTP) get a body with a code too (R28).
      listening.on('clientError', answerClientError);
      server = listening;
      // GraphQL over WebSocket (graphql-ws) on /graphql, beside yoga's HTTP and SSE.
      websocket = serveWebSocket({ server: listening, yoga: graphql, credentials: index, auditor, logger: requestScoped(logger) });
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
        const banner = bootstrapBanner(bootstrapped, url);
        if (options.announce) options.announce(banner);
        else showFirstRunKeys(banner, config.firstRunKeysFile, logger);
      }
      return { url, port, bootstrapped };
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      // Feeds end first: their streams would hold the connections open.
      feeds.closeAll();
      await websocket?.close();
      if (server) {
        const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        // Requests in flight get a few seconds to finish.
        const force = setTimeout(() => server!.closeAllConnections(), 5000);
        await closing;
        clearTimeout(force);
      }
      // Before the index and the projections stop: an act under way still reads its own write.
      await scheduler.stop();
      await auditor.close();
      await index.stop();
      // What was appended reaches the read models before the lease holder's projections stop
      // (within the store's bound): a CLI reading them next (an export, a report) finds every
      // request this gateway answered. A follower leaves that to the holder.
      if (runner.leading)
        await store
          .headPosition()
          .then((head) => runner.waitFor(head, { timeoutMs }))
          .catch((error: unknown) => logger.warn({ err: error }, 'stopping before the projections caught up with the store; they go on at the next start'));
      await runner.stop();
      await readStore.close();
      await store.close();
      logger.info('keyledger stopped');
    },
  };
}
