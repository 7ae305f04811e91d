// The load loop of `HttpLoad` (lib.ts), in a worker thread: `concurrency` async loops send one
// request each, one at a time, over a keep-alive node:http Agent (one socket per loop and target,
// kept across runs). Plain JavaScript, so that the worker needs no TypeScript loader.
//
// workerData: { url, headers, concurrency }. Each message is a LoadSpec: either a GraphQL POST
// { query, variables?, unique?: { variable, prefix }, total, maxMs, url?, headers? } or a plain
// GET { method: 'GET', total, maxMs, url?, headers? }; `url` and `headers` override the
// generator's for that run. The answer is
// { done, ms, latencies: Float64Array (ms per completed request), failure: string | null }.

import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

const { url, headers, concurrency } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });

/** One request (a POST when `body` is a string, else a GET); resolves with the status and the whole body as text. */
function send(target, runHeaders, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        hostname: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: body === null ? 'GET' : 'POST',
        headers: body === null ? runHeaders : { ...runHeaders, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body === null) req.end();
    else req.end(body);
  });
}

async function run(spec) {
  const target = new URL(spec.url ?? url);
  const runHeaders = { ...headers, accept: 'application/json', ...spec.headers };
  const get = spec.method === 'GET';
  const fixed = get || spec.unique ? null : JSON.stringify({ query: spec.query, variables: spec.variables ?? {} });
  let latencies = new Float64Array(Math.max(1, Math.min(spec.total, 65_536)));
  let claimed = 0;
  let done = 0;
  let failure = null;
  const t0 = performance.now();
  const deadline = t0 + spec.maxMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (failure === null && claimed < spec.total && performance.now() < deadline) {
        const n = claimed++;
        const body = get ? null : (fixed ?? JSON.stringify({ query: spec.query, variables: { ...spec.variables, [spec.unique.variable]: `${spec.unique.prefix}${n}` } }));
        const started = performance.now();
        let answer;
        try {
          answer = await send(target, runHeaders, body);
        } catch (error) {
          failure ??= error instanceof Error ? error.message : String(error);
          return;
        }
        const latency = performance.now() - started;
        // Cheap enough to run on every answer; an answer with errors fails the run.
        if (answer.status !== 200 || answer.text.includes('"errors"')) {
          failure ??= `HTTP ${answer.status}: ${answer.text.slice(0, 500)}`;
          return;
        }
        if (done === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[done++] = latency;
      }
    }),
  );
  const ms = performance.now() - t0;
  const result = latencies.slice(0, done);
  parentPort.postMessage({ done, ms, latencies: result, failure }, [result.buffer]);
}

parentPort.on('message', (spec) => {
  run(spec).catch((error) => parentPort.postMessage({ done: 0, ms: 0, latencies: new Float64Array(0), failure: String(error) }));
});
