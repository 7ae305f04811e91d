// The audit chain's canonical form and hash (R24): pinned, since every stored chain depends on them.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHAINED_COLUMNS, GENESIS_HASH, canonicalEntry, canonicalJson, chainedEntry, entryHash } from '../../projections/audit/chain.js';

const entry = {
  org_id: 'org-1',
  org_seq: 7,
  event_id: 'evt-1',
  at: '2026-01-01T00:00:00.000Z',
  kind: 'REQUEST',
  event_type: 'RequestDenied',
  request_id: 'req-1',
  api_key_id: 'key-1',
  application_key_id: null,
  client_token_id: null,
  principal_id: null,
  operation_type: 'query',
  operation_name: 'Viewer',
  root_fields: '["viewer"]',
  outcome: 'DENIED',
  error_code: 'UNAUTHENTICATED',
  client_ip: '203.0.113.9',
  user_agent: 'curl/8',
  subject_id: null,
  details: null,
};

describe('audit chain', () => {
  it('R24: canonical JSON sorts keys at every depth, has no white space, and refuses what JSON cannot say', () => {
    expect(canonicalJson({ b: [{ z: 1, a: null }], a: 'x', c: { y: true, x: 'é' } })).toBe('{"a":"x","b":[{"a":null,"z":1}],"c":{"x":"é","y":true}}');
    expect(canonicalJson({ skipped: undefined, kept: 0 })).toBe('{"kept":0}');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });

  it('R24: an entry hash is sha256(prev_hash + "\\n" + canonical entry), over every column but seq, position and the hashes', () => {
    const canonical =
      '{"api_key_id":"key-1","application_key_id":null,"at":"2026-01-01T00:00:00.000Z","client_ip":"203.0.113.9","client_token_id":null,"details":null,' +
      '"error_code":"UNAUTHENTICATED","event_id":"evt-1","event_type":"RequestDenied","kind":"REQUEST","operation_name":"Viewer","operation_type":"query",' +
      '"org_id":"org-1","org_seq":7,"outcome":"DENIED","principal_id":null,"request_id":"req-1","root_fields":"[\\"viewer\\"]","subject_id":null,"user_agent":"curl/8"}';
    expect(canonicalEntry(entry)).toBe(canonical);
    expect(entryHash(GENESIS_HASH, entry)).toBe(
      createHash('sha256')
        .update(`${'0'.repeat(64)}\n${canonical}`)
        .digest('hex'),
    );
    // Columns outside the chain do not change the hash; PostgreSQL's bigint-as-text does not either.
    expect(entryHash(GENESIS_HASH, { ...entry, org_seq: '7', seq: 99, position: 'p', hash: 'h', prev_hash: 'x' } as never)).toBe(entryHash(GENESIS_HASH, entry));
    expect(CHAINED_COLUMNS).toHaveLength(20);
  });

  it('R24: the fast canonical form of an entry is the general one, whatever the strings hold', () => {
    const awkward = ['plain', 'quote " and \\ backslash', 'tab\tnew\nline\r', '\u0000\u001f\u007f', 'emoji 😀', 'lone \ud800 surrogate', '\u2028\u2029', 'ünïcødé', ''];
    for (const value of awkward) {
      for (const column of CHAINED_COLUMNS) {
        if (column === 'org_seq') continue;
        const row = { ...entry, [column]: value };
        expect(canonicalEntry(row), `${column}: ${JSON.stringify(value)}`).toBe(canonicalJson(chainedEntry(row)));
      }
    }
  });
});
