// Checks every adapter applies to an append before it reaches its store.

import { InvalidAppendError } from './errors.js';
import type { ExpectedRevision, NewEvent } from './port.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateAppend(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): void {
  if (typeof stream !== 'string' || stream.length === 0 || stream.trim() !== stream) {
    throw new InvalidAppendError(`invalid stream name ${JSON.stringify(stream)}`);
  }
  if (events.length === 0) throw new InvalidAppendError(`append to ${stream}: no events`);
  if (typeof expected === 'bigint' && expected < 0n) {
    throw new InvalidAppendError(`append to ${stream}: expected revision ${expected} is negative`);
  }
  const ids = new Set<string>();
  for (const event of events) {
    if (!UUID.test(event.id)) throw new InvalidAppendError(`append to ${stream}: event id ${JSON.stringify(event.id)} is not a UUID`);
    if (ids.has(event.id.toLowerCase())) throw new InvalidAppendError(`append to ${stream}: event id ${event.id} appears twice`);
    ids.add(event.id.toLowerCase());
    if (typeof event.type !== 'string' || event.type.length === 0) throw new InvalidAppendError(`append to ${stream}: event without a type`);
    if (event.data === undefined) throw new InvalidAppendError(`append to ${stream}: event ${event.id} has no data`);
  }
}

/** Fixed-width hex, so that string order is numeric order. */
export function hex16(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}
