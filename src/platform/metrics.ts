// Prometheus metrics of one gateway (prom-client, a registry per app), served at /metrics.
// The README lists them with a sample. Gauges of state that lives elsewhere (projection lag,
// the CredentialIndex) are read when Prometheus scrapes, through the readers the app gives.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How far one projection is behind the event store. */
export interface ProjectionLag {
  readonly name: string;
  readonly lagEvents: number;
  readonly lagSeconds: number;
}

/** How a request ended, as the access log and the audit log say it. */
export type RequestOutcomeLabel = 'ALLOWED' | 'DENIED' | 'FAILED';

/** How one append to the event store ended. */
export type AppendResultLabel = 'ok' | 'wrong_expected_revision' | 'error';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: 'keyledger_requests_total',
    help: 'Credentialed requests by route and outcome.',
    labelNames: ['route', 'outcome'],
    registers: [this.registry],
  });
  readonly #unrecognized = new Counter({
    name: 'keyledger_unrecognized_credentials_total',
    help: 'Requests presenting credentials that match no known key (not audited in any org).',
    labelNames: ['route'],
    registers: [this.registry],
  });
  readonly #batch = new Histogram({
    name: 'keyledger_audit_append_batch_size',
    help: 'Request events written per append (group commit).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly #duration = new Histogram({ name: 'keyledger_audit_append_seconds', help: 'Time to make a batch of request events durable.', registers: [this.registry] });
  readonly #failed = new Counter({ name: 'keyledger_audit_append_failures_total', help: 'Request events that could not be written.', registers: [this.registry] });

  readonly #httpDuration = new Histogram({
    name: 'keyledger_http_request_duration_seconds',
    help: 'Time from a request arriving to its response finishing, by route and operation type (query, mutation, subscription; graphql when no operation ran; http for the plain routes).',
    labelNames: ['route', 'operation_type'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly #httpRequests = new Counter({
    name: 'keyledger_http_requests_total',
    help: 'Requests answered, by route, operation type, outcome (ALLOWED, DENIED, FAILED) and HTTP status.',
    labelNames: ['route', 'operation_type', 'outcome', 'status'],
    registers: [this.registry],
  });
  readonly #append = new Histogram({
    name: 'keyledger_event_store_append_seconds',
    help: 'Time of one append to the event store (a command, or a group-commit batch of request events), by result.',
    labelNames: ['result'],
    buckets: [0.0005, ...SECONDS_BUCKETS],
    registers: [this.registry],
  });
  #projectionLag: (() => Promise<readonly ProjectionLag[]>) | null = null;
  /** One read of the lag per scrape, shared by the two gauges that report it. */
  #lagRead: Promise<readonly ProjectionLag[] | null> | null = null;
  readonly #lagEvents: Gauge<'projection'> = new Gauge({
    name: 'keyledger_projection_lag_events',
    help: 'Events in the store that the projection has not applied yet (read at scrape time).',
    labelNames: ['projection'],
    registers: [this.registry],
    collect: async (): Promise<void> => this.#reportLag(this.#lagEvents, (lag) => lag.lagEvents),
  });
  readonly #lagSeconds: Gauge<'projection'> = new Gauge({
    name: 'keyledger_projection_lag_seconds',
    help: 'Age of the oldest event the projection has not applied yet; 0 when caught up (read at scrape time).',
    labelNames: ['projection'],
    registers: [this.registry],
    collect: async (): Promise<void> => this.#reportLag(this.#lagSeconds, (lag) => lag.lagSeconds),
  });
  #indexSize: (() => number) | null = null;
  readonly #indexEntries: Gauge = new Gauge({
    name: 'keyledger_credential_index_size',
    help: 'Credentials the in-memory CredentialIndex holds (every kind and status).',
    registers: [this.registry],
    collect: () => {
      if (this.#indexSize) this.#indexEntries.set(this.#indexSize());
    },
  });
  // Open subscriptions: a gauge `keyledger_graphql_subscriptions_open{subscription}` goes here,
  // incremented and decremented by the subscription resolvers, once credentialEvents and
  // auditEntries exist (spec section 7). Until then there is nothing to count.

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  request(route: string, outcome: string): void {
    this.#requests.inc({ route, outcome });
  }

  unrecognized(route: string): void {
    this.#unrecognized.inc({ route });
  }

  auditAppended(size: number, seconds: number): void {
    this.#batch.observe(size);
    this.#duration.observe(seconds);
  }

  auditFailed(size: number): void {
    this.#failed.inc(size);
  }

  /** One request answered: its duration and how it ended. */
  httpRequest(labels: { route: string; operationType: string; outcome: RequestOutcomeLabel; status: number }, seconds: number): void {
    this.#httpDuration.observe({ route: labels.route, operation_type: labels.operationType }, seconds);
    this.#httpRequests.inc({ route: labels.route, operation_type: labels.operationType, outcome: labels.outcome, status: String(labels.status) });
  }

  eventStoreAppend(result: AppendResultLabel, seconds: number): void {
    this.#append.observe({ result }, seconds);
  }

  /** Where the projections' lag is read from, at each scrape. */
  observeProjections(read: () => Promise<readonly ProjectionLag[]>): void {
    this.#projectionLag = read;
  }

  /** Where the CredentialIndex's size is read from, at each scrape. */
  observeCredentialIndex(size: () => number): void {
    this.#indexSize = size;
  }

  async #reportLag(gauge: Gauge<'projection'>, value: (lag: ProjectionLag) => number): Promise<void> {
    const read = this.#projectionLag;
    if (read === null) return;
    this.#lagRead ??= read()
      .catch(() => null)
      .finally(() => {
        this.#lagRead = null;
      });
    const lags = await this.#lagRead;
    // A store that cannot be read reports no lag rather than a stale one (and /metrics still answers).
    gauge.reset();
    for (const lag of lags ?? []) gauge.set({ projection: lag.name }, value(lag));
  }
}
