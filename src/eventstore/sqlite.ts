// The embedded event store: one SQLite file (better-sqlite3, WAL). Appends are synchronous
// transactions, so within a process they are naturally serialised; other processes on the
// same file are serialised by SQLite's write lock (BEGIN IMMEDIATE).

import { DuplicateEventIdError, InvalidAppendError, WrongExpectedRevisionError } from './errors.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  JsonObject,
  JsonValue,
  NewEvent,
  Position,
  ReadAllOptions,
  RecordedEvent,
  SubscribeOptions,
  Subscription,
} from './port.js';
import { START } from './port.js';
import { ChangeSignal, pullSubscription } from './pull-subscription.js';
import { validateAppend } from './validation.js';
import { openSqliteFile, writeLockFor, type AsyncLock, type SqliteDatabase } from '../sqlite/database.js';

/** Columns in the order of `COLUMNS`; rows are read raw (arrays), which is about twice as fast. */
type EventRow = [globalPosition: number, stream: string, revision: number, id: string, type: string, data: string, metadata: string, recordedAt: number];
const COLUMNS = 'global_position, stream, revision, id, type, data, metadata, recorded_at';

/**
 * An event read from SQLite. Data, metadata and time are decoded on first use: a projection
 * that skips most event types (and every catch-up read past them) never pays for decoding.
 */
