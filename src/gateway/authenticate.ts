// Credentials as HTTP requests present them, and authentication of the GraphQL API: the one
// verifier (src/domain/verification.ts) with usage API. A presented secret is compared by
// digest; it never reaches a message, a log line or an event.

import { authenticationOf, digestPresented, verify, type Authentication, type CredentialLookup, type Recognized, type VerificationInput } from '../domain/verification.js';

export interface PresentedCredentials {
  readonly apiKey: string | null;
  readonly applicationKey: string | null;
  /** A browser's Origin, when the request came from a page of another origin. */
  readonly foreignOrigin: string | null;
}

type HeaderBag = { get(name: string): string | null };

/**
 * `X-API-Key` / `X-Application-Key`, or their `DD-` aliases. An `Origin` other than the
 * gateway's own marks a browser page of another site (GraphiQL, served here, is same-origin).
 */
export function credentialsFromHeaders(headers: HeaderBag, ownOrigin: string): PresentedCredentials {
  const first = (...names: string[]) => {
    for (const name of names) {
      const value = headers.get(name)?.trim();
      if (value) return value;
    }
    return null;
  };
  const origin = headers.get('origin');
  return {
    apiKey: first('x-api-key', 'dd-api-key'),
    applicationKey: first('x-application-key', 'dd-application-key'),
    foreignOrigin: origin && origin !== 'null' && origin !== ownOrigin ? origin : null,
  };
}

/** The GraphQL API: an active API key and application key of one org, whose owner is active. */
export function authenticateApi(presented: PresentedCredentials, lookup: CredentialLookup, now: Date): { auth: Authentication; recognized: Recognized | null } {
  const verification = verify(
    { usage: 'API', apiKey: presented.apiKey, applicationKey: presented.applicationKey, clientToken: null, origin: presented.foreignOrigin, requiredScopes: [] },
    lookup,
    now,
  );
  return { auth: authenticationOf(verification), recognized: verification.recognized };
}

/**
 * The same credentials authenticated again, as often as asked (a change feed checks them on each
 * batch and on a timer): the secrets are recognized and digested once, at the first call, so that
 * each check is lookups in the CredentialIndex and no hashing.
 */
export function reauthenticator(presented: PresentedCredentials, lookup: CredentialLookup): (now: Date) => Authentication {
  let input: VerificationInput | undefined;
  return (now) => {
    input ??= {
      usage: 'API',
      apiKey: presented.apiKey === null ? null : digestPresented(presented.apiKey),
      applicationKey: presented.applicationKey === null ? null : digestPresented(presented.applicationKey),
      clientToken: null,
      origin: presented.foreignOrigin,
      requiredScopes: [],
    };
    return authenticationOf(verify(input, lookup, now));
  };
}
