import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openSqliteEventStore } from '../../src/eventstore/sqlite.js';
import { describeEventStoreContract } from './eventstore.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-sqlite-contract-'));
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeEventStoreContract('sqlite', async () => openSqliteEventStore(join(dir, `events-${n++}.db`)));
