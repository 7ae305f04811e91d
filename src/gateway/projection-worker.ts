// The gateway's projection worker thread (see projections/core/thread.ts): opens its own
// connections to the event store and the read store, takes part in the projection lease, and
// applies keyledger's projections, reporting to the main thread where they stand.

import { leaseFor } from '../../projections/core/lease.js';
import { openReadStore } from '../../projections/core/read-store.js';
import { ProjectionRunner } from '../../projections/core/runner.js';
import { appliedReporter, projectionWorkerSetup, reportingLease, serveProjectionWorker } from '../../projections/core/thread.js';
import { keyledgerProjections } from '../../projections/index.js';
import type { ReadModels } from '../../projections/read-models.js';
import { openEventStore } from '../eventstore/open.js';
import { decodeEvent } from '../eventstore/recorded.js';
import type { Config } from '../platform/config.js';

/** What the main thread hands this thread: its configuration (plain data). */
export interface ProjectionWorkerSetup {
  readonly config: Config;
}

/** Connections of each of the worker's PostgreSQL pools, at most. */
const WORKER_POOL_SIZE = 3;

const { setup, logger } = projectionWorkerSetup<ProjectionWorkerSetup>();
const { config } = setup;
const timeoutMs = config.storeTimeoutMs;
// The runner writes one transaction at a time (the read store's write lock) and its feeds share
// their reads of the events: a few connections are all it uses.
const poolSize = Math.min(config.pgPoolSize, WORKER_POOL_SIZE);
const store = await openEventStore(config.eventStore, logger, { timeoutMs, poolSize });
const readStore = await openReadStore<ReadModels>(config.readStore, { logger, timeoutMs, poolSize });
const lease = reportingLease(leaseFor(config.readStore, { instance: config.instanceId, logger, timeoutMs, db: readStore.db }));
let progress = (): void => undefined;
const runner = new ProjectionRunner({
  store,
  readStore,
  projections: keyledgerProjections(),
  decode: decodeEvent,
  logger,
  lease,
  duties: [appliedReporter()],
  onProgress: () => progress(),
});
const served = serveProjectionWorker(runner, {
  wake: () => store.wake?.(),
  close: async () => {
    await readStore.close();
    await store.close();
  },
});
progress = () => served.progress();
