// A small projection used by the runner's tests and the rebuild benchmark: one row per stream,
// upserted for every event. `events` counts applications, so an event applied twice shows.
// It comes in the two shapes a projection can take: one event at a time, or folded per batch.

import { sql, type Transaction } from 'kysely';
import type { RecordedEvent } from '../../src/eventstore/port.js';
import type { CheckpointTables, Projection, ProjectionMigration } from '../../projections/core/projection.js';

export interface StreamActivityTables extends CheckpointTables {
  stream_activity: {
    stream: string;
    last_revision: number;
    last_type: string;
    events: number;
  };
}

type Row = StreamActivityTables['stream_activity'];

const migrations: Record<string, ProjectionMigration> = {
  '0001_create': {
    async up(db) {
      await db.schema
        .createTable('stream_activity')
        .addColumn('stream', 'text', (c) => c.primaryKey())
        .addColumn('last_revision', 'integer', (c) => c.notNull())
        .addColumn('last_type', 'text', (c) => c.notNull())
        .addColumn('events', 'integer', (c) => c.notNull())
        .execute();
    },
    async down(db) {
      await db.schema.dropTable('stream_activity').ifExists().execute();
    },
  },
};

async function upsert(tx: Transaction<StreamActivityTables>, rows: readonly Row[]): Promise<void> {
  // 4 parameters a row; SQLite takes 32766 parameters a statement.
  for (let i = 0; i < rows.length; i += 2000) {
    await tx
      .insertInto('stream_activity')
      .values(rows.slice(i, i + 2000))
      .onConflict((oc) =>
        oc.column('stream').doUpdateSet((eb) => ({
          last_revision: eb.ref('excluded.last_revision'),
          last_type: eb.ref('excluded.last_type'),
          events: sql<number>`stream_activity.events + excluded.events`,
        })),
      )
      .execute();
  }
}

function rowOf(event: RecordedEvent): Row {
  return { stream: event.stream, last_revision: Number(event.revision), last_type: event.type, events: 1 };
}

export function streamActivityProjection(options: { handles?: readonly string[]; beforeEach?: (type: string) => void; batched?: boolean } = {}): Projection<StreamActivityTables> {
  const base = { name: 'stream_activity', handles: options.handles ?? ['Happened', 'Other'], tables: ['stream_activity'], migrations };
  if (options.batched) {
    return {
      ...base,
      async handleBatch(events, tx) {
        const folded = new Map<string, Row>();
        for (const event of events) {
          options.beforeEach?.(event.type);
          const row = folded.get(event.stream);
          if (row) {
            row.last_revision = Number(event.revision);
            row.last_type = event.type;
            row.events++;
          } else folded.set(event.stream, rowOf(event));
        }
        await upsert(tx, [...folded.values()]);
      },
    };
  }
  return {
    ...base,
    async handle(event, tx) {
      options.beforeEach?.(event.type);
      await upsert(tx, [rowOf(event)]);
    },
  };
}
