// The CredentialIndex holds its credentials compactly (digests and ids as words, shared strings
// held once); what it answers is what it answered as two Maps: by digest, changes by id, for
// digests and ids of any shape.

import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CredentialIndex } from '../../projections/credentials/credential-index.js';
import type { RecordedEvent } from '../../src/eventstore/port.js';

let position = 0n;
function event(type: string, data: Record<string, unknown>): RecordedEvent {
  position++;
  return { id: randomUUID(), stream: 'test', type, data, metadata: {}, revision: position, position } as unknown as RecordedEvent;
}

const ORG = randomUUID();
const OWNER = randomUUID();
const hex = () => randomBytes(32).toString('hex');

describe('CredentialIndex, compact', () => {
  it('answers by digest what was created, for ids and digests of any shape, and applies changes by id', () => {
    const index = new CredentialIndex();
    const keys = [
      { keyId: randomUUID(), digest: hex() },
      { keyId: 'key-1', digest: 'd1' },
      { keyId: randomUUID().toUpperCase(), digest: hex().toUpperCase() },
      { keyId: '00000000-0000-0000-0000-000000000001', digest: '0'.repeat(64) },
    ];
    for (const { keyId, digest } of keys) {
      index.apply(
        event('ApplicationKeyCreated', {
          principalId: OWNER,
          orgId: ORG,
          keyId,
          name: keyId,
          digest,
          last4: 'abcd',
          scopes: ['api_keys_read'],
          expiresAt: '2031-01-01T00:00:00.000Z',
          createdBy: null,
        }),
      );
    }
    expect(index.size).toBe(keys.length);
    for (const { keyId, digest } of keys) {
      expect(index.credential(digest)).toEqual({
        id: keyId,
        kind: 'APPLICATION_KEY',
        orgId: ORG,
        ownerId: OWNER,
        scopes: ['api_keys_read'],
        allowedOrigins: [],
        expiresAt: '2031-01-01T00:00:00.000Z',
        revokesAt: null,
        active: true,
      });
    }
    expect(index.credential(hex())).toBeUndefined();
    expect(index.credential(keys[2]!.digest.toLowerCase())).toBeUndefined();

    for (const { keyId } of keys) index.apply(event('ApplicationKeyScoped', { principalId: OWNER, orgId: ORG, keyId, scopes: null, previousScopes: ['api_keys_read'] }));
    index.apply(event('ApplicationKeyRevoked', { principalId: OWNER, orgId: ORG, keyId: keys[0]!.keyId, reason: 'REVOKED' }));
    expect(keys.map(({ digest }) => [index.credential(digest)?.scopes, index.credential(digest)?.active])).toEqual([
      [null, false],
      [null, true],
      [null, true],
      [null, true],
    ]);
  });

  it('a rotation: the successor is found, the predecessor revokes at the end of its grace', () => {
    const index = new CredentialIndex();
    const key = { keyId: randomUUID(), digest: hex() };
    const successor = { successorId: randomUUID(), digest: hex() };
    index.apply(
      event('ClientTokenCreated', { orgId: ORG, tokenId: randomUUID(), name: 't', digest: hex(), last4: 'abcd', allowedOrigins: ['https://a.example'], createdBy: null }),
    );
    index.apply(event('ApiKeyCreated', { orgId: ORG, keyId: key.keyId, name: 'k', digest: key.digest, last4: 'abcd', createdBy: null }));
    index.apply(
      event('ApiKeyRotated', {
        orgId: ORG,
        keyId: key.keyId,
        successorId: successor.successorId,
        name: 'k',
        digest: successor.digest,
        last4: 'efgh',
        createdBy: null,
        revokeAt: '2030-01-01T00:00:00.000Z',
      }),
    );
    expect(index.credential(key.digest)).toMatchObject({ id: key.keyId, kind: 'API_KEY', active: true, revokesAt: '2030-01-01T00:00:00.000Z', allowedOrigins: [] });
    expect(index.credential(successor.digest)).toMatchObject({ id: successor.successorId, kind: 'API_KEY', active: true, revokesAt: null, ownerId: null, scopes: null });
  });

  it('a digest created again, or an id created again, resolves as two Maps would', () => {
    const index = new CredentialIndex();
    const digest = hex();
    const first = randomUUID();
    const second = randomUUID();
    const created = (keyId: string, at: string) => event('ApiKeyCreated', { orgId: ORG, keyId, name: keyId, digest: at, last4: 'abcd', createdBy: null });
    // One digest, two ids: the digest holds the later credential, and either id changes it.
    index.apply(created(first, digest));
    index.apply(created(second, digest));
    expect(index.size).toBe(1);
    expect(index.credential(digest)?.id).toBe(second);
    index.apply(event('ApiKeyRevoked', { orgId: ORG, keyId: first, reason: 'REVOKED' }));
    expect(index.credential(digest)?.active).toBe(false);

    // One id, two digests: the id changes the later one only.
    const third = randomUUID();
    const [a, b] = [hex(), hex()];
    index.apply(created(third, a));
    index.apply(created(third, b));
    index.apply(event('ApiKeyRevoked', { orgId: ORG, keyId: third, reason: 'REVOKED' }));
    expect([index.credential(a)?.active, index.credential(b)?.active]).toEqual([true, false]);
  });

  it('holds many credentials, each found by its digest and changed by its id', () => {
    const index = new CredentialIndex();
    const keys = Array.from({ length: 5_000 }, () => ({ keyId: randomUUID(), digest: hex() }));
    for (const { keyId, digest } of keys) index.apply(event('ApiKeyCreated', { orgId: randomUUID(), keyId, name: 'k', digest, last4: 'abcd', createdBy: null }));
    for (const { keyId } of keys.filter((_, i) => i % 2 === 0)) index.apply(event('ApiKeyRevoked', { orgId: ORG, keyId, reason: 'REVOKED' }));
    expect(keys.every(({ keyId, digest }, i) => index.credential(digest)?.id === keyId && index.credential(digest)?.active === (i % 2 === 1))).toBe(true);
  });
});
