// The KurrentDB (and EventStoreDB 20+) adapter of the event-store port, over @kurrent/kurrentdb-client.
// The server owns ordering, idempotency by event id and optimistic concurrency; this file only translates.

import {
  ANY,
  BACKWARDS,
  DeadlineExceededError,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  NotLeaderError,
  START as KURRENT_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
} from '@kurrent/kurrentdb-client';
import type { AllStreamResolvedEvent, AllStreamSubscription, AppendStreamState, JSONType, Position as KurrentPosition, ReadPosition } from '@kurrent/kurrentdb-client';
import { EventStoreError, InvalidAppendError, StoreUnavailableError, WrongExpectedRevisionError } from './errors.js';
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
import { hex16, validateAppend } from './validation.js';

export interface KurrentDbLogger {
  warn(obj: object, msg?: string): void;
}

export interface KurrentDbOptions {
  /** How long any one call to the server may take before it counts as unavailable (default 10 s). */
  deadlineMs?: number;
  logger?: KurrentDbLogger;
}

/** What the client's expected-state option (`streamState` in 1.x, no longer `expectedRevision`) accepts. */
export type KurrentStreamState = AppendStreamState;

const DEFAULT_DEADLINE_MS = 10_000;
const PAGE_SIZE = 1000;
const DEFAULT_BATCH_SIZE = 1000;
/** Events scanned per step when looking backwards for the last non-system event. */
const HEAD_SCAN = 32;
const U64_MAX = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Pure mappings (unit-tested without a server)
// ---------------------------------------------------------------------------------------------

export function toKurrentStreamState(expected: ExpectedRevision): KurrentStreamState {
  switch (expected) {
    case 'no_stream':
      return NO_STREAM;
    case 'any':
      return ANY;
    case 'exists':
      return STREAM_EXISTS;
    default:
      if (typeof expected !== 'bigint' || expected < 0n) {
        throw new InvalidAppendError(`expected revision ${String(expected)} is neither a state nor a revision`);
      }
      return expected;
  }
}

function fromKurrentStreamState(state: unknown): ExpectedRevision | undefined {
  if (state === NO_STREAM) return 'no_stream';
  if (state === ANY) return 'any';
  if (state === STREAM_EXISTS) return 'exists';
  if (typeof state === 'bigint') return state;
  return undefined;
}

/**
 * Encoding: 16 lower-case hex digits of `commit` followed by 16 of `prepare`, no separator
 * (32 characters). Fixed width makes plain string order equal to the server's (commit, prepare)
 * order, which is what the port promises for positions.
 */
export function positionFromKurrent({ commit, prepare }: { commit: bigint; prepare: bigint }): Position {
  if (commit < 0n || commit > U64_MAX || prepare < 0n || prepare > U64_MAX) {
    throw new EventStoreError(`KurrentDB position (${String(commit)}, ${String(prepare)}) is outside the unsigned 64-bit range`);
  }
  return `${hex16(commit)}${hex16(prepare)}` as Position;
}

const ENCODED_POSITION = /^[0-9a-f]{32}$/;

/** The inverse of `positionFromKurrent`; `START` becomes the client's own start-of-$all marker. */
export function positionToKurrent(p: Position): typeof KURRENT_START | KurrentPosition {
  if (p === START) return KURRENT_START;
  if (typeof p !== 'string' || !ENCODED_POSITION.test(p)) {
    const shown = typeof p === 'string' ? JSON.stringify(p.slice(0, 80)) : typeof p;
    throw new InvalidAppendError(`not a KurrentDB position: ${shown}`);
  }
  return { commit: BigInt(`0x${p.slice(0, 16)}`), prepare: BigInt(`0x${p.slice(16)}`) };
}

/** Error `type` tags of the client's errors that mean "the server is not (fully) there". */
const UNAVAILABLE_TYPES = new Set(['unavailable', 'deadline-exceeded', 'not-leader', 'timeout']);
/** Names the native read bridge gives the same failures before the client wraps them. */
const UNAVAILABLE_NAMES = new Set(['UnavailableError', 'DeadlineExceededError', 'NotLeaderError', 'TimeoutError']);
/** gRPC status codes (@grpc/grpc-js `status`); appends can reject with a raw ServiceError carrying them. */
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function field(err: object, key: string): unknown {
  return (err as Record<string, unknown>)[key];
}

function isWrongExpectedVersion(err: object): boolean {
  return err instanceof WrongExpectedVersionError || field(err, 'type') === 'wrong-expected-version';
}

function isStreamNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err instanceof StreamNotFoundError || field(err, 'type') === 'stream-not-found');
}

