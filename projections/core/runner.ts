// The projection runner: feeds each projection the events of the store in global order from
// its checkpoint, writing the read-model change and the new checkpoint in one transaction, so
// that a crash at any point neither repeats nor loses an event.

import { Migrator, type Kysely, type Migration, type Transaction } from 'kysely';
import type { EventStore, Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START } from '../../src/eventstore/port.js';
import type { Logger } from '../../src/platform/logger.js';
import { silentLogger } from '../../src/platform/logger.js';
import { isSqliteBusy } from '../../src/sqlite/database.js';
import { soleLease, type LeaseEvents, type LeaseStatus, type ProjectionLease } from './lease.js';
import type { CheckpointTables, ProjectableEvent, Projection } from './projection.js';
import type { ReadStore } from './read-store.js';

/** `following`: another instance holds the lease and applies it; this one tracks its checkpoint. */
type ProjectionState = 'starting' | 'running' | 'following' | 'failed' | 'rebuilding' | 'stopped';

/**
 * Work that runs on one instance of a fleet at a time: the lease holder's (timed events, such
 * as the end of a rotation's grace, are appended there). Started when this instance takes the
 * lease, stopped as soon as it loses it.
 */
export interface LeaderDuty<E = ProjectableEvent> {
  readonly name: string;
  start(): void;
  stop(): Promise<void>;
  /**
   * What a projection has just committed (its events, in order), told on the lease holder after
   * each transaction and before the waiters on it are resolved: how a duty learns of new work as
   * it lands, without reading the store again. It must not throw, nor block.
   */
  applied?(projection: string, events: readonly E[]): void;
  /** The projections whose commits `applied` is told of (default: all of them). */
  readonly projections?: readonly string[];
}

/** Where a projection stands in the thread that applies it. */
export interface FeedState {
  readonly name: string;
  readonly state: ProjectionState;
  readonly position: Position;
  readonly lastError?: string;
}

/** What the thread that applies the projections tells the runner of the main thread. */
export interface WorkerEvents<E> extends LeaseEvents {
  /** Where each projection stands there (after each of its commits, and as their states change). */
  feeds(states: readonly FeedState[]): void;
  /** What a projection committed there (only for the projections the duties follow). */
  applied(projection: string, events: readonly E[]): void;
}

/** What the worker is to apply, and what it is to report. */
export interface WorkerProjections {
  readonly names: readonly string[];
  /** The projections whose commits the duties follow (`applied`); null: all of them. */
  readonly followedByDuties: readonly string[] | null;
}

/**
 * The projections applied by a worker thread of this process (thread.ts), which takes part in
 * the lease there: the runner of the main thread mirrors where they stand, resolves its waiters
 * from it, and runs the duties while the worker holds the lease.
 */
export interface ProjectionWorker<E> {
  readonly instance: string;
  /** Whether the worker holds the lease now. */
  readonly held: boolean;
  start(events: WorkerEvents<E>, projections: WorkerProjections): void;
  status(): Promise<LeaseStatus>;
  rebuild(name: string): Promise<{ events: number; position: Position }>;
  /** Each projection's position and lag as the worker's runner has them (`ProjectionRunner.status`); null while no worker runs. */
  projectionStatus(): Promise<ProjectionStatus[] | null>;
  /** Stops the worker (its projections save their checkpoints, its lease is given up). */
  stop(): Promise<void>;
}

export interface ProjectionStatus {
  readonly name: string;
  /** Position of the last event applied (START when none). */
  readonly position: Position;
  /** Position of the last event in the store. */
  readonly head: Position;
  /** Events not yet applied, counted up to `LAG_COUNT_CAP`. */
  readonly lagEvents: number;
  readonly lagCapped: boolean;
  /** How long the oldest event not yet applied has been in the store (0 when caught up). */
  readonly lagMs: number;
  /** State in this process; `stopped` where no runner of this process feeds it. */
  readonly state: ProjectionState;
  readonly lastError?: string;
}

export class ProjectionTimeoutError extends Error {
  override readonly name = 'ProjectionTimeoutError';
  readonly code = 'PROJECTION_TIMEOUT';
}

const LAG_COUNT_CAP = 1_000_000;

/**
 * Under a flood (a batch this large), a feed waits this long before reading on, so that its
 * next transaction takes a few hundred events instead of a few dozen (fewer commits, and fewer
 * waits for the file's write lock by the appends of the other thread, or of the same loop when the
 * projections run on the main thread). Quiet, a feed applies each event as it comes.
 */
