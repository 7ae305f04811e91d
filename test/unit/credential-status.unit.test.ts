// The status rule and its SQL twin agree: for every kind of row the `credentials` read model
// holds, `hasStatus` (SQL) selects exactly the rows whose `credentialStatus` (domain) is that
// status, and `wasActiveAt(now)` the ACTIVE ones.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReadStore, type ReadStore } from '../../projections/core/read-store.js';
import { hasStatus, wasActiveAt } from '../../projections/credentials/status.js';
import { credentialsProjection } from '../../projections/credentials/projection.js';
import type { CredentialsTable, CredentialsTables } from '../../projections/credentials/tables.js';
import { credentialState, credentialStatus, type CredentialStatus } from '../../src/domain/credential.js';

const NOW = new Date('2026-11-30T12:00:00.000Z');
const iso = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();
const STATUSES: CredentialStatus[] = ['ACTIVE', 'REVOKED', 'EXPIRED'];

let store: ReadStore<CredentialsTables>;
const rows: CredentialsTable[] = [];

beforeAll(async () => {
  store = await openReadStore<CredentialsTables>({ kind: 'sqlite', path: ':memory:' });
  // A Kysely of the credentials table migrates as any database would.
  await credentialsProjection.migrations['0001_create']!.up(store.db as never);
  await credentialsProjection.migrations['0002_rotation_expiry']!.up(store.db as never);
  for (const revokedAt of [null, iso(-60_000)]) {
    for (const expiresAt of [null, iso(-1), iso(0), iso(1), iso(86_400_000)]) {
      // R18: not rotated, or rotated with a grace that ended, ends now, or goes on.
      for (const revokesAt of [null, iso(-1), iso(0), iso(1)])
        rows.push({
          id: randomUUID(),
          kind: 'APPLICATION_KEY',
          org_id: 'org',
          name: 'k',
          name_key: 'k',
          last4: 'abcd',
          digest: randomUUID(),
          owner_id: 'owner',
          created_by: null,
          scopes: null,
          allowed_origins: null,
          status: revokedAt === null ? 'ACTIVE' : 'REVOKED',
          revocation_reason: revokedAt === null ? null : 'REVOKED',
          created_at: iso(-120_000),
          modified_at: iso(-120_000),
          revoked_at: revokedAt,
          expires_at: expiresAt,
          successor_id: revokesAt === null ? null : randomUUID(),
          revokes_at: revokesAt,
          expiry_recorded_at: null,
        });
    }
  }
  await store.db.insertInto('credentials').values(rows).execute();
});
afterAll(() => store.close());

const domainStatus = (row: CredentialsTable) => credentialStatus({ active: row.status === 'ACTIVE', expiresAt: row.expires_at, revokesAt: row.revokes_at }, null, NOW);

describe('credential status', () => {
  it.each(STATUSES)('the SQL twin selects the rows the rule says are %s', async (status) => {
    const selected = await store.db.selectFrom('credentials').select('id').where(hasStatus(status, NOW)).execute();
    const expected = rows.filter((row) => domainStatus(row) === status).map((row) => row.id);
    expect(expected.length).toBeGreaterThan(0);
    expect(selected.map((row) => row.id).sort()).toEqual(expected.sort());
  });

  it('wasActiveAt(now) is the rule’s ACTIVE', async () => {
    const selected = await store.db.selectFrom('credentials').select('id').where(wasActiveAt(NOW)).execute();
    expect(selected.map((row) => row.id).sort()).toEqual(
      rows
        .filter((row) => domainStatus(row) === 'ACTIVE')
        .map((row) => row.id)
        .sort(),
    );
  });

  it('R14: a disabled owner’s key does not authenticate, whatever its own state; R17 revoked is final; R19 expiry is at expiresAt', () => {
    const active = { active: true, expiresAt: null, revokesAt: null };
    expect(credentialState(active, { active: false }, NOW)).toBe('OWNER_DISABLED');
    expect(credentialStatus(active, { active: false }, NOW)).toBe('REVOKED');
    expect(credentialState({ active: false, expiresAt: iso(1), revokesAt: null }, null, NOW)).toBe('REVOKED');
    expect(credentialState({ active: true, expiresAt: iso(0), revokesAt: null }, { active: true }, NOW)).toBe('EXPIRED');
    expect(credentialState({ active: true, expiresAt: iso(1), revokesAt: null }, { active: true }, NOW)).toBe('ACTIVE');
  });

  it('R18: a rotated key is ACTIVE during its grace and REVOKED from its end, recorded or not', () => {
    expect(credentialState({ active: true, expiresAt: null, revokesAt: iso(1) }, null, NOW)).toBe('ACTIVE');
    expect(credentialState({ active: true, expiresAt: null, revokesAt: iso(0) }, null, NOW)).toBe('REVOKED');
    expect(credentialState({ active: false, expiresAt: null, revokesAt: iso(1) }, null, NOW)).toBe('REVOKED');
    // Its grace ending revokes it even when it would expire later; expiring first, it reads EXPIRED until then.
    expect(credentialState({ active: true, expiresAt: iso(60_000), revokesAt: iso(-1) }, null, NOW)).toBe('REVOKED');
    expect(credentialState({ active: true, expiresAt: iso(-1), revokesAt: iso(60_000) }, null, NOW)).toBe('EXPIRED');
  });
});
