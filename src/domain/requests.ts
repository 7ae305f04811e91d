// Request events (R22): one per request that presents a recognisable credential, allowed or
// denied, appended to `requests-{orgId}`. They name the credentials by id, never by secret.

export type RequestOutcome = 'ALLOWED' | 'DENIED' | 'FAILED';

export interface RequestEntry {
  [key: string]: string | string[] | null;
  /** When the request arrived (ISO-8601). */
  readonly at: string;
  readonly requestId: string;
  readonly orgId: string;
  readonly apiKeyId: string | null;
  readonly applicationKeyId: string | null;
  readonly clientTokenId: string | null;
  /** The principal the request acted as (an application key's owner), if any. */
  readonly principalId: string | null;
  /** `query`, `mutation`, `subscription`, or `http` for a plain route. */
  readonly operationType: string;
  /** The GraphQL operation name, or the HTTP method and route (`GET /api/v1/validate`). */
  readonly operationName: string | null;
  /** The root fields a GraphQL operation selected. */
  readonly rootFields: string[];
  readonly outcome: RequestOutcome;
  /** The first error's code when the outcome is not ALLOWED. */
  readonly errorCode: string | null;
  readonly clientIp: string | null;
  readonly userAgent: string | null;
}

export type RequestEvent = { type: 'RequestAuthenticated'; data: RequestEntry } | { type: 'RequestDenied'; data: RequestEntry };

export function requestStream(orgId: string): string {
  return `requests-${orgId}`;
}

/** Authenticated requests (allowed, or failed while authenticated) vs denied ones. */
export function requestEvent(entry: RequestEntry): RequestEvent {
  return entry.outcome === 'DENIED' ? { type: 'RequestDenied', data: entry } : { type: 'RequestAuthenticated', data: entry };
}
