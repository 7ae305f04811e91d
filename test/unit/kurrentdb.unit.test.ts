// The KurrentDB adapter's translations, checked without a server: the one server-facing test
// points at ports that refuse or ignore connections, to prove a dead store fails fast.

import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  ANY,
  AccessDeniedError,
  DeadlineExceededError,
  NO_STREAM,
  NotLeaderError,
  START as KURRENT_START,
  STREAM_EXISTS,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStoreError, InvalidAppendError, StoreUnavailableError, WrongExpectedRevisionError } from '../../src/eventstore/errors.js';
import {
  mapKurrentError,
  openKurrentDbEventStore,
  positionFromKurrent,
  positionToKurrent,
  recordedEventFromKurrent,
  subscriptionFromKurrent,
  toKurrentStreamState,
  withDeadline,
} from '../../src/eventstore/kurrentdb.js';
import type { Position, RecordedEvent, Subscription } from '../../src/eventstore/port.js';
import { START, comparePositions } from '../../src/eventstore/port.js';

/** The gRPC ServiceError some client error constructors read their details from. */
type ServiceErrorArg = ConstructorParameters<typeof NotLeaderError>[0];

function serviceError(code: number, metadata: Record<string, string>): ServiceErrorArg {
  const error = Object.assign(new Error(`${code} grpc failure`), {
    code,
    details: 'grpc failure',
    metadata: { getMap: () => metadata },
  });
  return error as unknown as ServiceErrorArg;
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

describe('toKurrentStreamState', () => {
  it('maps every expected revision to the client’s stream state', () => {
    expect(toKurrentStreamState('no_stream')).toBe(NO_STREAM);
    expect(toKurrentStreamState('any')).toBe(ANY);
    expect(toKurrentStreamState('exists')).toBe(STREAM_EXISTS);
    expect(toKurrentStreamState(0n)).toBe(0n);
    expect(toKurrentStreamState(41n)).toBe(41n);
    expect(toKurrentStreamState(I64_MAX)).toBe(I64_MAX);
  });

  it('refuses a negative revision', () => {
    expect(() => toKurrentStreamState(-1n)).toThrow(InvalidAppendError);
  });
});

describe('positions', () => {
  const samples: Array<{ commit: bigint; prepare: bigint }> = [
    { commit: 0n, prepare: 0n },
    { commit: 0n, prepare: 1n },
    { commit: 1n, prepare: 0n },
    { commit: 15n, prepare: 15n },
    { commit: 16n, prepare: 15n },
    { commit: 255n, prepare: 4096n },
    { commit: 1n << 40n, prepare: 1n << 40n },
    { commit: 1n << 40n, prepare: (1n << 40n) + 1n },
    { commit: (1n << 40n) + 1n, prepare: 0n },
    { commit: 1n << 53n, prepare: (1n << 53n) + 1n },
    { commit: I64_MAX, prepare: 0n },
    { commit: I64_MAX, prepare: I64_MAX },
    { commit: U64_MAX, prepare: U64_MAX },
  ];

  it('encodes as 32 lower-case hex digits: commit then prepare', () => {
    expect(positionFromKurrent({ commit: 0n, prepare: 0n })).toBe('0'.repeat(32));
    expect(positionFromKurrent({ commit: 0xabn, prepare: 0x1fn })).toBe(`${'0'.repeat(14)}ab${'0'.repeat(14)}1f`);
    expect(positionFromKurrent({ commit: I64_MAX, prepare: 1n << 40n })).toBe('7fffffffffffffff0000010000000000');
    for (const s of samples) expect(positionFromKurrent(s)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('round-trips, including large values', () => {
    for (const s of samples) expect(positionToKurrent(positionFromKurrent(s))).toEqual(s);
  });

  it('orders encoded positions as strings exactly as (commit, prepare) orders numerically', () => {
    const numeric = (a: { commit: bigint; prepare: bigint }, b: { commit: bigint; prepare: bigint }): number =>
      a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1;
    const random: Array<{ commit: bigint; prepare: bigint }> = [];
    let seed = 12345n;
    const next = (): bigint => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) & U64_MAX;
      return seed >> BigInt(Number(seed & 63n));
    };
    for (let i = 0; i < 200; i++) random.push({ commit: next(), prepare: next() });
    const all = [...samples, ...random];
    const mismatches: string[] = [];
    for (const a of all) {
      for (const b of all) {
        const encodedA = positionFromKurrent(a);
        const encodedB = positionFromKurrent(b);
        if (Math.sign(comparePositions(encodedA, encodedB)) !== numeric(a, b)) mismatches.push(`${encodedA} vs ${encodedB}`);
      }
    }
    expect(mismatches).toEqual([]);
    const sortedByString = all.map(positionFromKurrent).sort();
    const sortedByNumber = [...all].sort(numeric).map(positionFromKurrent);
    expect(sortedByString).toEqual(sortedByNumber);
  });

  it('sorts after START, which stands for the start of $all', () => {
    expect(positionToKurrent(START)).toBe(KURRENT_START);
    expect(START < positionFromKurrent({ commit: 0n, prepare: 0n })).toBe(true);
  });

  it('rejects a malformed cursor', () => {
    const bad = [
      'abc',
      '0'.repeat(31),
      '0'.repeat(33),
      'A'.repeat(32),
      'g'.repeat(32),
      `${'0'.repeat(16)}-${'0'.repeat(15)}`,
      '0'.repeat(16), // a SQLite position is not a KurrentDB one
      ` ${'0'.repeat(31)}`,
    ];
    for (const b of bad) expect(() => positionToKurrent(b as Position)).toThrow(InvalidAppendError);
  });

  it('refuses to encode a value outside the unsigned 64-bit range', () => {
    expect(() => positionFromKurrent({ commit: -1n, prepare: 0n })).toThrow(EventStoreError);
    expect(() => positionFromKurrent({ commit: 0n, prepare: U64_MAX + 1n })).toThrow(EventStoreError);
  });
});

describe('recordedEventFromKurrent', () => {
  const base = {
    streamId: 'key-1',
    id: '6a1f0b5e-8a40-4d51-9d5c-3c2b9a1e0f11',
    type: 'KeyCreated',
    revision: 3n,
    created: new Date('2024-05-01T10:00:00Z'),
    isJson: true,
    data: { name: 'a' },
    metadata: { requestId: 'r1' },
    position: { commit: 100n, prepare: 90n },
  };

  it('maps the client’s event to a port event', () => {
    expect(recordedEventFromKurrent({ event: base })).toEqual({
      id: base.id,
      type: 'KeyCreated',
      data: { name: 'a' },
      metadata: { requestId: 'r1' },
      stream: 'key-1',
      revision: 3n,
      position: positionFromKurrent({ commit: 100n, prepare: 90n }),
      recordedAt: new Date('2024-05-01T10:00:00Z'),
    });
  });

  it('gives {} for missing or non-object metadata', () => {
    expect(recordedEventFromKurrent({ event: { ...base, metadata: undefined } })?.metadata).toEqual({});
    expect(recordedEventFromKurrent({ event: { ...base, metadata: new Uint8Array([1, 2]) } })?.metadata).toEqual({});
    expect(recordedEventFromKurrent({ event: { ...base, metadata: [1] } })?.metadata).toEqual({});
  });

  it('parses JSON that arrives as bytes', () => {
    const data = new TextEncoder().encode('{"n":1}');
    expect(recordedEventFromKurrent({ event: { ...base, isJson: false, data } })?.data).toEqual({ n: 1 });
  });

  it('falls back to the commit position when the server sends no usable position', () => {
    const fromCommit = positionFromKurrent({ commit: 77n, prepare: 77n });
    const { position: _omitted, ...withoutPosition } = base;
    expect(recordedEventFromKurrent({ event: withoutPosition, commitPosition: 77n })?.position).toBe(fromCommit);
    expect(recordedEventFromKurrent({ event: { ...base, position: { commit: U64_MAX, prepare: U64_MAX } }, commitPosition: 77n })?.position).toBe(fromCommit);
    expect(recordedEventFromKurrent({ event: withoutPosition })).toBeUndefined();
    expect(recordedEventFromKurrent({})).toBeUndefined();
  });
});

describe('mapKurrentError', () => {
  it('maps a wrong expected version to WrongExpectedRevisionError with the actual revision', () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 'key-1', expected: 0n, current: 3n });
    const mapped = mapKurrentError(err, { stream: 'key-1', expected: 0n });
    expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
    const wrong = mapped as WrongExpectedRevisionError;
    expect(wrong.stream).toBe('key-1');
    expect(wrong.expected).toBe(0n);
    expect(wrong.actual).toBe(3n);
  });

  it('reports null when the stream does not exist', () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 'key-2', expected: STREAM_EXISTS, current: NO_STREAM });
    const mapped = mapKurrentError(err, { stream: 'key-2', expected: 'exists' }) as WrongExpectedRevisionError;
    expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
    expect(mapped.actual).toBeNull();
    expect(mapped.expected).toBe('exists');
  });

  it('takes stream and expectation from the error when the caller gives none', () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 'key-3', expected: STREAM_EXISTS, current: NO_STREAM });
    const mapped = mapKurrentError(err, {}) as WrongExpectedRevisionError;
    expect(mapped.stream).toBe('key-3');
    expect(mapped.expected).toBe('exists');
    const noStream = mapKurrentError(new WrongExpectedVersionError(undefined, { streamName: 's', expected: NO_STREAM, current: 0n }), {});
    expect((noStream as WrongExpectedRevisionError).expected).toBe('no_stream');
    expect((noStream as WrongExpectedRevisionError).actual).toBe(0n);
  });

  it('reads the gRPC-metadata form of a wrong expected version', () => {
    const withActual = new WrongExpectedVersionError(serviceError(9, { 'stream-name': 'key-4', 'expected-version': '1', 'actual-version': '5' }));
    expect((mapKurrentError(withActual, { stream: 'key-4', expected: 1n }) as WrongExpectedRevisionError).actual).toBe(5n);
    const noActual = new WrongExpectedVersionError(serviceError(9, { 'stream-name': 'key-4', 'expected-version': '1' }));
    expect((mapKurrentError(noActual, { stream: 'key-4', expected: 1n }) as WrongExpectedRevisionError).actual).toBeNull();
  });

  it('recognises an object shaped like the client’s error (another copy of the package)', () => {
    const shaped = Object.assign(new Error('wrong'), { type: 'wrong-expected-version', streamName: 's', expectedState: 2n, actualState: 7n });
    const mapped = mapKurrentError(shaped, {}) as WrongExpectedRevisionError;
    expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
    expect(mapped.expected).toBe(2n);
    expect(mapped.actual).toBe(7n);
  });

  it('maps unavailable, deadline, timeout and not-leader errors to StoreUnavailableError', () => {
    const errors: unknown[] = [
      new UnavailableError(),
      new DeadlineExceededError(),
      new TimeoutError(),
      new NotLeaderError(serviceError(5, { 'leader-endpoint-host': '10.0.0.2', 'leader-endpoint-port': '2113' })),
      // what appendToStream rejects with when no connection can be made: a raw gRPC ServiceError
      Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established', metadata: {} }),
      Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4, details: 'Deadline exceeded', metadata: {} }),
      // the native read bridge's own error, should one escape unwrapped
      Object.assign(new Error('UnavailableError'), { name: 'UnavailableError' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    ];
    for (const error of errors) {
      const mapped = mapKurrentError(error, { stream: 'key-5' });
      expect(mapped).toBeInstanceOf(StoreUnavailableError);
      expect((mapped as StoreUnavailableError).cause).toBe(error);
    }
  });

  it('returns every other error unchanged', () => {
    const errors: Error[] = [
      new StreamNotFoundError(undefined, 'key-6'),
      new AccessDeniedError(),
      new Error('something else'),
      Object.assign(new Error('numeric code but not gRPC'), { code: 14 }),
      new InvalidAppendError('bad'),
      new StoreUnavailableError('already mapped'),
    ];
    for (const error of errors) expect(mapKurrentError(error, {})).toBe(error);
  });

  it('wraps a thrown non-Error so that the result can be thrown', () => {
    const mapped = mapKurrentError('boom', {});
    expect(mapped).toBeInstanceOf(Error);
    expect(mapped.message).toBe('boom');
  });
});

