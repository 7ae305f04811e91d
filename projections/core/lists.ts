// JSON lists as the read models store them (scopes, origins, root fields): read back by the
// GraphQL types and by the CredentialIndex alike.

/** A JSON array of strings; anything else in it is dropped. */
export function parseList(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === 'string') : [];
}
