// What a projection is: a name, the event types it handles, the tables it owns (created and
// dropped by its migrations) and a handler applied to each event inside the runner's transaction.

import type { Kysely, Transaction } from 'kysely';
import type { RecordedEvent } from '../src/eventstore/port.js';

export interface ProjectionMigration {
  up(db: Kysely<unknown>): Promise<void>;
  /** Drops what `up` made; `rebuild` runs every `down` then every `up` to get fresh tables. */
  down(db: Kysely<unknown>): Promise<void>;
}

interface ProjectionDefinition {
  /** Lower-case letters, digits and underscores; the key of its checkpoint. */
  readonly name: string;
  readonly handles: readonly string[];
  readonly tables: readonly string[];
  /** Applied in the order of their names. */
  readonly migrations: Readonly<Record<string, ProjectionMigration>>;
}

/**
 * A projection handles one event at a time, or a batch: the events of one transaction that
 * it handles, in order, so that it can fold them in memory and write each row once (the
 * difference between ~25k and several 100k events per second in a rebuild).
 */
export type Projection<DB> = ProjectionDefinition &
  (
    | { handle(event: RecordedEvent, tx: Transaction<DB>): Promise<void>; handleBatch?: never }
    | { handleBatch(events: readonly RecordedEvent[], tx: Transaction<DB>): Promise<void>; handle?: never }
  );

/** The runner's own table, present in every read store. */
export interface CheckpointTables {
  projection_checkpoints: {
    name: string;
    position: string;
    updated_at: string;
  };
}