class SqliteRecordedEvent implements RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: bigint;
  readonly position: Position;
  #data: string;
  #metadata: string;
  #recordedAt: number;
  #decodedData: JsonValue | undefined;
  #decodedMetadata: JsonObject | undefined;

  constructor(row: EventRow) {
    this.position = sqlitePosition(row[0]);
    this.stream = row[1];
    this.revision = BigInt(row[2]);
    this.id = row[3];
    this.type = row[4];
    this.#data = row[5];
    this.#metadata = row[6];
    this.#recordedAt = row[7];
  }

  get data(): JsonValue {
    return (this.#decodedData ??= JSON.parse(this.#data) as JsonValue);
  }

  get metadata(): JsonObject {
    return (this.#decodedMetadata ??= JSON.parse(this.#metadata) as JsonObject);
  }

  get recordedAt(): Date {
    return new Date(this.#recordedAt);
  }

  toJSON(): object {
    return {
      id: this.id,
      type: this.type,
      stream: this.stream,
      revision: String(this.revision),
      position: this.position,
      data: this.data,
      metadata: this.metadata,
      recordedAt: this.recordedAt,
    };
  }
}

/** The events table's DDL; exported so the append benchmark's raw-insert reference has the same shape. */
export const sqliteEventsTable = (name: string): string => `
  create table if not exists ${name} (
    global_position integer primary key,
    stream text not null,
    revision integer not null,
    id text not null unique,
    type text not null,
    data text not null,
    metadata text not null,
    recorded_at integer not null,
    unique (stream, revision)
  );
`;

/** How often to look for commits made by other processes on the same file. */
const FOREIGN_COMMIT_POLL_MS = 200;

function sqlitePosition(globalPosition: number): Position {
  return globalPosition.toString(16).padStart(16, '0') as Position;
}

function globalPositionOf(position: Position): number {
  if (position === START) return 0;
  if (!/^[0-9a-f]{16}$/.test(position)) throw new InvalidAppendError(`not a position of this store: ${JSON.stringify(position)}`);
  return Number.parseInt(position, 16);
}

function toRecorded(row: EventRow): RecordedEvent {
  return new SqliteRecordedEvent(row);
}

export interface SqliteEventStore extends EventStore {
  readonly kind: 'sqlite';
  readonly path: string;
}

export function openSqliteEventStore(path: string, options: { now?: () => Date } = {}): SqliteEventStore {
  const db: SqliteDatabase = openSqliteFile(path);
  db.exec(sqliteEventsTable('events'));
  const lock: AsyncLock = writeLockFor(path);
  const now = options.now ?? (() => new Date());
  const changes = new ChangeSignal();
  const subscriptions = new Set<Subscription>();

  const byId = db.prepare<[string], { stream: string; revision: number; global_position: number }>('select stream, revision, global_position from events where id = ?');
  const lastRevision = db.prepare<[string], { revision: number | null }>('select max(revision) as revision from events where stream = ?');
  const insert = db.prepare('insert into events (stream, revision, id, type, data, metadata, recorded_at) values (?, ?, ?, ?, ?, ?, ?)');
  const streamRows = db.prepare<[string, number], EventRow>(`select ${COLUMNS} from events where stream = ? and revision >= ? order by revision`).raw();
  const pageRows = db.prepare<[number, number], EventRow>(`select ${COLUMNS} from events where global_position > ? order by global_position limit ?`).raw();
  const head = db.prepare<[], { p: number | null }>('select max(global_position) as p from events');
  const countAfter = db.prepare<[number, number], { n: number }>('select count(*) as n from (select 1 from events where global_position > ? limit ?)');

  /** A replay of an earlier append returns that append's result; any other reuse of an id is refused. */
  function replayOf(stream: string, events: readonly NewEvent[]): AppendResult | undefined {
    const found = events.map((e) => byId.get(e.id.toLowerCase()));
    if (found.every((f) => f === undefined)) return undefined;
    const first = found[0];
    const isReplay = first !== undefined && found.every((f, i) => f !== undefined && f.stream === stream && f.revision === first.revision + i);
    if (!isReplay) {
      const clash = events[found.findIndex((f) => f !== undefined)]!;
      throw new DuplicateEventIdError(stream, clash.id);
    }
    const last = found[found.length - 1]!;
    return { nextRevision: BigInt(last.revision), position: sqlitePosition(last.global_position) };
  }

  // The common case writes at once; a replay (by event id) is looked for only when the write is refused.
  const appendTx = db.transaction((stream: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult => {
    const current = lastRevision.get(stream)?.revision ?? null;
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && current === null) ||
      (expected === 'exists' && current !== null) ||
      (typeof expected === 'bigint' && current !== null && BigInt(current) === expected);
    if (!ok) throw new WrongExpectedRevisionError(stream, expected, current === null ? null : BigInt(current));
    let revision = current ?? -1;
    let position = 0;
    const recordedAt = now().getTime();
    for (const event of events) {
      revision++;
      const info = insert.run(stream, revision, event.id.toLowerCase(), event.type, JSON.stringify(event.data), JSON.stringify(event.metadata ?? {}), recordedAt);
      position = Number(info.lastInsertRowid);
    }
    return { nextRevision: BigInt(revision), position: sqlitePosition(position) };
  });

  function appendOrReplay(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): AppendResult {
    try {
      return appendTx.immediate(stream, events, expected);
    } catch (error) {
      const idTaken = error instanceof Error && 'code' in error && error.code === 'SQLITE_CONSTRAINT_UNIQUE' && error.message.includes('events.id');
      if (!idTaken && !(error instanceof WrongExpectedRevisionError)) throw error;
      const replay = replayOf(stream, events);
      if (replay) return replay;
      throw error;
    }
  }

  // Commits by other processes (a CLI next to a running server) show as a new data_version.
  let dataVersion = db.pragma('data_version', { simple: true }) as number;
  const foreignPoll = setInterval(() => {
    const v = db.pragma('data_version', { simple: true }) as number;
    if (v !== dataVersion) {
      dataVersion = v;
      changes.notify();
    }
  }, FOREIGN_COMMIT_POLL_MS);
  foreignPoll.unref();

  async function readPage(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    return pageRows.all(globalPositionOf(after), limit).map(toRecorded);
  }

  let closed = false;
  return {
    kind: 'sqlite',
    path,
    async append(stream, events, options = {}) {
      const expected = options.expectedRevision ?? 'any';
      validateAppend(stream, events, expected);
      const result = await lock.run(() => appendOrReplay(stream, events, expected));
      changes.notify();
      return result;
    },
    async readStream(stream, options = {}) {
      return streamRows.all(stream, Number(options.fromRevision ?? 0n)).map(toRecorded);
    },
    async *readAll(options: ReadAllOptions = {}) {
      let after = options.after ?? START;
      let remaining = options.limit ?? Number.POSITIVE_INFINITY;
      while (remaining > 0) {
        const page = await readPage(after, Math.min(1000, remaining));
        if (page.length === 0) return;
        yield page;
        remaining -= page.length;
        after = page[page.length - 1]!.position;
      }
    },
    subscribe(options: SubscribeOptions = {}): Subscription {
      const source = {
        readPage,
        changeCounter: () => changes.counter,
        waitForChange: (since: number, signal: AbortSignal) => changes.wait(since, signal),
      };
      const subscription = pullSubscription(source, options.after ?? START, options.batchSize ?? 1000, () => subscriptions.delete(subscription));
      subscriptions.add(subscription);
      return subscription;
    },
    async headPosition() {
      const p = head.get()?.p;
      return p == null ? START : sqlitePosition(p);
    },
    async countAfter(after, cap) {
      return countAfter.get(globalPositionOf(after), cap)?.n ?? 0;
    },
    wake() {
      changes.notify();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(foreignPoll);
      await Promise.all([...subscriptions].map((s) => s.close()));
      await lock.run(() => db.close());
    },
  };
}
