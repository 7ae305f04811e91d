// Folding a stream is linear in its length: an event changes one entry of an aggregate's
// tables, sharing the rest with the state it was applied to (no Map is copied per event), and
// every earlier state still reads as it did. Structure is asserted, never time.

import { describe, expect, it } from 'vitest';
import { OPERATOR } from '../../src/domain/actor.js';
import type { OrganizationEvent, PrincipalEvent } from '../../src/domain/events.js';
import { decideOrganization, evolveOrganization, initialOrganizationState, type OrganizationState } from '../../src/domain/organization.js';
import { PersistentMap } from '../../src/domain/persistent-map.js';
import { decidePrincipal, evolvePrincipal, initialPrincipalState, type PrincipalState } from '../../src/domain/principal.js';
import { actorOf, ORG_ID } from '../support/decider.js';

const OWNER = 'robot';
const N = 2_000;

const created: PrincipalEvent = { type: 'ServiceAccountCreated', data: { principalId: OWNER, orgId: ORG_ID, name: 'robot', role: 'admin' } };
const keyCreated = (i: number): PrincipalEvent => ({
  type: 'ApplicationKeyCreated',
  data: { principalId: OWNER, orgId: ORG_ID, keyId: `key-${i}`, name: `key ${i}`, digest: `digest-${i}`, last4: 'abcd', scopes: null, expiresAt: null, createdBy: null },
});
const keyRevoked = (i: number): PrincipalEvent => ({ type: 'ApplicationKeyRevoked', data: { principalId: OWNER, orgId: ORG_ID, keyId: `key-${i}`, reason: 'REVOKED' } });

/** How many Maps `work` constructs (a copy of a Map is a construction). */
function mapsMadeBy<T>(work: () => T): { result: T; made: number } {
  const Original = globalThis.Map;
  let made = 0;
  globalThis.Map = class CountedMap<K, V> extends Original<K, V> {
    constructor(entries?: Iterable<readonly [K, V]> | null) {
      super(entries);
      made++;
    }
  };
  try {
    return { result: work(), made };
  } finally {
    globalThis.Map = Original;
  }
}

const existing = <S extends { exists: boolean }>(state: S): Extract<S, { exists: true }> => {
  if (!state.exists) throw new Error('expected an existing aggregate');
  return state as Extract<S, { exists: true }>;
};

describe('folding a stream', () => {
  it('a principal with N keys: no Map is made per event, whatever N', () => {
    const events = [created, ...Array.from({ length: N }, (_, i) => keyCreated(i)), ...Array.from({ length: N / 2 }, (_, i) => keyRevoked(i))];
    const { result: state, made } = mapsMadeBy(() => events.reduce(evolvePrincipal, initialPrincipalState));
    // The tables' own Maps when the principal is created; nothing proportional to N.
    expect(made).toBeLessThanOrEqual(4);
    const principal = existing(state);
    expect([...principal.keys.values()].length).toBe(N);
    expect(principal.keys.holding).toBe(N / 2);
    expect(principal.keys.get('key-0')?.active).toBe(false);
    expect(principal.keys.get(`key-${N - 1}`)?.active).toBe(true);
  });

  it('an organization with N client tokens: no Map is made per event, whatever N', () => {
    const events: OrganizationEvent[] = [
      { type: 'OrganizationCreated', data: { orgId: ORG_ID, name: 'Acme', apiKeyLimit: 50 } },
      ...Array.from(
        { length: N },
        (_, i): OrganizationEvent => ({
          type: 'ClientTokenCreated',
          data: { orgId: ORG_ID, tokenId: `token-${i}`, name: `token ${i}`, digest: `digest-${i}`, last4: 'abcd', allowedOrigins: [], createdBy: null },
        }),
      ),
    ];
    const { result: state, made } = mapsMadeBy(() => events.reduce(evolveOrganization, initialOrganizationState));
    expect(made).toBeLessThanOrEqual(8);
    expect(existing(state).clientTokens.holding).toBe(N);
  });

  it('an event about one key shares the tables it does not change, and leaves the state it was applied to as it was', () => {
    const before = existing([created, keyCreated(1), keyCreated(2)].reduce(evolvePrincipal, initialPrincipalState));
    const roleChanged = existing(evolvePrincipal(before, { type: 'PrincipalRoleChanged', data: { principalId: OWNER, orgId: ORG_ID, role: 'standard', previousRole: 'admin' } }));
    expect(roleChanged.keys).toBe(before.keys);

    const after = existing(evolvePrincipal(before, keyRevoked(1)));
    expect(after.keys).not.toBe(before.keys);
    expect(after.keys.get('key-1')?.active).toBe(false);
    expect(after.keys.get('key-2')).toBe(before.keys.get('key-2'));
    // The earlier state reads as before, and can be extended apart (the command handler decides again after a conflict).
    expect(before.keys.get('key-1')?.active).toBe(true);
    expect(before.keys.holding).toBe(2);
    const branch = existing(evolvePrincipal(before, keyCreated(3)));
    expect([...branch.keys.values()].map((k) => k.id)).toEqual(['key-1', 'key-2', 'key-3']);
    expect([...after.keys.values()].map((k) => [k.id, k.active])).toEqual([
      ['key-1', false],
      ['key-2', true],
    ]);
  });

  it('decides on an earlier state as on a fresh fold of the same events', () => {
    const admin = actorOf('admin', { principalId: 'admin-1' });
    const given = [created, keyCreated(1)];
    const base: PrincipalState = given.reduce(evolvePrincipal, initialPrincipalState);
    // A later state, folded from `base`, then a decision on `base` again: the name "key 2" is free there.
    [keyCreated(2)].reduce(evolvePrincipal, base);
    const create = { type: 'CreateApplicationKey' as const, keyId: 'key-2', name: 'key 2', scopes: null, expiresAt: null, now: new Date(), digest: 'd', last4: 'abcd' };
    expect(decidePrincipal(create, base, admin)).toEqual(decidePrincipal(create, given.reduce(evolvePrincipal, initialPrincipalState), admin));

    const org: OrganizationState = evolveOrganization(initialOrganizationState, { type: 'OrganizationCreated', data: { orgId: ORG_ID, name: 'Acme', apiKeyLimit: 1 } });
    const withKey = evolveOrganization(org, { type: 'ApiKeyCreated', data: { orgId: ORG_ID, keyId: 'k1', name: 'k', digest: 'd', last4: 'abcd', createdBy: null } });
    expect(() => decideOrganization({ type: 'CreateApiKey', keyId: 'k2', name: 'k2', digest: 'd2', last4: 'abcd' }, withKey, OPERATOR)).toThrow(/its limit of 1 active API keys/);
    expect(existing(org).apiKeys.holding).toBe(0);
  });
});

describe('PersistentMap', () => {
  it('every version reads as it was made, in insertion order, however the versions branch', () => {
    // A seeded walk over versions: each step extends a random earlier version; a plain Map copy is the model.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const versions: { map: PersistentMap<string, number>; model: Map<string, number> }[] = [{ map: PersistentMap.empty(), model: new Map() }];
    for (let step = 0; step < 2_000; step++) {
      const from = versions[random(versions.length)]!;
      const key = `k${random(50)}`;
      versions.push({ map: from.map.set(key, step), model: new Map(from.model).set(key, step) });
      const probe = versions[random(versions.length)]!;
      expect([...probe.map]).toEqual([...probe.model]);
    }
    for (const { map, model } of versions) {
      expect(map.size).toBe(model.size);
      expect([...map.keys()]).toEqual([...model.keys()]);
    }
  });
});
