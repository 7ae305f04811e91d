// The time of an event, as read models store it: the `at` of its metadata (the command's
// clock), or the store's record time for events written without one.

import type { RecordedEvent } from '../../src/eventstore/port.js';

export function eventTime(event: Pick<RecordedEvent, 'metadata' | 'recordedAt'>): string {
  const at = event.metadata.at;
  return typeof at === 'string' ? at : event.recordedAt.toISOString();
}
