// A small projection used by the runner's tests and the rebuild benchmark: one row per stream,
// upserted for every event. `events` counts applications, so an event applied twice shows.

import { sql } from 'kysely';
import type { CheckpointTables, Projection } from '../../projections/projection.js';

export interface StreamActivityTables extends CheckpointTables {
  stream_activity: {
    stream: string;
    last_revision: number;
    last_type: string;
    events: number;
  };
}

export function streamActivityProjection(options: { handles?: readonly string[]; beforeEach?: (type: string) => void } = {}): Projection<StreamActivityTables> {
  return {
    name: 'stream_activity',
    handles: options.handles ?? ['Happened', 'Other'],
    tables: ['stream_activity'],
    migrations: {
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
    },
    async handle(event, tx) {
      options.beforeEach?.(event.type);
      const row = { stream: event.stream, last_revision: Number(event.revision), last_type: event.type, events: 1 };
      await tx
        .insertInto('stream_activity')
        .values(row)
        .onConflict((oc) =>
          oc.column('stream').doUpdateSet({
            last_revision: row.last_revision,
            last_type: row.last_type,
            events: sql<number>`stream_activity.events + 1`,
          }),
        )
        .execute();
    },
  };
}
