// Adding an event type or a credential kind must not compile until every place that must
// handle it does. Proven here on a copy of the sources: each change is made, the compiler
// runs, and the files it refuses are exactly the places listed (ARCHITECTURE.md's checklists).

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
const run = promisify(execFile);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-exhaustive-'));
  for (const folder of ['src', 'projections']) cpSync(join(ROOT, folder), join(dir, folder), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const config = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...config, include: ['src', 'projections'] }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Applies edits (file, text to find, replacement) to a fresh copy of the sources, type-checks, and lists the files in error. */
async function filesInError(edits: readonly (readonly [string, string, string])[]): Promise<string[]> {
  const originals = new Map<string, string>();
  try {
    for (const [file, find, replace] of edits) {
      const path = join(dir, file);
      const text = originals.get(file) ?? readFileSync(path, 'utf8');
      originals.set(file, text);
      const current = readFileSync(path, 'utf8');
      if (!current.includes(find)) throw new Error(`${file} no longer holds ${JSON.stringify(find)}: update this test`);
      writeFileSync(path, current.replace(find, replace));
    }
    const output = await run(TSC, ['-p', join(dir, 'tsconfig.json'), '--noEmit'], { cwd: dir }).then(
      (r) => r.stdout,
      (error: { stdout?: string }) => error.stdout ?? '',
    );
    return [...new Set([...output.matchAll(/^([^\s(]+)\(\d+,\d+\): error/gm)].map((m) => m[1]!))].sort();
  } finally {
    for (const [file, text] of originals) writeFileSync(join(dir, file), text);
  }
}

const NEW_EVENT = [
  'src/domain/events.ts',
  "  | { type: 'ClientTokenRevoked'; data: { orgId: string; tokenId: string; reason: RevocationReason } };",
  "  | { type: 'ClientTokenRevoked'; data: { orgId: string; tokenId: string; reason: RevocationReason } }\n  | { type: 'ApiKeyFrozen'; data: { orgId: string; keyId: string } };",
] as const;

describe('exhaustiveness', () => {
  it('compiles as it is', async () => {
    expect(await filesInError([])).toEqual([]);
  });

  it('a new event type does not compile until it says what it is about', async () => {
    // What it is about (events.ts), its aggregate's fold, and the audit log's subject of an entry.
    expect(await filesInError([NEW_EVENT])).toEqual(['src/domain/events.ts', 'src/domain/organization.ts', 'src/graphql/types/audit-log.ts']);
  });

  it('a new credential event does not compile until every fold of credentials handles it', async () => {
    const classified = ['src/domain/events.ts', "  ClientTokenRevoked: 'CLIENT_TOKEN',", "  ClientTokenRevoked: 'CLIENT_TOKEN',\n  ApiKeyFrozen: 'API_KEY',"] as const;
    expect(await filesInError([NEW_EVENT, classified])).toEqual(['src/domain/credential.ts', 'src/domain/events.ts', 'src/domain/organization.ts']);
  });

  it('a new credential kind does not compile until every place that names the kinds handles it', async () => {
    const kind = [
      'src/domain/events.ts',
      "export type CredentialKind = 'API_KEY' | 'APPLICATION_KEY' | 'CLIENT_TOKEN';",
      "export type CredentialKind = 'API_KEY' | 'APPLICATION_KEY' | 'CLIENT_TOKEN' | 'SERVICE_TOKEN';",
    ] as const;
    expect(await filesInError([kind])).toEqual([
      'projections/audit/queries.ts', // the audit log's column of its id
      'projections/credentials/credential-index.ts', // the compact index's code for its kind
      'src/domain/events.ts', // its stream, and CREDENTIAL_KINDS
      'src/domain/secrets.ts', // its secret's prefix
      'src/domain/verification.ts', // how verification names it
      'src/feeds/feeds.ts', // which permission reads it in credentialEvents (R26)
      'src/graphql/core/errors.ts', // how an authentication error names it
      'src/graphql/core/ids.ts', // its GraphQL type
      'src/graphql/types/compliance-report.ts', // the CredentialKind enum
      'src/graphql/types/feeds.ts', // its member of the Credential union (credentialEvents)
    ]);
  });
});
