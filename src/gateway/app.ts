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

export interface App {
  readonly store: EventStore;
  readonly readStore: ReadStore<ReadModels>;
  readonly runner: ProjectionRunner<ReadModels>;
  readonly keyledger: Keyledger;
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
  const commands = new CommandHandler({ store, readYourWrites: (position) => runner.waitFor(position) });
  const keyledger = new Keyledger({ commands, db: readStore.db });
  const graphql = createGraphQLHandler({ keyledger, db: readStore.db, logger });
  let server: Server | undefined;
  let started = false;
  let stopping = false;

  async function ready(res: ServerResponse): Promise<void> {
    const projections = runner.localStates();
    const reasons: string[] = [];
    if (!started || stopping) reasons.push(stopping ? 'stopping' : 'starting');
    for (const p of projections) if (p.state !== 'running') reasons.push(`projection ${p.name} is ${p.state}${p.lastError ? `: ${p.lastError}` : ''}`);
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

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    res.setHeader('x-request-id', requestIdOf(req));
    if (path === '/graphql') {
      void graphql(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { errors: ['Method Not Allowed'] });
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
    async start() {
      await runner.migrate();
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
      await runner.stop();
      await readStore.close();
      await store.close();
      logger.info('keyledger stopped');
    },
  };
}
