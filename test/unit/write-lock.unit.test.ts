// The SQLite write lock of a file is one lock for the main thread and the projections' worker
// thread (src/sqlite/database.ts): they never write at the same time, neither starves the other,
// and a worker that dies holding it does not keep the main thread from writing.

import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncLock, releaseWorkerClaims, shareWriteLocks, writeLockFor } from '../../src/sqlite/database.js';

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  releaseWorkerClaims();
});

/** A worker thread running `body` (an async function of `lock`, `inside` and `rounds`) on the lock of `path`, adopted from this thread. */
function lockWorker(path: string, inside: Int32Array, body: string, rounds: number): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const database = new URL('../../src/sqlite/database.ts', import.meta.url).href;
  const code = `
    import { register } from ${JSON.stringify(tsx)};
    register();
    const { workerData, parentPort } = await import('node:worker_threads');
    const { adoptWriteLocks, writeLockFor } = await import(${JSON.stringify(database)});
    adoptWriteLocks(workerData.locks);
    const lock = writeLockFor(workerData.path);
    const inside = new Int32Array(workerData.inside);
    const rounds = workerData.rounds;
    const result = await (async () => { ${body} })();
    parentPort.postMessage(result ?? 'done');
  `;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
    workerData: { locks: shareWriteLocks([path]), path, inside: inside.buffer, rounds },
  });
  workers.push(worker);
  return worker;
}

const message = (worker: Worker): Promise<unknown> =>
  new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('the write lock shared with the projection worker thread', () => {
  it('given both threads writing in a loop, when they contend, then never two hold it at once and both finish', async () => {
    const path = `/tmp/keyledger-lock-${process.pid}-a.db`;
    const inside = new Int32Array(new SharedArrayBuffer(8));
    const rounds = 300;
    // Each critical section marks itself inside, yields, and counts an overlap if the other thread is inside too.
    const section = `
      let overlaps = 0;
      for (let i = 0; i < rounds; i++) {
        await lock.run(async () => {
          if (Atomics.add(inside, 0, 1) !== 0) overlaps++;
          await new Promise((r) => setImmediate(r));
          Atomics.sub(inside, 0, 1);
        });
      }
      return overlaps;`;
    const done = message(lockWorker(path, inside, section, rounds));
    const lock = writeLockFor(path);
    let overlaps = 0;
    for (let i = 0; i < rounds; i++) {
      await lock.run(async () => {
        if (Atomics.add(inside, 0, 1) !== 0) overlaps++;
        await tick();
        Atomics.sub(inside, 0, 1);
      });
    }
    expect(await done).toBe(0);
    expect(overlaps).toBe(0);
  });

  it('given a worker that holds the lock and never releases it, when it dies, then the main thread takes the lock', async () => {
    const path = `/tmp/keyledger-lock-${process.pid}-b.db`;
    const inside = new Int32Array(new SharedArrayBuffer(8));
    const worker = lockWorker(path, inside, `lock.run(() => new Promise(() => {})); await new Promise((r) => setTimeout(r, 50)); return 'holding';`, 1);
    expect(await message(worker)).toBe('holding');
    const lock = writeLockFor(path);
    let taken = false;
    const waiting = lock.run(() => {
      taken = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(taken).toBe(false);
    await worker.terminate();
    releaseWorkerClaims();
    await waiting;
    expect(taken).toBe(true);
  });

  it('given one thread, when callers queue, then they run one at a time in order', async () => {
    const lock = new AsyncLock();
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        lock.run(async () => {
          order.push(n);
          await tick();
          order.push(-n);
        }),
      ),
    );
    expect(order).toEqual([1, -1, 2, -2, 3, -3]);
  });
});
