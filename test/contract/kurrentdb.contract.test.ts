// The contract suite against KurrentDB (or EventStoreDB 20+), when KEYLEDGER_TEST_KURRENTDB
// holds a connection string, e.g. kurrentdb://127.0.0.1:2113?tls=false.

import { describe } from 'vitest';
import { openKurrentDbEventStore } from '../../src/eventstore/kurrentdb.js';
import { describeEventStoreContract } from './eventstore.contract.js';

const connectionString = process.env.KEYLEDGER_TEST_KURRENTDB;

if (connectionString) {
  describeEventStoreContract('kurrentdb', () => openKurrentDbEventStore(connectionString, { deadlineMs: 10_000 }), undefined, {
    // KurrentDB decides idempotency itself (by the expected revision of the first write).
    refusesPartialIdReuse: false,
  });
} else {
  console.warn('SKIPPED: KurrentDB contract suite (set KEYLEDGER_TEST_KURRENTDB to a connection string to run it)');
  describe.skipIf(!connectionString)('event store contract: kurrentdb [skipped: KEYLEDGER_TEST_KURRENTDB is not set]', () => {
    describeEventStoreContract('kurrentdb', () => openKurrentDbEventStore('kurrentdb://127.0.0.1:2113?tls=false'));
  });
}
