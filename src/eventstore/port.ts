// The event-store port: what keyledger needs from any event store, and nothing more.
// Three adapters implement it (sqlite, postgres, kurrentdb); one contract suite checks them all.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * A position in the global order of all events. Opaque to callers, but positions are
 * strings built so that plain string comparison is the store's total order, and a
 * position is its own cursor. `START` is before every event.
 */
export type Position = string & { readonly __position: unique symbol };
export const START = '' as Position;

export function comparePositions(a: Position, b: Position): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The revision a writer expects a stream to be at. A number is the revision of its last event (0-based). */
export type ExpectedRevision = 'no_stream' | 'any' | 'exists' | bigint;

export interface NewEvent<Type extends string = string, Data extends JsonValue = JsonValue> {
  /** A UUID; appending an event whose id is already in the stream does not write it again. */
  readonly id: string;
  readonly type: Type;
  readonly data: Data;
  readonly metadata?: JsonObject;
}

export interface RecordedEvent<Type extends string = string, Data extends JsonValue = JsonValue> {
  readonly id: string;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: JsonObject;
  readonly stream: string;
  /** 0-based position of the event in its stream. */
  readonly revision: bigint;
  readonly position: Position;
  readonly recordedAt: Date;
}

export interface AppendResult {
  /** Revision of the stream's last event after the append. */
  readonly nextRevision: bigint;
  /** Position of the last appended event. */
  readonly position: Position;
}

export interface ReadAllOptions {
  /** Read events strictly after this position (default `START`). */
  readonly after?: Position;
  readonly limit?: number;
}

export interface SubscribeOptions {
  /** Deliver events strictly after this position (default `START`). */
  readonly after?: Position;
  /** Largest batch handed out at once (default 1000). */
  readonly batchSize?: number;
}

/**
 * A catch-up subscription: it yields batches of events in global order, first from the
 * store, then live as they are appended, with no gap and no duplicate at the switch.
 * Iteration ends after `close()`, or throws if the store fails.
 */
export interface Subscription extends AsyncIterable<readonly RecordedEvent[]> {
  close(): Promise<void>;
}

export interface EventStore {
  readonly kind: 'sqlite' | 'postgres' | 'kurrentdb';
  append(stream: string, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult>;
  /** The stream's events in order; an empty array for a stream that does not exist. */
  readStream(stream: string, options?: { fromRevision?: bigint }): Promise<RecordedEvent[]>;
  /** Events of every stream in global order, in pages. */
  readAll(options?: ReadAllOptions): AsyncIterable<readonly RecordedEvent[]>;
  subscribe(options?: SubscribeOptions): Subscription;
  /** Position of the last event in the store (`START` when empty). */
  headPosition(): Promise<Position>;
  /** How many events lie after `after`, counting at most `cap`. */
  countAfter(after: Position, cap: number): Promise<number>;
  /**
   * Events may have been appended through another connection of this process (the main thread,
   * seen from the projections' worker thread): the subscriptions look again now, instead of at
   * the store's next notification or poll. Stores whose subscriptions are pushed need none.
   */
  wake?(): void;
  close(): Promise<void>;
}
