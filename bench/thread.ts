// Requests apart from writes (issue 11, part 1): how the gateway answers while its projections
// apply a backlog, with the projections on their worker thread (the default) and on the event
// loop that serves requests (KEYLEDGER_PROJECTION_THREAD=main), in the same run.
//
// For each placement: a gateway on a fresh SQLite file; its projections stopped, 64 connections
// of GET /api/v1/validate (durable audit: one request event each) pile up a backlog of events;
// the projections start again, and while they catch up, the main thread's event-loop delay
// (perf_hooks, 1 ms resolution: how long anything ready to run, a request, waited) and one loop of
// GET /health, beside the same on the idle gateway once caught up. Also how fast each caught up:
// a worker starts anew there (cold JIT, cold page cache), the main thread's runner does not.
// Nothing asserts on time.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { App } from '../src/gateway/app.js';
import { type Benchmark, type Figure, type LoadRun, type Row, fmtMs, HttpLoad, log, mergeRuns, startBenchGateway, summarize, toMicros } from './lib.js';

const BENCH = 'thread';
/** How long validate runs with the projections stopped: the backlog (about 10k-30k events here). */
const BACKLOG_MS = Number(process.env.KEYLEDGER_BENCH_THREAD_BACKLOG_MS ?? 6_000);
const PROBE_CONCURRENCY = 1;

interface Placement {
  readonly thread: 'worker' | 'main';
  readonly backlog: number;
  readonly catchUpMs: number;
  readonly during: LoadRun;
  readonly idle: LoadRun;
  /** The main thread's event-loop delay, in ms: max and p99. */
  readonly delayDuring: { readonly max: number; readonly p99: number };
  readonly delayIdle: { readonly max: number; readonly p99: number };
}

function delayOf(histogram: IntervalHistogram): { max: number; p99: number } {
  return { max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6 };
}

async function measure(thread: 'worker' | 'main'): Promise<Placement> {
  const gateway = await startBenchGateway('keyledger-bench-thread-', { KEYLEDGER_PROJECTION_THREAD: thread });
  try {
    const app: App = gateway.app;
    const key = gateway.org.apiKey.secret;
    const validate = await HttpLoad.open({ url: gateway.url, headers: { 'dd-api-key': key }, concurrency: 64 });
    gateway.onClose(() => validate.close());
    const probe = await HttpLoad.open({ url: gateway.url, headers: {}, concurrency: PROBE_CONCURRENCY });
    gateway.onClose(() => probe.close());
    const health = { method: 'GET', url: `${gateway.url}/health`, total: Number.MAX_SAFE_INTEGER } as const;

    // Warm both paths.
    await validate.run({ method: 'GET', url: `${gateway.url}/api/v1/validate`, total: 2_000, maxMs: 1_000 });
    await probe.run({ ...health, maxMs: 500 });
    await app.runner.waitFor(await app.store.headPosition(), { timeoutMs: 60_000 });

    // The backlog: request events appended while no projection applies them.
    await app.runner.stop();
    const before = await app.store.headPosition();
    const piled = await validate.run({ method: 'GET', url: `${gateway.url}/api/v1/validate`, total: Number.MAX_SAFE_INTEGER, maxMs: BACKLOG_MS });
    const head = await app.store.headPosition();
    const backlog = await app.store.countAfter(before, Number.MAX_SAFE_INTEGER);
    log(`${thread}: ${backlog} events in the backlog (${piled.done} validate requests)`);

    // Catch-up, probed.
    app.runner.start();
    // A worker thread starts anew (its modules, its connections): the catch-up is timed from when it runs.
    await app.projectionThread?.started(60_000);
    const t0 = performance.now();
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const caughtUp = app.runner.waitFor(head, { timeoutMs: 600_000 }).then(() => performance.now() - t0);
    const runs: LoadRun[] = [];
    let done = false;
    void caughtUp.then(() => (done = true));
    while (!done) runs.push(await probe.run({ ...health, maxMs: 250 }));
    const catchUpMs = await caughtUp;
    loopDelay.disable();
    const delayDuring = delayOf(loopDelay);
    const during = mergeRuns(runs);
    const idleDelay = monitorEventLoopDelay({ resolution: 1 });
    idleDelay.enable();
    const idle = await probe.run({ ...health, maxMs: 2_000 });
    idleDelay.disable();
    return { thread, backlog, catchUpMs, during, idle, delayDuring, delayIdle: delayOf(idleDelay) };
  } finally {
    await gateway.close();
  }
}

function figures(p: Placement): Figure[] {
  const during = summarize([p.during]);
  const idle = summarize([p.idle]);
  const label = p.thread === 'worker' ? 'projections on their worker thread' : 'projections on the main thread';
  return [
    {
      bench: BENCH,
      case: `event-loop delay, max, during catch-up, ${label}`,
      value: p.delayDuring.max,
      unit: 'ms',
      refLabel: 'the same, caught up (idle)',
      refValue: p.delayIdle.max,
      refUnit: 'ms',
      note: 'lower is better: the longest a ready request waited on the main thread',
    },
    {
      bench: BENCH,
      case: `event-loop delay, p99, during catch-up, ${label}`,
      value: p.delayDuring.p99,
      unit: 'ms',
      refLabel: 'the same, caught up (idle)',
      refValue: p.delayIdle.p99,
      refUnit: 'ms',
      note: 'lower is better',
    },
    {
      bench: BENCH,
      case: `GET /health p99 during catch-up, ${label}`,
      value: toMicros(during.p99Ms),
      unit: 'µs',
      refLabel: 'the same, caught up (idle)',
      refValue: toMicros(idle.p99Ms),
      refUnit: 'µs',
      note: `lower is better; ${during.done} probes over ${fmtMs(p.catchUpMs)} of catch-up`,
    },
    {
      bench: BENCH,
      case: `GET /health p50 during catch-up, ${label}`,
      value: toMicros(during.p50Ms),
      unit: 'µs',
      refLabel: 'the same, caught up (idle)',
      refValue: toMicros(idle.p50Ms),
      refUnit: 'µs',
      note: 'lower is better',
    },
    {
      bench: BENCH,
      case: `catch-up of the backlog, ${label}`,
      value: p.backlog / (p.catchUpMs / 1000),
      unit: 'events/s',
      refLabel: 'backlog (events)',
      refValue: p.backlog,
      refUnit: 'events',
      note: `${fmtMs(p.catchUpMs)} to apply ${p.backlog} events`,
    },
  ];
}

export const threadBenchmarks: Benchmark[] = [
  {
    name: BENCH,
    title: 'requests while the projections catch up: on their worker thread, and on the main thread',
    async run(): Promise<Row[]> {
      const worker = await measure('worker');
      const main = await measure('main');
      const rows: Row[] = [...figures(worker), ...figures(main)];
      const w = summarize([worker.during]);
      const m = summarize([main.during]);
      rows.push(
        {
          bench: BENCH,
          case: 'event-loop delay, max, during catch-up: worker thread',
          value: worker.delayDuring.max,
          unit: 'ms',
          refLabel: 'main thread',
          refValue: main.delayDuring.max,
          refUnit: 'ms',
          note: 'lower is better: how long a request waits behind the projections',
        },
        {
          bench: BENCH,
          case: 'GET /health p99 during catch-up: worker thread',
          value: toMicros(w.p99Ms),
          unit: 'µs',
          refLabel: 'main thread',
          refValue: toMicros(m.p99Ms),
          refUnit: 'µs',
          note: 'lower is better',
        },
      );
      return rows;
    },
  },
];
