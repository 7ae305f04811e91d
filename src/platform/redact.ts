// Secret redaction (R27): anything in the secret format of spec section 2 that a client sent
// must not come back in a response, a log line or an event. The pattern is looser than a real
// secret on purpose: a prefix and 20 or more base62 characters, so that a secret with a typo,
// a bad checksum or extra characters is caught too. Each match is replaced by its prefix and its
// last four characters (`klk_api_…Qe3x`), which tells an operator which key it was and no more.
//
// Three choke points use it: the GraphQL errors leaving yoga (src/gateway/graphql.ts), every
// log line (src/platform/logger.ts) and the events a command appends (src/commands/handler.ts).

/** A keyledger secret, or anything shaped like one. Global: use with `replace` or `matchAll`. */
const SECRET_SHAPE = /klk_(api|app|pub)_[0-9A-Za-z]{20,}/g;

/** The redacted form of one secret-shaped string: its prefix and its last four characters. */
function redactOne(match: string, kind: string): string {
  return `klk_${kind}_…${match.slice(-4)}`;
}

/** Whether a text holds something secret-shaped. */
export function holdsSecret(text: string): boolean {
  SECRET_SHAPE.lastIndex = 0;
  return SECRET_SHAPE.test(text);
}

/** The text with every secret-shaped string reduced to its prefix and last four characters. */
export function redactSecrets(text: string): string {
  return text.includes('klk_') ? text.replace(SECRET_SHAPE, redactOne) : text;
}

/**
 * A JSON-like value with every string (object keys included) redacted; anything that is not a
 * string, an array or a plain object is left as it is. Returns the value itself when nothing
 * needed redacting, so that the common case allocates nothing.
 */
export function redactSecretsIn<T>(value: T): T {
  return redactValue(value) as T;
}

function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item: unknown) => {
      const redacted = redactValue(item);
      if (redacted !== item) changed = true;
      return redacted;
    });
    return changed ? out : value;
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const redactedKey = redactSecrets(key);
      const redacted = redactValue(item);
      if (redactedKey !== key || redacted !== item) changed = true;
      out[redactedKey] = redacted;
    }
    return changed ? out : value;
  }
  return value;
}
