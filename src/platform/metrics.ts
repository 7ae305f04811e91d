// Prometheus metrics of one gateway (prom-client, a registry per app), served at /metrics.

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
}
