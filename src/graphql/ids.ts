// Global ids: every object's `id` is a Relay global id (opaque). A malformed id, or one of
// another type, is refused as NOT_FOUND, like a foreign one (R20).

import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { notFound } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function globalId(typename: string, id: string): string {
  return encodeGlobalID(typename, id);
}

/** The UUID inside a global id of one of `typenames`, or null. */
export function tryDecode(value: string, typenames: readonly string[]): { typename: string; id: string } | null {
  try {
    const { typename, id } = decodeGlobalID(value);
    if (!typenames.includes(typename) || !UUID.test(id)) return null;
    return { typename, id };
  } catch {
    return null;
  }
}

export function decodeId(value: string, typenames: readonly string[], what: string): string {
  const decoded = tryDecode(value, typenames);
  if (!decoded) throw notFound(what);
  return decoded.id;
}
