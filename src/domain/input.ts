// Bounded, clean input (R29): every string a client sends that can reach an event, the audit
// log or a query has a bound, and none holds NUL or an unpaired UTF-16 surrogate (PostgreSQL
// refuses NUL in text, and an unpaired surrogate is not text at all: it cannot be encoded as
// UTF-8, and uuid v5 or a LIKE pattern throw on it). Beyond a bound, or unclean, the input is
// refused as BAD_USER_INPUT naming the field, before anything is stored.

import { DomainError } from './errors.js';

/** Filter strings of the lists and the audit log (`nameContains`, `operation`, `requestId`). */
const MAX_FILTER_LENGTH = 200;
/** An allowed origin: scheme, host and port fit well within it. */
export const MAX_ORIGIN_LENGTH = 2048;
/** Any string argument at all (the specific bounds above are tighter); a cursor stays well within it. */
export const MAX_ARGUMENT_LENGTH = 16_384;
/** Any list argument at all. */
export const MAX_LIST_LENGTH = 100;

/** An unpaired surrogate: in a `u` regex a paired one is a single code point outside this category. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether a text holds NUL or an unpaired surrogate. */
export function isUncleanText(text: string): boolean {
  return text.includes('\u0000') || LONE_SURROGATE.test(text);
}

/** The text, refused when it holds NUL or an unpaired surrogate. */
export function requireCleanText(text: string, field: string): string {
  if (isUncleanText(text)) throw new DomainError('BAD_USER_INPUT', `${field} cannot contain NUL or unpaired surrogate characters`, field);
  return text;
}

/** The text, refused when longer than `max` characters (UTF-16 units: what a store's bound counts at most) or unclean. */
export function requireBoundedText(text: string, field: string, max: number): string {
  if (text.length > max) throw new DomainError('BAD_USER_INPUT', `${field} must be at most ${max} characters`, field);
  return requireCleanText(text, field);
}

/** A list filter's text: bounded and clean; null when absent. */
export function parseFilterText(text: string | null | undefined, field: string): string | null {
  return text == null ? null : requireBoundedText(text, field, MAX_FILTER_LENGTH);
}

const QUOTED_LENGTH = 64;

/** A client's value quoted for a message, cut short: a message never echoes more than a glimpse. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > QUOTED_LENGTH ? `${text.slice(0, QUOTED_LENGTH)}…` : text);
}
