// What one request contributes to the audit log (R22): who it presented, what it asked, how it
// ended; and the one path that records it. A route states what it recognised and the outcome
// on its RequestAudit; `RequestAuditor.settle` then records the entry through the group-commit
// writer, or says that it could not, and the route answers 503 (R25): every route, one path.

import type { IncomingMessage } from 'node:http';
import type { RequestEntry, RequestOutcome } from '../domain/requests.js';
import { digestSecret } from '../domain/secrets.js';
import type { Recognized } from '../domain/verification.js';
import type { Logger } from '../platform/logger.js';
import type { Metrics } from '../platform/metrics.js';
import { redactSecrets } from '../platform/redact.js';
import type { RequestLog } from './request-log.js';

const MAX_USER_AGENT = 512;

export class RequestAudit {
  readonly at: string;
  readonly requestId: string;
  readonly clientIp: string | null;
  readonly userAgent: string | null;
  operationType = 'http';
  operationName: string | null = null;
  rootFields: string[] = [];
  #recognized: Recognized | null = null;
  /** Secrets presented that matched no credential: logged by digest prefix, never kept. */
  #unmatched: string[] = [];
  #outcome: RequestOutcome = 'ALLOWED';
  #errorCode: string | null = null;
  #settlement: AuditSettlement | null = null;

  constructor(req: IncomingMessage, requestId: string, now: Date) {
    this.at = now.toISOString();
    this.requestId = requestId;
    this.clientIp = req.socket.remoteAddress ?? null;
    const ua = req.headers['user-agent'];
    // Bounded (R29), and a secret pasted into it never reaches the audit log (R27).
    this.userAgent = typeof ua === 'string' ? redactSecrets(ua).slice(0, MAX_USER_AGENT) : null;
  }

  /**
   * What a route recognised of the credentials it was given, and the refusal code if it refused
   * them. The first attribution stands: a request's own credentials (its headers) come before
   * those it asks to verify.
   */
  attribute(recognized: Recognized | null, refusal: string | null, presented: readonly (string | null)[] = []): void {
    if (this.#recognized !== null) return;
    if (recognized === null) {
      for (const secret of presented) if (secret !== null) this.#unmatched.push(digestSecret(secret).slice(0, 12));
      return;
    }
    this.#unmatched = [];
    this.#recognized = recognized;
    if (refusal !== null) this.deny(refusal);
  }

  get recognized(): Recognized | null {
    return this.#recognized;
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

  /** The code of the refusal or failure that decided the outcome (null when allowed). */
  get errorCode(): string | null {
    return this.#errorCode;
  }

  /** How recording the entry ended, once `RequestAuditor.settle` ran (null before). */
  get settlement(): AuditSettlement | null {
    return this.#settlement;
  }

  /** For RequestAuditor.settle only. */
  settled(settlement: AuditSettlement): AuditSettlement {
    this.#settlement = settlement;
    return settlement;
  }

  /** Digest prefixes of presented secrets that matched nothing (for the log). */
  get unmatched(): readonly string[] {
    return this.#unmatched;
  }

  /** The entry to append, or null when no known credential was presented (nothing to attribute). */
  entry(): RequestEntry | null {
    const who = this.#recognized;
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

/** How a request's audit ended: recorded, nothing to record, or not durable (the route answers 503). */
export type AuditSettlement = 'RECORDED' | 'UNATTRIBUTED' | 'UNAVAILABLE';

export class RequestAuditor {
  readonly #log: RequestLog;
  readonly #metrics: Metrics;
  readonly #logger: Logger;

  constructor(log: RequestLog, metrics: Metrics, logger: Logger) {
    this.#log = log;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  /** Records the request's entry, durable before the caller answers (R22, R25); never throws. */
  async settle(audit: RequestAudit, route: string): Promise<AuditSettlement> {
    const entry = audit.entry();
    this.#metrics.request(route, entry ? audit.outcome : 'UNRECOGNIZED');
    if (!entry) {
      if (audit.unmatched.length > 0) {
        this.#metrics.unrecognized(route);
        this.#logger.info({ requestId: audit.requestId, route, digestPrefixes: audit.unmatched }, 'request with credentials that match no known key');
      }
      return audit.settled('UNATTRIBUTED');
    }
    try {
      await this.#log.record(entry);
      return audit.settled('RECORDED');
    } catch (error) {
      this.#logger.error({ err: error, requestId: audit.requestId }, 'could not write the audit entry; the request is not acknowledged');
      return audit.settled('UNAVAILABLE');
    }
  }

  close(): Promise<void> {
    return this.#log.close();
  }
}
