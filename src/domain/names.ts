// Key and principal names: what a valid name is (R3, R5), and the form under which two names
// are the same name (trimmed, case-folded).

import { DomainError } from './errors.js';
import { requireCleanText } from './input.js';

const MAX_NAME_LENGTH = 200;

export interface Name {
  /** The name as shown: trimmed. */
  readonly display: string;
  /** The name as compared: trimmed, normalised and case-folded. */
  readonly key: string;
}

export function nameKey(name: string): string {
  // Upper then lower folds more than lower alone (ß and SS are the same name).
  return name.trim().normalize('NFKC').toUpperCase().toLowerCase();
}

export function parseName(raw: string, field = 'name'): Name {
  const display = raw.trim();
  if (display.length === 0) throw new DomainError('BLANK_NAME', `${field} cannot be blank`, field);
  // A character is at most two UTF-16 units: a longer text is refused before it is split (R29).
  if (display.length > 2 * MAX_NAME_LENGTH || Array.from(display).length > MAX_NAME_LENGTH) {
    throw new DomainError('BAD_USER_INPUT', `${field} must be at most ${MAX_NAME_LENGTH} characters`, field);
  }
  if (/\p{Cc}/u.test(display)) throw new DomainError('BAD_USER_INPUT', `${field} cannot contain control characters`, field);
  requireCleanText(display, field);
  return { display, key: nameKey(display) };
}
