// The group-commit writer: requests arriving while an append is in flight share the next one,
// and nobody is answered before the append that holds their entry has returned.

import { describe, expect, it } from 'vitest';
import { RequestLog } from '../../src/audit/request-log.js';
import type { AppendResult, EventStore, NewEvent } from '../../src/eventstore/port.js';
import type { RequestEntry } from '../../src/domain/requests.js';

function entry(i: number, orgId = 'org-a'): RequestEntry {
  return {
    at: new Date().toISOString(),
    requestId: `r${i}`,
    orgId,
    apiKeyId: 'k',
    applicationKeyId: null,
    clientTokenId: null,
    principalId: null,
    operationType: 'http',
    operationName: 'GET /api/v1/validate',
    rootFields: [],
    outcome: 'ALLOWED',
    errorCode: null,
    clientIp: null,
    userAgent: null,
  };
}

/** A store whose appends take a while and can be made to fail. */
function slowStore(options: { delayMs: number; failFirst?: boolean }) {
  const appends: { stream: string; events: readonly NewEvent[]; finishedAt?: number }[] = [];
  let fail = options.failFirst ?? false;
  const store = {
    async append(stream: string, events: readonly NewEvent[]): Promise<AppendResult> {
      const record: (typeof appends)[number] = { stream, events };
      appends.push(record);
      await new Promise((r) => setTimeout(r, options.delayMs));
      if (fail) {
        fail = false;
        throw new Error('store down');
      }
      record.finishedAt = performance.now();
      return { nextRevision: 0n, position: '' as never };
    },
  } as unknown as EventStore;
  return { store, appends };
}

describe('RequestLog (group commit)', () => {
  it('R25: batches what arrives during an append, and answers each caller after its append', async () => {
    const { store, appends } = slowStore({ delayMs: 30 });
    const log = new RequestLog(store);
    const answeredAt: number[] = [];
    const first = log.record(entry(0)).then(() => answeredAt.push(performance.now()));
    await new Promise((r) => setTimeout(r, 5));
    const rest = Array.from({ length: 49 }, (_, i) => log.record(entry(i + 1)).then(() => answeredAt.push(performance.now())));
    await Promise.all([first, ...rest]);
    expect(appends.map((a) => a.events.length)).toEqual([1, 49]);
    expect(appends.every((a) => a.stream === 'requests-org-a')).toBe(true);
    expect(Math.min(...answeredAt.slice(1))).toBeGreaterThanOrEqual(appends[1]!.finishedAt!);
    expect(new Set(appends.flatMap((a) => a.events.map((e) => e.id))).size).toBe(50);
    await log.close();
  });

  it('appends per organization, and rejects the callers of a failed append (no acknowledgement)', async () => {
    const { store, appends } = slowStore({ delayMs: 10, failFirst: true });
    const log = new RequestLog(store);
    const results = await Promise.allSettled([log.record(entry(1, 'org-a')), log.record(entry(2, 'org-b'))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(new Set(appends.map((a) => a.stream))).toEqual(new Set(['requests-org-a', 'requests-org-b']));
    await log.close();
    await expect(log.record(entry(3))).rejects.toThrow(/closed/);
  });
});
