// What a projection is: a name, the event types it handles, the tables it owns (created and
// dropped by its migrations) and a handler applied to each event inside the runner's transaction.

import type { Kysely, Transaction } from 'kysely';
import type { Position, RecordedEvent } from '../../src/eventstore/port.js';

export interface ProjectionMigration {
  up(db: Kysely<unknown>): Promise<void>;
  /** Drops what `up` made; `rebuild` runs every `down` then every `up` to get fresh tables. */
  down(db: Kysely<unknown>): Promise<void>;
}

/** What the runner needs of an event: its type and its place in the store's order. */
export interface ProjectableEvent {
  readonly type: string;
  readonly position: Position;
}

interface ProjectionDefinition<E extends ProjectableEvent> {
  /** Lower-case letters, digits and underscores; the key of its checkpoint. */
  readonly name: string;
  /** The event types it handles: the runner hands it these and no others. */
  readonly handles: readonly E['type'][];
  readonly tables: readonly string[];
  /** Applied in the order of their names. */
  readonly migrations: Readonly<Record<string, ProjectionMigration>>;
}

/**
 * A projection handles one event at a time, or a batch: the events of one transaction that
 * it handles, in order, so that it can fold them in memory and write each row once (the
 * difference between ~25k and several 100k events per second in a rebuild). It receives its
 * events typed (`E`, decoded once by the runner); the handlers are methods, so a projection
 * of some event types is a projection of all of them, which is safe because the runner hands
 * it only the types it `handles`.
 */
export type Projection<DB, E extends ProjectableEvent = RecordedEvent> = ProjectionDefinition<E> &
  ({ handle(event: E, tx: Transaction<DB>): Promise<void>; handleBatch?: never } | { handleBatch(events: readonly E[], tx: Transaction<DB>): Promise<void>; handle?: never });

/** The runner's own tables, present in every read store. */
export interface CheckpointTables {
  projection_checkpoints: {
    name: string;
    position: string;
    updated_at: string;
  };
  /** Who holds the projection lease (lease.ts). */
  projection_lease: {
    name: string;
    instance: string;
    backend_pid: number;
    acquired_at: string;
  };
}