function isUnavailable(err: object): boolean {
  if (err instanceof UnavailableError || err instanceof DeadlineExceededError || err instanceof NotLeaderError || err instanceof TimeoutError) {
    return true;
  }
  const type = field(err, 'type');
  if (typeof type === 'string' && UNAVAILABLE_TYPES.has(type)) return true;
  const name = field(err, 'name');
  if (typeof name === 'string' && UNAVAILABLE_NAMES.has(name)) return true;
  const code = field(err, 'code');
  // A numeric code is only a gRPC status on gRPC-shaped errors (they carry details or metadata).
  if ((code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED) && ('details' in err || 'metadata' in err || 'type' in err)) return true;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return false;
}

/**
 * Maps the client's failures to the port's typed errors. Errors it does not recognise come back
 * unchanged (a non-Error is wrapped so callers can always throw the result).
 */
export function mapKurrentError(err: unknown, context: { stream?: string; expected?: ExpectedRevision }): Error {
  if (err instanceof EventStoreError) return err;
  if (typeof err !== 'object' || err === null) return new Error(String(err), { cause: err });
  if (isWrongExpectedVersion(err)) {
    const streamName = field(err, 'streamName');
    const stream = context.stream ?? (typeof streamName === 'string' ? streamName : 'unknown stream');
    const expected = context.expected ?? fromKurrentStreamState(field(err, 'expectedState')) ?? 'any';
    const actualState = field(err, 'actualState');
    let actual: bigint | null | undefined;
    if (actualState === NO_STREAM) actual = null;
    else if (typeof actualState === 'bigint') actual = actualState >= 0n ? actualState : actualState === -1n ? null : undefined;
    else actual = undefined;
    return new WrongExpectedRevisionError(stream, expected, actual);
  }
  if (isUnavailable(err)) {
    const type = field(err, 'type');
    const message = err instanceof Error && err.message ? err.message : typeof type === 'string' ? type : 'unknown failure';
    const where = context.stream === undefined ? '' : ` (stream ${context.stream})`;
    return new StoreUnavailableError(`KurrentDB unavailable${where}: ${message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err), { cause: err });
}

/**
 * Settles like `promise`, or rejects with `StoreUnavailableError` after `ms`. The client's own
 * deadlines do not cover connecting (a silent port never answers) nor its native read path,
 * so every call to the server goes through this as well. A non-finite `ms` means no deadline.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        reject(new StoreUnavailableError(`KurrentDB did not answer ${what} within ${ms} ms`));
      },
      Math.max(0, ms),
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The parts of the client's resolved events this adapter reads (stream and $all reads alike). */
export interface KurrentResolvedEventLike {
  event?: {
    streamId: string;
    id: string;
    type: string;
    revision: bigint;
    created: Date;
    isJson: boolean;
    data: unknown;
    metadata?: unknown;
    position?: { commit: bigint; prepare: bigint };
  };
  commitPosition?: bigint;
}

function isUsablePosition(p: { commit: bigint; prepare: bigint } | undefined): p is { commit: bigint; prepare: bigint } {
  // Servers before 22.6 send no position on stream reads, or u64::MAX for "unknown".
  return p !== undefined && p.commit >= 0n && p.commit < U64_MAX && p.prepare >= 0n && p.prepare < U64_MAX;
}

function rawPosition(resolved: KurrentResolvedEventLike): Position | undefined {
  const position = resolved.event?.position;
  if (isUsablePosition(position)) return positionFromKurrent(position);
  const commit = resolved.commitPosition;
  // Best effort for old servers: only the commit part is known.
  if (commit !== undefined && commit >= 0n && commit < U64_MAX) return positionFromKurrent({ commit, prepare: commit });
  return undefined;
}

function isSystem(resolved: KurrentResolvedEventLike): boolean {
  const event = resolved.event;
  return event === undefined || event.type.startsWith('$') || event.streamId.startsWith('$');
}

function toJsonData(event: NonNullable<KurrentResolvedEventLike['event']>): JsonValue {
  if (!(event.data instanceof Uint8Array)) return event.data as JsonValue;
  // Not written by keyledger: keep it readable rather than failing the whole read.
  const text = Buffer.from(event.data).toString('utf8');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function toMetadata(metadata: unknown): JsonObject {
  if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && !(metadata instanceof Uint8Array)) {
    return metadata as JsonObject;
  }
  return {};
}

/** A client event as a port event, or `undefined` when there is no event or no position to give it. */
export function recordedEventFromKurrent(resolved: KurrentResolvedEventLike): RecordedEvent | undefined {
  const event = resolved.event;
  if (event === undefined) return undefined;
  const position = rawPosition(resolved);
  if (position === undefined) return undefined;
  return {
    id: event.id,
    type: event.type,
    data: toJsonData(event),
    metadata: toMetadata(event.metadata),
    stream: event.streamId,
    revision: event.revision,
    position,
    recordedAt: event.created instanceof Date ? event.created : new Date(event.created),
  };
}

function redact(connectionString: string): string {
  return connectionString.replace(/\/\/[^@/?]*@/, '//***@');
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

class KurrentDbEventStore implements EventStore {
  readonly kind = 'kurrentdb' as const;
  readonly #client: KurrentDBClient;
  readonly #deadlineMs: number;
  readonly #logger: KurrentDbLogger | undefined;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(client: KurrentDBClient, deadlineMs: number, logger: KurrentDbLogger | undefined) {
    this.#client = client;
    this.#deadlineMs = deadlineMs;
    this.#logger = logger;
  }

  /** Every item of a client read, each step under the deadline; abandons the read on failure. */
  async #drain<T>(open: () => AsyncIterable<T>, what: string): Promise<T[]> {
    const iterator = open()[Symbol.asyncIterator]();
    const items: T[] = [];
    let finished = false;
    try {
      for (;;) {
        const step = await withDeadline(iterator.next(), this.#deadlineMs, what);
        if (step.done === true) {
          finished = true;
          return items;
        }
        items.push(step.value);
      }
    } finally {
      // A timed-out step may still be pending; returning must not block on it.
      if (!finished) iterator.return?.()?.catch(() => undefined);
    }
  }

  async #readAllPage(fromPosition: ReadPosition, maxCount: number, direction: typeof FORWARDS | typeof BACKWARDS): Promise<AllStreamResolvedEvent[]> {
    try {
      return await this.#drain(() => this.#client.readAll({ fromPosition, maxCount, direction, filter: excludeSystemEvents(), deadline: this.#deadlineMs }), 'a read of $all');
    } catch (error) {
      throw mapKurrentError(error, {});
    }
  }

  async probe(): Promise<void> {
    await this.#drain(() => this.#client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1, deadline: this.#deadlineMs }), 'a first read of $all');
  }

  async append(stream: string, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
    const expected = options?.expectedRevision ?? 'any';
    validateAppend(stream, events, expected);
    const streamState = toKurrentStreamState(expected);
    const proposed = events.map((e) =>
      jsonEvent({
        id: e.id,
        type: e.type,
        // JSON.stringify takes any JsonValue; the client's type only names objects, arrays and strings.
        data: e.data as JSONType,
        ...(e.metadata === undefined ? {} : { metadata: e.metadata }),
      }),
    );
    let result;
    try {
      result = await withDeadline(this.#client.appendToStream(stream, proposed, { streamState, deadline: this.#deadlineMs }), this.#deadlineMs, `an append to ${stream}`);
    } catch (error) {
      throw mapKurrentError(error, { stream, expected });
    }
    if (!result.success) {
      // Only reachable if the connection string turns throwOnAppendFailure off.
      const current = result.nextExpectedRevision;
      throw new WrongExpectedRevisionError(stream, expected, current >= 0n ? current : null);
    }
    const nextRevision = result.nextExpectedRevision;
    const position = isUsablePosition(result.position) ? positionFromKurrent(result.position) : await this.#positionOfRevision(stream, nextRevision);
    return { nextRevision, position };
  }

  /** An idempotent replay may come back without a position: read the event it refers to. */
  async #positionOfRevision(stream: string, revision: bigint): Promise<Position> {
    if (revision < 0n) return START;
    let resolved;
    try {
      resolved = await this.#drain(
        () => this.#client.readStream(stream, { fromRevision: revision, maxCount: 1, direction: FORWARDS, deadline: this.#deadlineMs }),
        `a read of ${stream}`,
      );
    } catch (error) {
      throw mapKurrentError(error, { stream });
    }
    const position = resolved[0] === undefined ? undefined : rawPosition(resolved[0]);
    if (position === undefined) throw new EventStoreError(`KurrentDB gave no position for ${stream}@${String(revision)}`);
    return position;
  }

  async readStream(stream: string, options?: { fromRevision?: bigint }): Promise<RecordedEvent[]> {
    const from = options?.fromRevision;
    if (from !== undefined && from < 0n) throw new InvalidAppendError(`read of ${stream}: revision ${String(from)} is negative`);
    let resolved;
    try {
      resolved = await this.#drain(
        () => this.#client.readStream(stream, { fromRevision: from ?? KURRENT_START, direction: FORWARDS, deadline: this.#deadlineMs }),
        `a read of ${stream}`,
      );
    } catch (error) {
      if (isStreamNotFound(error)) return [];
      throw mapKurrentError(error, { stream });
    }
    const events: RecordedEvent[] = [];
    for (const r of resolved) {
      if (r.event === undefined) continue;
      const recorded = recordedEventFromKurrent(r);
      if (recorded === undefined) {
        // Dropping it would look like a shorter stream; the server is simply too old.
        throw new EventStoreError(`KurrentDB sent ${stream}@${String(r.event.revision)} without a log position (stream reads carry one from EventStoreDB 22.6 on)`);
      }
      events.push(recorded);
    }
    return events;
  }

  readAll(options?: ReadAllOptions): AsyncIterable<readonly RecordedEvent[]> {
    return this.#pages(options?.after ?? START, options?.limit);
  }

  async *#pages(after: Position, limit: number | undefined): AsyncGenerator<readonly RecordedEvent[]> {
    let cursor = after;
    positionToKurrent(cursor); // a malformed cursor fails before the first read
    let remaining = limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.floor(limit));
    while (remaining > 0) {
      const want = Math.min(PAGE_SIZE, remaining);
      // A read from a position includes the event at it, which the port excludes: ask for one more.
      const request = cursor === START ? want : want + 1;
      const raw = await this.#readAllPage(positionToKurrent(cursor), request, FORWARDS);
      const page: RecordedEvent[] = [];
      let last: Position | undefined;
      for (const r of raw) {
        const position = rawPosition(r);
        if (position === undefined || (cursor !== START && position <= cursor)) continue;
        last = position;
        if (isSystem(r)) continue;
        const recorded = recordedEventFromKurrent(r);
        if (recorded === undefined) continue;
        page.push(recorded);
        if (page.length >= remaining) break;
      }
      if (page.length > 0) {
        remaining -= page.length;
        yield page;
      }
      if (raw.length < request || last === undefined) return;
      cursor = last;
    }
  }

  subscribe(options?: SubscribeOptions): Subscription {
    const after = options?.after ?? START;
    const fromPosition = positionToKurrent(after);
    const batchSize = Math.max(1, Math.floor(options?.batchSize ?? DEFAULT_BATCH_SIZE));
    // No `deadline` here: the client pins subscriptions to an infinite one, and a live subscription
    // must outlive any per-call deadline. The confirmation timer below covers a silent server.
    const source = this.#client.subscribeToAll({ fromPosition, filter: excludeSystemEvents() });
    const subscription = new KurrentSubscription(source, after, batchSize, this.#deadlineMs, this.#logger, () => this.#subscriptions.delete(subscription));
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async headPosition(): Promise<Position> {
    let from: ReadPosition = END;
    let before: Position | undefined;
    for (;;) {
      const raw = await this.#readAllPage(from, HEAD_SCAN, BACKWARDS);
      let last: Position | undefined;
      for (const r of raw) {
        const position = rawPosition(r);
        if (position === undefined || (before !== undefined && position >= before)) continue;
        last = position;
        if (!isSystem(r)) return position;
      }
      if (raw.length < HEAD_SCAN || last === undefined) return START;
      before = last;
      from = positionToKurrent(last);
    }
  }

  async countAfter(after: Position, cap: number): Promise<number> {
    if (!(cap > 0)) return 0;
    let count = 0;
    for await (const page of this.#pages(after, cap)) count += page.length;
    return count;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    try {
      await withDeadline(this.#client.dispose(), this.#deadlineMs, 'closing the connection');
    } catch (error) {
      this.#logger?.warn({ err: error }, 'KurrentDB client did not close cleanly');
    }
  }
}

/**
 * Turns the client's push stream into the port's pull batches: events are buffered as they come,
 * each `next()` takes up to `batchSize` of them, and the source is paused while the buffer is full.
 */
class KurrentSubscription implements Subscription {
  readonly #source: AllStreamSubscription;
  readonly #batchSize: number;
  readonly #deadlineMs: number;
  readonly #logger: KurrentDbLogger | undefined;
  readonly #onClose: () => void;
  readonly #buffer: RecordedEvent[] = [];
  readonly #highWater: number;
  #waiters: Array<() => void> = [];
  #cursor: Position;
  #failure: Error | undefined;
  #closed = false;
  #paused = false;
  #confirmTimer: NodeJS.Timeout | undefined;

  constructor(source: AllStreamSubscription, after: Position, batchSize: number, deadlineMs: number, logger: KurrentDbLogger | undefined, onClose: () => void) {
    this.#source = source;
    this.#cursor = after;
    this.#batchSize = batchSize;
    this.#deadlineMs = deadlineMs;
    this.#logger = logger;
    this.#onClose = onClose;
    this.#highWater = Math.max(batchSize * 4, 1000);

    if (Number.isFinite(deadlineMs)) {
      // The server confirms a subscription before anything else; silence means it is not there.
      this.#confirmTimer = setTimeout(() => {
        this.#fail(new StoreUnavailableError(`KurrentDB did not confirm a subscription to $all within ${deadlineMs} ms`));
      }, deadlineMs);
    }
    source.on('confirmation', () => this.#confirmed());
    source.on('data', (resolved: AllStreamResolvedEvent) => this.#receive(resolved));
    // Without an 'error' listener an emitted error would crash the process.
    source.on('error', (error: Error) => this.#fail(mapKurrentError(error, {})));
    source.on('end', () => this.#fail(new StoreUnavailableError('KurrentDB ended a subscription to $all')));
    source.on('close', () => this.#fail(new StoreUnavailableError('KurrentDB closed a subscription to $all')));
  }

  #confirmed(): void {
    if (this.#confirmTimer !== undefined) clearTimeout(this.#confirmTimer);
    this.#confirmTimer = undefined;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #receive(resolved: AllStreamResolvedEvent): void {
    this.#confirmed();
    if (this.#closed || this.#failure !== undefined) return;
    const position = rawPosition(resolved);
    // Skips the event at the start position (if the server repeats it) and any redelivery.
    if (position === undefined || (this.#cursor !== START && position <= this.#cursor)) return;
    this.#cursor = position;
    if (isSystem(resolved)) return;
    const recorded = recordedEventFromKurrent(resolved);
    if (recorded === undefined) return;
    this.#buffer.push(recorded);
    if (this.#buffer.length >= this.#highWater && !this.#paused) {
      this.#paused = true;
      this.#source.pause();
    }
    this.#wake();
  }

  #fail(error: Error): void {
    this.#confirmed();
    if (this.#closed || this.#failure !== undefined) return;
    this.#failure = error;
    this.#wake();
    // The failed stream is of no further use; release it without waiting.
    this.#source.unsubscribe().catch(() => undefined);
  }

  async #next(): Promise<IteratorResult<readonly RecordedEvent[]>> {
    for (;;) {
      if (this.#closed) return { done: true, value: undefined };
      if (this.#buffer.length > 0) {
        const batch = this.#buffer.splice(0, this.#batchSize);
        if (this.#paused && this.#buffer.length < this.#highWater / 2) {
          this.#paused = false;
          this.#source.resume();
        }
        return { done: false, value: batch };
      }
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<readonly RecordedEvent[]> {
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#confirmed();
    this.#buffer.length = 0;
    this.#wake();
    this.#onClose();
    if (this.#failure !== undefined) return;
    try {
      await withDeadline(this.#source.unsubscribe(), this.#deadlineMs, 'an unsubscribe');
    } catch (error) {
      this.#logger?.warn({ err: error }, 'KurrentDB subscription did not unsubscribe cleanly');
    }
  }
}

/**
 * The port's subscription over a client subscription to $all (exported so that its buffering can
 * be tested against a fake source).
 */
export function subscriptionFromKurrent(
  source: AllStreamSubscription,
  options: { after: Position; batchSize: number; deadlineMs: number; logger?: KurrentDbLogger; onClose?: () => void },
): Subscription {
  return new KurrentSubscription(source, options.after, options.batchSize, options.deadlineMs, options.logger, options.onClose ?? (() => undefined));
}

/**
 * Connects to KurrentDB and checks, under the deadline, that it answers a one-event read of $all
 * (which also proves the credentials may read $all, as readAll and subscribe need).
 */
export async function openKurrentDbEventStore(connectionString: string, options: KurrentDbOptions = {}): Promise<EventStore> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const where = redact(connectionString);
  let client: KurrentDBClient;
  try {
    client = KurrentDBClient.connectionString(connectionString);
  } catch (error) {
    throw new EventStoreError(`invalid KurrentDB connection string ${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const store = new KurrentDbEventStore(client, deadlineMs, options.logger);
  try {
    // Unfiltered: any answer, even from an empty store, proves the server is there.
    await store.probe();
  } catch (error) {
    withDeadline(client.dispose(), deadlineMs, 'closing the connection').catch(() => undefined);
    const mapped = mapKurrentError(error, {});
    options.logger?.warn({ err: mapped, connection: where }, 'KurrentDB did not answer');
    if (mapped instanceof StoreUnavailableError) {
      throw new StoreUnavailableError(`KurrentDB at ${where} is unavailable: ${mapped.message}`, { cause: error });
    }
    throw mapped;
  }
  return store;
}
