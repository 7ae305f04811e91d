// The pure parts of the domain: secrets, names and effective permissions.

import { describe, expect, it } from 'vitest';
import { parseName } from '../../src/domain/names.js';
import { effectivePermissions, PERMISSION_IDS, ROLES } from '../../src/domain/permissions.js';
import type { CredentialKind } from '../../src/domain/events.js';
import { digestSecret, issueSecret, recognizeSecret, SECRET_PREFIX } from '../../src/domain/secrets.js';

describe('secrets (spec section 2)', () => {
  const kinds: CredentialKind[] = ['API_KEY', 'APPLICATION_KEY', 'CLIENT_TOKEN'];

  it('carry a prefix per kind, 32 random base62 characters and a checksum', () => {
    for (const kind of kinds) {
      const { secret, digest, last4 } = issueSecret(kind);
      expect(secret.startsWith(SECRET_PREFIX[kind])).toBe(true);
      expect(secret).toMatch(/^klk_(api|app|pub)_[0-9A-Za-z]{38}$/);
      expect(recognizeSecret(secret)).toBe(kind);
      expect(digest).toBe(digestSecret(secret));
      expect(digest).toMatch(/^[0-9a-f]{64}$/);
      expect(last4).toBe(secret.slice(-4));
    }
  });

  it('are refused when a character is changed, without a lookup', () => {
    const { secret } = issueSecret('API_KEY');
    const body = secret.length;
    let refused = 0;
    for (let i = 8; i < body; i++) {
      const c = secret[i] === 'a' ? 'b' : 'a';
      if (recognizeSecret(secret.slice(0, i) + c + secret.slice(i + 1)) === null) refused++;
    }
    expect(refused).toBe(body - 8);
    expect(recognizeSecret(secret.replace('klk_api_', 'klk_app_'))).toBe('APPLICATION_KEY');
    expect(recognizeSecret('klk_api_short')).toBeNull();
  });

  it('do not repeat, and use the whole alphabet', () => {
    const secrets = new Set(Array.from({ length: 2000 }, () => issueSecret('APPLICATION_KEY').secret));
    expect(secrets.size).toBe(2000);
    const characters = new Set([...secrets].flatMap((s) => Array.from(s.slice(8, 40))));
    expect(characters.size).toBe(62);
  });
});

describe('names', () => {
  it('are trimmed for display and folded for comparison', () => {
    expect(parseName('  Deploy Key ')).toEqual({ display: 'Deploy Key', key: 'deploy key' });
    expect(parseName('STRASSE').key).toBe(parseName('straße').key);
    expect(parseName('Ｆｕｌｌ').key).toBe(parseName('full').key);
  });
});

describe('effective permissions (R6, R7)', () => {
  it('are the role for an unscoped key, and scopes within the role for a scoped one', () => {
    expect(new Set(effectivePermissions('admin', null))).toEqual(new Set(PERMISSION_IDS));
    expect(new Set(effectivePermissions('read_only', null))).toEqual(new Set(ROLES.read_only.permissions));
    expect([...effectivePermissions('standard', ['api_keys_read', 'api_keys_write', 'dashboards_write'])]).toEqual(['api_keys_read', 'dashboards_write']);
    expect([...effectivePermissions('read_only', ['api_keys_write'])]).toEqual([]);
  });
});
