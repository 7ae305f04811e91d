// The command handler's lanes: commands on one stream that wait together are decided in turn and
// appended at once; a refusal stands only beside an append that succeeded; a conflict with
// another writer decides the whole batch again; answers wait for read-your-writes, the lane does not.

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OrganizationAggregate } from '../../src/commands/aggregates.js';
import { CommandHandler } from '../../src/commands/handler.js';
import { OPERATOR } from '../../src/domain/actor.js';
import { DomainError } from '../../src/domain/errors.js';
import type { OrganizationCommand } from '../../src/domain/organization.js';
import type { AppendResult, EventStore, ExpectedRevision, NewEvent, Position } from '../../src/eventstore/port.js';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';

const digest = () => randomUUID().replace(/-/g, '').padEnd(64, '0');
const createKey = (name: string): OrganizationCommand => ({ type: 'CreateApiKey', keyId: randomUUID(), name, digest: digest(), last4: 'abcd' });

/** A store that counts appends, and can hold one append until released. */
function countingStore(): { store: EventStore; appends: { stream: string; events: number }[]; hold: () => () => void } {
  const inner = openSqliteEventStore(':memory:');
  const appends: { stream: string; events: number }[] = [];
  let gate: Promise<void> | undefined;
  const store: EventStore = {
    ...inner,
    kind: inner.kind,
    async append(stream: string, events: readonly NewEvent[], options?: { expectedRevision?: ExpectedRevision }): Promise<AppendResult> {
      appends.push({ stream, events: events.length });
      if (gate) await gate;
      return inner.append(stream, events, options);
    },
    readStream: (stream, options) => inner.readStream(stream, options),
    readAll: (options) => inner.readAll(options),
    subscribe: (options) => inner.subscribe(options),
    headPosition: () => inner.headPosition(),
    countAfter: (after, cap) => inner.countAfter(after, cap),
    close: () => inner.close(),
  };
  return {
    store,
    appends,
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

async function newOrg(handler: CommandHandler, apiKeyLimit: number): Promise<string> {
  const orgId = randomUUID();
  await handler.execute(
    OrganizationAggregate,
    orgId,
    { type: 'CreateOrganization', orgId, name: 'Acme', apiKeyLimit, firstApiKey: { keyId: randomUUID(), name: 'first', digest: digest(), last4: 'abcd' }, createdBy: null },
    OPERATOR,
  );
  return orgId;
}

describe('command handler lanes', () => {
  it('given an append in flight, when commands on its stream arrive, then they are decided in turn and appended at once', async () => {
    const { store, appends, hold } = countingStore();
    const handler = new CommandHandler({ store, readYourWrites: async () => undefined });
    const orgId = await newOrg(handler, 50);
    const release = hold();
    const first = handler.execute(OrganizationAggregate, orgId, createKey('k-0'), OPERATOR);
    await Promise.resolve();
    const waiting = Array.from({ length: 9 }, (_, i) => handler.execute(OrganizationAggregate, orgId, createKey(`k-${i + 1}`), OPERATOR));
    release();
    const results = await Promise.all([first, ...waiting]);
    expect(results.every((r) => r.events.length === 1)).toBe(true);
    // The org's creation (with its first key), the first create, then the nine that waited together.
    expect(appends.map((a) => a.events)).toEqual([2, 1, 9]);
    expect((await store.readStream(`org-${orgId}`)).map((e) => e.revision)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i)));
  });

  it('given a batch, when a command is refused because of a sibling decided before it (R2, R3), then only that one is refused', async () => {
    const { store, hold } = countingStore();
    const handler = new CommandHandler({ store, readYourWrites: async () => undefined });
    const orgId = await newOrg(handler, 3);
    const release = hold();
    const first = handler.execute(OrganizationAggregate, orgId, createKey('a'), OPERATOR);
    await Promise.resolve();
    const rest = [createKey('b'), createKey('B '), createKey('c'), createKey('d')].map((c) => handler.execute(OrganizationAggregate, orgId, c, OPERATOR));
    release();
    const settled = await Promise.allSettled([first, ...rest]);
    const codes = settled.map((s) => (s.status === 'fulfilled' ? 'ok' : s.reason instanceof DomainError ? s.reason.code : String(s.reason)));
    expect(codes).toEqual(['ok', 'ok', 'NAME_TAKEN', 'API_KEY_LIMIT', 'API_KEY_LIMIT']);
  });

  it('given another writer appended first, when the batch conflicts, then every command is decided again on what it wrote', async () => {
    const { store } = countingStore();
    const mine = new CommandHandler({ store, readYourWrites: async () => undefined });
    const theirs = new CommandHandler({ store, readYourWrites: async () => undefined });
    const orgId = await newOrg(mine, 50);
    await theirs.execute(OrganizationAggregate, orgId, createKey('taken'), OPERATOR);
    // `mine` trusts its cached fold, conflicts, reads what `theirs` wrote, and decides again.
    const settled = await Promise.allSettled([
      mine.execute(OrganizationAggregate, orgId, createKey('taken'), OPERATOR),
      mine.execute(OrganizationAggregate, orgId, createKey('free'), OPERATOR),
    ]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as DomainError).code))).toEqual(['NAME_TAKEN', 'ok']);
    expect((await store.readStream(`org-${orgId}`)).length).toBe(4);
  });

  it('given a command waiting for its read models, when the next command arrives, then the lane does not wait with it', async () => {
    const { store } = countingStore();
    const pending: Array<() => void> = [];
    let holdReads = false;
    const handler = new CommandHandler({
      store,
      readYourWrites: (_position: Position) => (holdReads ? new Promise<void>((resolve) => pending.push(resolve)) : Promise.resolve()),
    });
    const orgId = await newOrg(handler, 50);
    holdReads = true;
    let firstAnswered = false;
    const first = handler.execute(OrganizationAggregate, orgId, createKey('one'), OPERATOR).then((r) => {
      firstAnswered = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = handler.execute(OrganizationAggregate, orgId, createKey('two'), OPERATOR);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Both are stored while the first still waits for its read models.
    expect((await store.readStream(`org-${orgId}`)).length).toBe(4);
    expect(firstAnswered).toBe(false);
    for (const resolve of pending.splice(0)) resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (const resolve of pending.splice(0)) resolve();
    expect((await first).events).toHaveLength(1);
    expect((await second).events).toHaveLength(1);
  });
});
