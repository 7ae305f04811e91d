// Typed failures of the event-store port. Adapters map their drivers' errors to these.

import { isConnectionFailure } from '../platform/pg-errors.js';
import type { ExpectedRevision } from './port.js';

export class EventStoreError extends Error {
  override readonly name: string = 'EventStoreError';
}

/** The stream was not at the expected revision: nothing was written. */
export class WrongExpectedRevisionError extends EventStoreError {
  override readonly name = 'WrongExpectedRevisionError';
  readonly code = 'WRONG_EXPECTED_REVISION';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual last revision, or `null` when it does not exist (undefined when the store did not say). */
    readonly actual: bigint | null | undefined,
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, found ${actual === null ? 'no stream' : actual === undefined ? 'another' : String(actual)}`);
  }
}

/** An append reused event ids in a way that is not a replay of an earlier append. */
export class DuplicateEventIdError extends EventStoreError {
  override readonly name = 'DuplicateEventIdError';
  readonly code = 'DUPLICATE_EVENT_ID';
  constructor(
    readonly stream: string,
    readonly eventId: string,
  ) {
    super(`stream ${stream}: event id ${eventId} was already appended with different content or to another stream`);
  }
}

/** The store could not be reached or did not answer within its deadline. */
export class StoreUnavailableError extends EventStoreError {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Whether a failure is the store's absence (R30): a StoreUnavailableError, or one caused by it,
 * or pg's connection failures and timeouts as a read store (Kysely) lets them through.
 */
export function isStoreUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof StoreUnavailableError) return true;
  }
  return isConnectionFailure(error);
}

/** The caller passed something the store cannot take (a bad stream name, a bad cursor). */
export class InvalidAppendError extends EventStoreError {
  override readonly name = 'InvalidAppendError';
  readonly code = 'INVALID_APPEND';
}
