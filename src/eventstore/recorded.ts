// Events as consumers receive them: the store's envelope (position, stream, metadata...) around
// a typed domain event. Decoded once, where events are read, so that folds switch over the
// domain's unions instead of casting.

import { isKeyledgerEventType, type KeyledgerEvent } from '../domain/events.js';
import type { RecordedEvent } from './port.js';

export type Recorded<E extends { readonly type: string; readonly data: unknown }> = E extends unknown ? Omit<RecordedEvent, 'type' | 'data'> & E : never;

/** A stored event as the domain event it is, or null for a type keyledger does not know (another application's, or a test's). */
export function decodeEvent(event: RecordedEvent): Recorded<KeyledgerEvent> | null {
  if (!isKeyledgerEventType(event.type)) return null;
  // Stored events are history written from these very types, and never change shape: a known
  // type's data is that type's data. This is the one place that says so.
  return event as unknown as Recorded<KeyledgerEvent>;
}
