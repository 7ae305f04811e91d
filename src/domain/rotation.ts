// Rotation (R18): a key is succeeded by a new one with the same attributes and a new secret, and
// is revoked when its grace period ends. Both aggregates decide rotations with these.

import { DomainError } from './errors.js';

/** The longest grace period: 7 days, in seconds. */
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60;

/** A rotated key, until it is revoked: its successor and the end of its grace. */
export interface Rotation {
  readonly successorId: string;
  /** ISO-8601: when the key is revoked (reason ROTATED). */
  readonly revokeAt: string;
}

/** When a grace of `seconds` (a whole number from 0 to 7 days) begun at `now` ends; refused as BAD_USER_INPUT on `gracePeriod` otherwise. */
export function graceEnd(seconds: number, now: Date): string {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_GRACE_PERIOD_SECONDS) {
    throw new DomainError('BAD_USER_INPUT', `gracePeriod is a whole number of seconds from 0 to ${MAX_GRACE_PERIOD_SECONDS} (7 days)`, 'gracePeriod');
  }
  return new Date(now.getTime() + seconds * 1000).toISOString();
}

/** Whether a rotated key's grace has ended at `now`. */
export function graceEnded(rotation: Rotation, now: Date): boolean {
  return rotation.revokeAt <= now.toISOString();
}

/** R18: a key in its grace is on its way out: only its successor changes, and it can still be revoked by hand. */
export function requireNotRotated(key: { readonly rotation: Rotation | null }, what: string): void {
  if (key.rotation !== null) {
    throw new DomainError('ALREADY_ROTATED', `this ${what} was rotated: it is revoked at ${key.rotation.revokeAt}; rotate, rename or scope its successor instead`);
  }
}