const FLOOD_BATCH = 32;
const FLOOD_PAUSE_MS = 100;

/** How long a checkpoint that only skipped events may stay unsaved. */
const CHECKPOINT_SAVE_INTERVAL_MS = 2000;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;

interface Feed {
  state: ProjectionState;
  position: Position;
  lastError?: string;
  /** Waiting out another process's write lock (logged once, at warn, until a batch goes through). */
  busy: boolean;
  subscription?: Subscription;
  loop?: Promise<void>;
  stopping: boolean;
  wake?: () => void;
}

interface Waiter {
  readonly position: Position;
  readonly names: readonly string[];
  readonly resolve: () => void;
}

const coreMigrations: Record<string, Migration> = {
  '0000_core_0001_projection_checkpoints': {
    async up(db) {
      await db.schema
        .createTable('projection_checkpoints')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // Who holds the projection lease (lease.ts); PostgreSQL only uses it, every read store has it.
  '0000_core_0002_projection_lease': {
    async up(db) {
      await db.schema
        .createTable('projection_lease')
        .ifNotExists()
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('instance', 'text', (c) => c.notNull())
        .addColumn('backend_pid', 'integer', (c) => c.notNull())
        .addColumn('acquired_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

export interface ProjectionRunnerOptions<DB extends CheckpointTables, E extends ProjectableEvent> {
  readonly store: EventStore;
  readonly readStore: ReadStore<DB>;
  readonly projections: readonly Projection<DB, E>[];
  /** Turns a stored event into what the projections take, once per event; null skips an event no projection knows. */
  readonly decode: (event: RecordedEvent) => E | null;
  readonly logger?: Logger;
  /** Events per transaction while catching up (default 1000). */
  readonly batchSize?: number;
  /** Delay before a failed projection retries (default 1000 ms). */
  readonly retryDelayMs?: number;
  /** Who applies the projections when several instances share the read store (default: this one, alone). */
  readonly lease?: ProjectionLease;
  /** What the lease holder does besides applying the projections. */
  readonly duties?: readonly LeaderDuty<NoInfer<E>>[];
  /** A worker thread applies the projections (and takes part in the lease): this runner follows it. */
  readonly worker?: ProjectionWorker<NoInfer<E>>;
  /** Told, without I/O, whenever a projection moves or changes state here (a worker thread reports it so). */
  readonly onProgress?: () => void;
}

export class ProjectionRunner<DB extends CheckpointTables, E extends ProjectableEvent> {
  readonly #store: EventStore;
  readonly #readStore: ReadStore<DB>;
  readonly #projections: ReadonlyMap<string, Projection<DB, E>>;
  readonly #decode: (event: RecordedEvent) => E | null;
  readonly #feeds = new Map<string, Feed>();
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #retryDelayMs: number;
  readonly #lease: ProjectionLease;
  readonly #duties: readonly LeaderDuty<E>[];
  readonly #worker: ProjectionWorker<E> | undefined;
  readonly #onProgress: (() => void) | undefined;
  #waiters: Waiter[] = [];
  #running = false;
  /** Gaining and losing the lease, one after the other: a feed stops before it may start again. */
  #transition: Promise<void> = Promise.resolve();

  constructor(options: ProjectionRunnerOptions<DB, E>) {
    this.#decode = options.decode;
    this.#store = options.store;
    this.#readStore = options.readStore;
    this.#logger = options.logger ?? silentLogger();
    this.#batchSize = options.batchSize ?? 1000;
    this.#retryDelayMs = options.retryDelayMs ?? 1000;
    this.#lease = options.lease ?? soleLease('local');
    this.#duties = options.duties ?? [];
    this.#worker = options.worker;
    this.#onProgress = options.onProgress;
    const byName = new Map<string, Projection<DB, E>>();
    for (const projection of options.projections) {
      if (!NAME.test(projection.name)) throw new Error(`projection name ${JSON.stringify(projection.name)} must match ${NAME}`);
      if (byName.has(projection.name)) throw new Error(`two projections are named ${projection.name}`);
      byName.set(projection.name, projection);
      this.#feeds.set(projection.name, { state: 'stopped', position: START, stopping: false, busy: false });
    }
    this.#projections = byName;
  }

  get store(): EventStore {
    return this.#store;
  }

  get readStore(): ReadStore<DB> {
    return this.#readStore;
  }

  get projectionNames(): string[] {
    return [...this.#projections.keys()];
  }

  /** Brings the read store's schema up to date (Kysely's migrator): the runner's table and each projection's. */
  async migrate(): Promise<void> {
    const migrations: Record<string, Migration> = { ...coreMigrations };
    for (const projection of this.#projections.values()) {
      for (const [key, migration] of Object.entries(projection.migrations)) {
        migrations[`${projection.name}_${key}`] = migration;
      }
    }
    const migrator = new Migrator({
      db: this.#readStore.db,
      provider: { getMigrations: async () => migrations },
      // Projections are added over time, each with its own migrations: their names need not interleave in order.
      allowUnorderedMigrations: true,
      // Without it, Kysely finds a migration table of any schema of the database (another
      // deployment's, another application's) and then looks for it in its own: it must look in ours.
      ...(this.#readStore.schema === null ? {} : { migrationTableSchema: this.#readStore.schema }),
    });
    const { error, results } = await this.#readStore.writeLock.run(() => migrator.migrateToLatest());
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`read-store migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`, { cause: error });
    }
    for (const r of results ?? []) this.#logger.info({ migration: r.migrationName }, 'read store migrated');
  }

  /**
   * Takes part: once this instance holds the lease (at once, without one), feeds every projection
   * from its checkpoint and starts the duties; until then, and whenever it loses it, follows.
   */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    // A worker's projections start there: until it reports, they are starting.
    for (const feed of this.#feeds.values()) feed.state = this.#worker === undefined ? 'following' : 'starting';
    const events: LeaseEvents = {
      // #changeRole never rejects: a failure is logged there.
      lead: () => void this.#changeRole(() => this.#lead()),
      follow: () => void this.#changeRole(() => this.#follow()),
      positions: (update) => this.#followed(update),
      resync: () => {
        this.#resync().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not read the checkpoints; waiting for the next notification'));
      },
    };
    if (this.#worker === undefined) this.#lease.start(events);
    else
      this.#worker.start(
        { ...events, feeds: (states) => this.#mirror(states), applied: (name, applied) => this.#tellDuties(name, applied) },
        { names: this.projectionNames, followedByDuties: this.#followedByDuties() },
      );
  }

  #followedByDuties(): readonly string[] | null {
    const names = new Set<string>();
    for (const duty of this.#duties) {
      if (duty.applied === undefined) continue;
      if (duty.projections === undefined) return null;
      for (const name of duty.projections) names.add(name);
    }
    return [...names];
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await (this.#worker ?? this.#lease).stop();
    await this.#changeRole(() => this.#follow());
    for (const feed of this.#feeds.values()) if (feed.state === 'following') feed.state = 'stopped';
  }

  /** Whether this instance applies the projections now (holds the lease). */
  get leading(): boolean {
    return (this.#worker ?? this.#lease).held;
  }

  /** Who holds the projection lease (see lease.ts). */
  lease(): Promise<LeaseStatus> {
    return (this.#worker ?? this.#lease).status();
  }

  #changeRole(change: () => Promise<void>): Promise<void> {
    this.#transition = this.#transition.then(change).catch((error: unknown) => this.#logger.error({ err: error }, 'projection lease: changing role failed'));
    return this.#transition;
  }

  async #lead(): Promise<void> {
    if (!this.#running || !this.leading) return;
    if (this.#worker === undefined) for (const name of this.#projections.keys()) this.#startFeed(name);
    for (const duty of this.#duties) duty.start();
  }

  async #follow(): Promise<void> {
    await Promise.all([
      ...[...this.#projections.keys()].map((name) => this.#stopFeed(name)),
      ...this.#duties.map((duty) => duty.stop().catch((error: unknown) => this.#logger.error({ duty: duty.name, err: error }, 'a duty of the lease holder failed to stop'))),
    ]);
    if (!this.#running) return;
    if (this.#worker === undefined) for (const feed of this.#feeds.values()) if (feed.state !== 'failed') feed.state = 'following';
    await this.#resync();
  }

  /** Where the worker thread's projections stand: their states as they are there, positions only forward. */
  #mirror(states: readonly FeedState[]): void {
    for (const { name, state, position, lastError } of states) {
      const feed = this.#feeds.get(name);
      if (feed === undefined) continue;
      feed.state = state;
      if (lastError === undefined) delete feed.lastError;
      else feed.lastError = lastError;
      if (position > feed.position) feed.position = position;
    }
    this.#notifyWaiters();
  }

  /** A follower learns where the holder stands: positions only move forward. */
  #followed(update: Readonly<Record<string, Position>>): void {
    for (const [name, position] of Object.entries(update)) {
      const feed = this.#feeds.get(name);
      if (feed !== undefined && feed.loop === undefined && position > feed.position) feed.position = position;
    }
    this.#notifyWaiters();
  }

  /** A follower reads the stored checkpoints (on joining, and after its connection was remade). */
  async #resync(): Promise<void> {
    const stored = await this.#checkpoints().selectFrom('projection_checkpoints').select(['name', 'position']).execute();
    this.#followed(Object.fromEntries(stored.map((row) => [row.name, row.position as Position])));
  }

  /** What this process knows of each projection, without I/O (for readiness probes). */
  localStates(): FeedState[] {
    return [...this.#feeds.entries()].map(([name, feed]) => ({
      name,
      state: feed.state,
      position: feed.position,
      ...(feed.lastError === undefined ? {} : { lastError: feed.lastError }),
    }));
  }

  /** The position a projection has reached in this process. */
  position(name: string): Position {
    return this.#feed(name).position;
  }

  /**
   * Resolves once the named projections (all by default) have applied every event up to
   * `position`: a caller that appended can then read its own write.
   */
  waitFor(position: Position, options: { projections?: readonly string[]; timeoutMs?: number } = {}): Promise<void> {
    const names = options.projections ?? this.projectionNames;
    for (const name of names) this.#feed(name);
    if (this.#reached(names, position)) return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new ProjectionTimeoutError(`projections ${names.join(', ')} did not reach ${position} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        position,
        names,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Replays every event into fresh tables (the projection's migrations down, then up) in one
   * transaction: readers see the old read model until the new one is complete.
   */
  async rebuild(name: string): Promise<{ events: number; position: Position }> {
    // While the worker runs, it rebuilds (its feed stops and starts again there); else this thread does.
    if (this.#worker !== undefined && this.#running) {
      this.#projection(name);
      return this.#worker.rebuild(name);
    }
    const projection = this.#projection(name);
    const feed = this.#feed(name);
    const wasRunning = this.#running && feed.loop !== undefined;
    await this.#stopFeed(name);
    const stateBefore = feed.state;
    feed.state = 'rebuilding';
    this.#notifyWaiters();
    const migrations = Object.entries(projection.migrations)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, m]) => m);
    let events = 0;
    let position: Position = START;
    try {
      await this.#readStore.writeLock.run(() =>
        this.#readStore.db.transaction().execute(async (tx) => {
          const schemaDb = tx as unknown as Kysely<unknown>;
          for (const m of [...migrations].reverse()) await m.down(schemaDb);
          for (const m of migrations) await m.up(schemaDb);
          const handles = new Set(projection.handles);
          for await (const page of this.#store.readAll({ after: START })) {
            events += await this.#apply(projection, handles, this.#decodeAll(page), tx);
            position = page[page.length - 1]!.position;
          }
          await this.#saveCheckpoint(tx, name, position);
        }),
      );
      feed.position = position;
      feed.state = stateBefore === 'following' ? 'following' : 'stopped';
      delete feed.lastError;
      this.#logger.info({ projection: name, events, position }, 'projection rebuilt');
    } catch (error) {
      feed.state = 'failed';
      feed.lastError = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      if (wasRunning) this.#startFeed(name);
      this.#notifyWaiters();
    }
    return { events, position };
  }

  /** Each projection's position and lag, read from the read store (so it also works from another process). */
  async status(): Promise<ProjectionStatus[]> {
    // The worker knows best what it has applied: it answers once it has taken in every append made so far.
    const remote = await this.#worker?.projectionStatus();
    if (remote) return remote;
    const stored = await this.#checkpoints().selectFrom('projection_checkpoints').select(['name', 'position']).execute();
    const byName = new Map(stored.map((row) => [row.name, row.position as Position]));
    const head = await this.#store.headPosition();
    const now = Date.now();
    return Promise.all(
      [...this.#projections.keys()].map(async (name) => {
        const feed = this.#feed(name);
        // A feed of this process may be ahead of its stored checkpoint (batches it had nothing to do for).
        const stored = byName.get(name) ?? START;
        const position = feed.position > stored ? feed.position : stored;
        const lagEvents = position >= head ? 0 : await this.#store.countAfter(position, LAG_COUNT_CAP);
        let lagMs = 0;
        if (lagEvents > 0) {
          for await (const page of this.#store.readAll({ after: position, limit: 1 })) lagMs = Math.max(0, now - page[0]!.recordedAt.getTime());
        }
        const status: ProjectionStatus = {
          name,
          position,
          head,
          lagEvents,
          lagCapped: lagEvents >= LAG_COUNT_CAP,
          lagMs,
          state: feed.state,
          ...(feed.lastError === undefined ? {} : { lastError: feed.lastError }),
        };
        return status;
      }),
    );
  }

  #decodeAll(events: readonly RecordedEvent[]): E[] {
    const decoded: E[] = [];
    for (const event of events) {
      const typed = this.#decode(event);
      if (typed !== null) decoded.push(typed);
    }
    return decoded;
  }

  /** Applies the events of one transaction that the projection handles. */
  async #apply(projection: Projection<DB, E>, handles: ReadonlySet<string>, events: readonly E[], tx: Transaction<DB>): Promise<number> {
    const handled = events.filter((event) => handles.has(event.type));
    if (handled.length === 0) return 0;
    if (projection.handleBatch) await projection.handleBatch(handled, tx);
    else for (const event of handled) await projection.handle(event, tx);
    return handled.length;
  }

  #projection(name: string): Projection<DB, E> {
    const projection = this.#projections.get(name);
    if (!projection) throw new Error(`no projection named ${JSON.stringify(name)}; known: ${this.projectionNames.join(', ')}`);
    return projection;
  }

  #feed(name: string): Feed {
    this.#projection(name);
    return this.#feeds.get(name)!;
  }

  #checkpoints(): Kysely<CheckpointTables> {
    return this.#readStore.db as unknown as Kysely<CheckpointTables>;
  }

  async #loadCheckpoint(name: string): Promise<Position> {
    const row = await this.#checkpoints().selectFrom('projection_checkpoints').select('position').where('name', '=', name).executeTakeFirst();
    return (row?.position ?? START) as Position;
  }

  async #saveCheckpoint(tx: Transaction<DB>, name: string, position: Position): Promise<void> {
    const db = tx as unknown as Transaction<CheckpointTables>;
    const updatedAt = new Date().toISOString();
    await db
      .insertInto('projection_checkpoints')
      .values({ name, position, updated_at: updatedAt })
      .onConflict((oc) => oc.column('name').doUpdateSet({ position, updated_at: updatedAt }))
      .execute();
  }

  #startFeed(name: string): void {
    const feed = this.#feed(name);
    if (feed.loop) return;
    feed.stopping = false;
    feed.state = 'starting';
    feed.loop = this.#runFeed(name, feed).finally(() => {
      feed.loop = undefined;
      if (feed.state !== 'failed') feed.state = 'stopped';
      this.#notifyWaiters();
    });
  }

  async #stopFeed(name: string): Promise<void> {
    const feed = this.#feed(name);
    const wasRunning = feed.loop !== undefined;
    feed.stopping = true;
    feed.wake?.();
    await feed.subscription?.close();
    await feed.loop;
    // Keep what skipped batches advanced, so a restart does not read them again.
    if (wasRunning && feed.state !== 'failed' && feed.position !== START) {
      await this.#readStore.writeLock
        .run(() =>
          this.#readStore.db.transaction().execute(async (tx) => {
            if ((await this.#storedCheckpoint(tx, name)) < feed.position) await this.#saveCheckpoint(tx, name, feed.position);
          }),
        )
        .catch((error: unknown) => this.#logger.warn({ projection: name, err: error }, 'could not save the checkpoint on stop'));
    }
  }

  async #runFeed(name: string, feed: Feed): Promise<void> {
    const projection = this.#projection(name);
    const handles = new Set(projection.handles);
    while (!feed.stopping) {
      try {
        await this.#ensureCheckpointRow(name);
        feed.position = await this.#loadCheckpoint(name);
        this.#notifyWaiters();
        const subscription = this.#store.subscribe({ after: feed.position, batchSize: this.#batchSize });
        feed.subscription = subscription;
        if (feed.stopping) await subscription.close();
        feed.state = 'running';
        delete feed.lastError;
        this.#notifyWaiters();
        let savedAt = Date.now();
        for await (const page of subscription) {
          const last = page[page.length - 1]!.position;
          const batch = this.#decodeAll(page);
          // A batch with nothing this projection handles changes no row: it only moves the
          // checkpoint, which can wait (a crash re-reads those events and again applies none).
          if (!batch.some((event) => handles.has(event.type)) && Date.now() - savedAt < CHECKPOINT_SAVE_INTERVAL_MS) {
            feed.position = last;
            this.#notifyWaiters();
            this.#lease.publish(name, last);
            continue;
          }
          savedAt = Date.now();
          let applied: readonly E[] = [];
          feed.position = await this.#readStore.writeLock.run(() =>
            this.#readStore.db.transaction().execute(async (tx) => {
              // Another process (a second gateway, a CLI rebuild) may have moved the checkpoint:
              // what it applied is not applied again. PostgreSQL locks the row for the transaction.
              const stored = await this.#storedCheckpoint(tx, name);
              const fresh = stored === START ? batch : batch.filter((event) => event.position > stored);
              await this.#apply(projection, handles, fresh, tx);
              applied = fresh.filter((event) => handles.has(event.type));
              if (last <= stored) return stored;
              await this.#saveCheckpoint(tx, name, last);
              return last;
            }),
          );
          this.#tellDuties(name, applied);
          this.#notifyWaiters();
          this.#lease.publish(name, feed.position);
          if (feed.busy) {
            feed.busy = false;
            this.#logger.info({ projection: name }, 'projection goes on: the store is no longer busy');
          }
          if (page.length >= FLOOD_BATCH && !feed.stopping) await new Promise((resolve) => setTimeout(resolve, FLOOD_PAUSE_MS));
        }
      } catch (error) {
        if (feed.stopping) break;
        if (isSqliteBusy(error)) {
          // Another process (a CLI command beside the gateway) holds the file's write lock: a
          // state to wait out, said once, not a failure to report at every retry.
          if (!feed.busy)
            this.#logger.warn(
              { projection: name, reason: error instanceof Error ? error.message : String(error) },
              "projection waits: another process holds the store's write lock; retrying",
            );
          else this.#logger.debug({ projection: name }, "projection still waits for the store's write lock");
          feed.busy = true;
        } else {
          feed.state = 'failed';
          feed.lastError = error instanceof Error ? error.message : String(error);
          this.#notifyWaiters();
          this.#logger.error({ projection: name, err: error }, 'projection failed; retrying from its checkpoint');
        }
        await feed.subscription?.close().catch(() => undefined);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#retryDelayMs);
          feed.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        feed.wake = undefined;
      }
    }
  }

  #tellDuties(name: string, events: readonly E[]): void {
    if (events.length === 0) return;
    for (const duty of this.#duties) {
      if (duty.projections !== undefined && !duty.projections.includes(name)) continue;
      try {
        duty.applied?.(name, events);
      } catch (error) {
        this.#logger.error({ duty: duty.name, projection: name, err: error }, 'a duty of the lease holder failed to take in what was applied');
      }
    }
  }

  /** The row exists before the first batch, so that PostgreSQL can lock it. */
  async #ensureCheckpointRow(name: string): Promise<void> {
    await this.#readStore.writeLock.run(() =>
      this.#checkpoints()
        .insertInto('projection_checkpoints')
        .values({ name, position: START, updated_at: new Date().toISOString() })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute(),
    );
  }

  async #storedCheckpoint(tx: Transaction<DB>, name: string): Promise<Position> {
    const db = tx as unknown as Transaction<CheckpointTables>;
    const query = db.selectFrom('projection_checkpoints').select('position').where('name', '=', name);
    const row = await (this.#readStore.kind === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
    return (row?.position ?? START) as Position;
  }

  #reached(names: readonly string[], position: Position): boolean {
    return names.every((name) => this.#feeds.get(name)!.position >= position);
  }

  #notifyWaiters(): void {
    this.#onProgress?.();
    if (this.#waiters.length === 0) return;
    const pending: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (this.#reached(waiter.names, waiter.position)) waiter.resolve();
      else pending.push(waiter);
    }
    this.#waiters = pending;
  }
}
