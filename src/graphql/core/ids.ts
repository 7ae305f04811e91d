// Global ids: every object's `id` is a Relay global id (opaque). A malformed id, or one of
// another type, is refused as NOT_FOUND, like a foreign one (R20).

import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { isObjectType, type GraphQLSchema } from 'graphql';
import { notFound } from '../../domain/errors.js';
import { CREDENTIAL_KINDS, type CredentialKind, type PrincipalKind } from '../../domain/events.js';

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

/** The GraphQL type of each kind of credential. */
export const CREDENTIAL_TYPENAME = { API_KEY: 'ApiKey', APPLICATION_KEY: 'ApplicationKey', CLIENT_TOKEN: 'ClientToken' } as const satisfies Record<CredentialKind, string>;

export const PRINCIPAL_TYPENAME = { USER: 'User', SERVICE_ACCOUNT: 'ServiceAccount' } as const satisfies Record<PrincipalKind, string>;

/** The credential inside a global id of any credential type, or null. */
export function tryDecodeCredential(value: string): { kind: CredentialKind; id: string } | null {
  const decoded = tryDecode(value, Object.values(CREDENTIAL_TYPENAME));
  if (!decoded) return null;
  const kind = CREDENTIAL_KINDS.find((k) => CREDENTIAL_TYPENAME[k] === decoded.typename);
  return kind ? { kind, id: decoded.id } : null;
}

/**
 * The `id` field of each of `typenames`, resolved without a promise: the relay plugin's own
 * resolver awaits the id of the row (one promise per id of a page); this one encodes the row's
 * `id` as that resolver does (`encodeGlobalID` of the type's name and the id). For the node types
 * whose `id` resolves to their row's `id` column.
 */
export function syncGlobalIds(schema: GraphQLSchema, typenames: readonly string[]): GraphQLSchema {
  for (const typename of typenames) {
    const type = schema.getType(typename);
    const field = isObjectType(type) ? type.getFields().id : undefined;
    if (!field) throw new Error(`${typename} is not an object type with an id`);
    field.resolve = (row: { readonly id: string }) => encodeGlobalID(typename, String(row.id));
  }
  return schema;
}