describe('withDeadline', () => {
  it('rejects with StoreUnavailableError when the promise never settles', async () => {
    const started = Date.now();
    const never = new Promise<number>(() => undefined);
    await expect(withDeadline(never, 50, 'a test call')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(withDeadline(never, 10, 'a test call')).rejects.toThrow(/a test call.*10 ms/);
  });

  it('passes a value through', async () => {
    await expect(withDeadline(Promise.resolve(42), 1000, 'a test call')).resolves.toBe(42);
    const late = new Promise<string>((resolve) => setTimeout(() => resolve('late but in time'), 20));
    await expect(withDeadline(late, 1000, 'a test call')).resolves.toBe('late but in time');
  });

  it('passes a rejection through unchanged', async () => {
    const error = new Error('own failure');
    await expect(withDeadline(Promise.reject(error), 1000, 'a test call')).rejects.toBe(error);
  });
});

describe('openKurrentDbEventStore', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  it('rejects with StoreUnavailableError, promptly, when nothing listens', async () => {
    const started = Date.now();
    const error = await openKurrentDbEventStore('kurrentdb://127.0.0.1:1?tls=false', { deadlineMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(2000);
  }, 5000);

  it('rejects with StoreUnavailableError when the server accepts but never answers', async () => {
    const server = createServer((socket) => sockets.push(socket));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const started = Date.now();
    const warnings: object[] = [];
    const error = await openKurrentDbEventStore(`kurrentdb://admin:secret@127.0.0.1:${address.port}?tls=false`, {
      deadlineMs: 300,
      logger: { warn: (obj) => warnings.push(obj) },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).not.toContain('secret');
    expect(warnings).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(2000);
  }, 5000);

  it('refuses a malformed connection string', async () => {
    await expect(openKurrentDbEventStore('http://127.0.0.1:2113', { deadlineMs: 300 })).rejects.toBeInstanceOf(EventStoreError);
  });
});

/** Stands in for the client's subscription: an object stream with `unsubscribe`. */
class FakeSource extends PassThrough {
  unsubscribed = 0;
  constructor() {
    super({ objectMode: true });
  }
  async unsubscribe(): Promise<void> {
    this.unsubscribed++;
  }
  confirm(): void {
    this.emit('confirmation');
  }
  deliver(n: number, overrides: { type?: string; streamId?: string } = {}): void {
    this.write({
      event: {
        streamId: overrides.streamId ?? 'key-1',
        id: `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`,
        type: overrides.type ?? `E${n}`,
        revision: BigInt(n),
        created: new Date(0),
        isJson: true,
        data: { n },
        metadata: undefined,
        position: { commit: BigInt(n * 10), prepare: BigInt(n * 10) },
      },
    });
  }
}

function positionOf(n: number): Position {
  return positionFromKurrent({ commit: BigInt(n * 10), prepare: BigInt(n * 10) });
}

function open(source: FakeSource, options: { after?: Position; batchSize?: number; deadlineMs?: number } = {}): Subscription {
  return subscriptionFromKurrent(source, {
    after: options.after ?? START,
    batchSize: options.batchSize ?? 1000,
    deadlineMs: options.deadlineMs ?? 5000,
  });
}

const tick = (ms = 10): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('subscriptionFromKurrent', () => {
  it('hands out what is buffered in batches of at most batchSize, never empty', async () => {
    const source = new FakeSource();
    const subscription = open(source, { batchSize: 2 });
    source.confirm();
    for (let n = 1; n <= 5; n++) source.deliver(n);
    await tick();
    const iterator = subscription[Symbol.asyncIterator]();
    const sizes: number[] = [];
    const types: string[] = [];
    for (let i = 0; i < 3; i++) {
      const step = await iterator.next();
      expect(step.done).toBe(false);
      const batch = step.value as readonly RecordedEvent[];
      sizes.push(batch.length);
      types.push(...batch.map((e) => e.type));
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(types).toEqual(['E1', 'E2', 'E3', 'E4', 'E5']);
    // Nothing buffered: the next batch waits for the next event.
    const waiting = iterator.next();
    source.deliver(6);
    const step = await waiting;
    expect((step.value as readonly RecordedEvent[]).map((e) => e.type)).toEqual(['E6']);
    await subscription.close();
  });

  it('skips the event at the start position, redeliveries and system events', async () => {
    const source = new FakeSource();
    const subscription = open(source, { after: positionOf(2) });
    source.confirm();
    source.deliver(1);
    source.deliver(2);
    source.deliver(3);
    source.deliver(3);
    source.deliver(4, { type: '$statsCollected' });
    source.deliver(5, { streamId: '$settings' });
    source.deliver(6);
    await tick();
    const step = await subscription[Symbol.asyncIterator]().next();
    expect((step.value as readonly RecordedEvent[]).map((e) => e.type)).toEqual(['E3', 'E6']);
    await subscription.close();
  });

  it('pauses the source while its buffer is full and resumes it once drained', async () => {
    const source = new FakeSource();
    const subscription = open(source, { batchSize: 600 });
    source.confirm();
    for (let n = 1; n <= 2500; n++) source.deliver(n);
    await tick();
    expect(source.isPaused()).toBe(true);
    const iterator = subscription[Symbol.asyncIterator]();
    let received = 0;
    while (received < 2500) received += ((await iterator.next()).value as readonly RecordedEvent[]).length;
    expect(received).toBe(2500);
    expect(source.isPaused()).toBe(false);
    await subscription.close();
  });

  it('ends a waiting iteration on close and unsubscribes', async () => {
    const source = new FakeSource();
    const subscription = open(source);
    source.confirm();
    const iterating = (async () => {
      let n = 0;
      for await (const batch of subscription) n += batch.length;
      return n;
    })();
    await tick();
    await subscription.close();
    expect(await iterating).toBe(0);
    expect(source.unsubscribed).toBe(1);
  });

  it('unsubscribes when the consumer breaks out of the loop', async () => {
    const source = new FakeSource();
    const subscription = open(source);
    source.confirm();
    source.deliver(1);
    for await (const batch of subscription) {
      expect(batch).toHaveLength(1);
      break;
    }
    expect(source.unsubscribed).toBe(1);
  });

  it('throws the mapped error after handing out what was buffered', async () => {
    const source = new FakeSource();
    const subscription = open(source);
    source.confirm();
    source.deliver(1);
    await tick();
    source.emit('error', new UnavailableError());
    const iterator = subscription[Symbol.asyncIterator]();
    expect(((await iterator.next()).value as readonly RecordedEvent[]).map((e) => e.type)).toEqual(['E1']);
    await expect(iterator.next()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('fails when the server ends the subscription', async () => {
    const source = new FakeSource();
    const subscription = open(source);
    source.confirm();
    source.end();
    await expect(subscription[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('fails when the server never confirms the subscription', async () => {
    const source = new FakeSource();
    const subscription = open(source, { deadlineMs: 50 });
    await expect(subscription[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
