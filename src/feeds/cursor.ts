// A feed's cursor (R26): the position in the event store of the event a payload shows, opaque to
// clients (base64url). The empty string stands for the start of the history.

import { DomainError } from '../domain/errors.js';
import { START, type Position } from '../eventstore/port.js';

const PREFIX = 'kl1:';
/** What every adapter's positions are made of (hex digits, KurrentDB's two numbers and a separator). */
const POSITION = /^[0-9A-Za-z:._/-]{1,128}$/;
const MAX_CURSOR = 200;

export function encodeCursor(position: Position): string {
  return Buffer.from(`${PREFIX}${position}`, 'utf8').toString('base64url');
}

/** The position a cursor stands for; BAD_USER_INPUT (field `after`) when it is not one this gateway gave, or lies past `head`. */
export function decodeCursor(cursor: string, head: Position): Position {
  if (cursor === '') return START;
  const refuse = () => new DomainError('BAD_USER_INPUT', 'after is not a cursor of this feed: pass the cursor of the last payload received, or "" for the whole history', 'after');
  if (cursor.length > MAX_CURSOR || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw refuse();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(PREFIX)) throw refuse();
  const position = text.slice(PREFIX.length);
  if (!POSITION.test(position) || encodeCursor(position as Position) !== cursor) throw refuse();
  // A cursor past the head was not given by this store (another deployment's, or made up).
  if (position > head) throw refuse();
  return position as Position;
}
