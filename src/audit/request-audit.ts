// What one request contributes to the audit log (R22): who it presented, what it asked, how it
// ended. Filled in as the request goes, turned into a RequestEntry before the response leaves.

import type { IncomingMessage } from 'node:http';
import type { RequestEntry, RequestOutcome } from '../domain/requests.js';
import type { Recognized } from '../gateway/authenticate.js';

const MAX_USER_AGENT = 512;

export class RequestAudit {
  readonly at: string;
  readonly requestId: string;
  readonly clientIp: string | null;
  readonly userAgent: string | null;
  recognized: Recognized | null = null;
  operationType = 'http';
  operationName: string | null = null;
  rootFields: string[] = [];
  #outcome: RequestOutcome = 'ALLOWED';
  #errorCode: string | null = null;

  constructor(req: IncomingMessage, requestId: string, now: Date) {
    this.at = now.toISOString();
    this.requestId = requestId;
    this.clientIp = req.socket.remoteAddress ?? null;
    const ua = req.headers['user-agent'];
    this.userAgent = typeof ua === 'string' ? ua.slice(0, MAX_USER_AGENT) : null;
  }

  /** The first refusal decides: a denial (401/403 kinds) over a failure. */
  deny(code: string): void {
    if (this.#outcome !== 'DENIED') {
      this.#outcome = 'DENIED';
      this.#errorCode = code;
    }
  }

  fail(code: string): void {
    if (this.#outcome === 'ALLOWED') {
      this.#outcome = 'FAILED';
      this.#errorCode = code;
    }
  }

  /** Errors of a GraphQL result, by their codes. */
  errors(codes: readonly (string | undefined)[]): void {
    for (const code of codes) {
      if (code === 'FORBIDDEN' || code === 'UNAUTHENTICATED' || code === 'API_KEY_IN_BROWSER') this.deny(code);
      else this.fail(code ?? 'INTERNAL_SERVER_ERROR');
    }
  }

  get outcome(): RequestOutcome {
    return this.#outcome;
  }

  /** The entry to append, or null when no known credential was presented (nothing to attribute). */
  entry(): RequestEntry | null {
    const who = this.recognized;
    if (!who) return null;
    return {
      at: this.at,
      requestId: this.requestId,
      orgId: who.orgId,
      apiKeyId: who.apiKeyId,
      applicationKeyId: who.applicationKeyId,
      clientTokenId: who.clientTokenId,
      principalId: who.principalId,
      operationType: this.operationType,
      operationName: this.operationName,
      rootFields: this.rootFields,
      outcome: this.#outcome,
      errorCode: this.#errorCode,
      clientIp: this.clientIp,
      userAgent: this.userAgent,
    };
  }
}
