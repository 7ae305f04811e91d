// PostgreSQL for tests: run when 127.0.0.1:5432 answers, skip visibly when it does not,
// and fail instead of skipping under KEYLEDGER_REQUIRE_PG=1 (as .ci/run sets).

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';

export const PG_URL = process.env.KEYLEDGER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_REQUIRED = process.env.KEYLEDGER_REQUIRE_PG === '1';

let reachable: Promise<boolean> | undefined;

export function pgReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * `describe` for a PostgreSQL suite. Call with the result of `await pgReachable()` at the
 * top of the test file.
 */
export function describePg(available: boolean, name: string, body: () => void): void {
  if (!available && PG_REQUIRED) {
    describe(name, () => {
      it('needs PostgreSQL, which KEYLEDGER_REQUIRE_PG=1 makes mandatory', () => {
        expect(available, `PostgreSQL is not reachable at ${PG_URL} and KEYLEDGER_REQUIRE_PG=1`).toBe(true);
      });
    });
    return;
  }
  if (!available) console.warn(`SKIPPED (PostgreSQL not reachable at ${PG_URL}): ${name}`);
  describe.skipIf(!available)(available ? name : `${name} [skipped: PostgreSQL not reachable at ${PG_URL}]`, () => {
    body();
  });
}

/** A schema of its own for one test run, dropped at the end. */
export async function createTestSchema(prefix = 'kl_test'): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`create schema "${schema}"`);
  } finally {
    await client.end();
  }
  return {
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await c.end();
      }
    },
  };
}
