// ARCHITECTURE.md names the code it walks through as `file:function`; each must still exist, so
// that the page cannot drift from the code without a test failing.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const page = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
const references = [...new Set([...page.matchAll(/`([\w./-]+\.ts):(#?\w+)`/g)].map((m) => `${m[1]}:${m[2]}`))];

/** A function, method, class, constant or object field (a GraphQL field's resolver) of that name. */
function defines(text: string, name: string): boolean {
  const escaped = name.replace('#', '\\#');
  return new RegExp(`(?:function\\*?|class|const|let|interface|type)\\s+${escaped}\\b|^\\s*(?:async\\s+|static\\s+|readonly\\s+|get\\s+)*#?${escaped}\\s*[(<:=]`, 'm').test(text);
}

describe('ARCHITECTURE.md', () => {
  it('names code', () => {
    expect(references.length).toBeGreaterThan(30);
  });

  it.each(references)('%s exists', (reference) => {
    const [file, name] = reference.split(':') as [string, string];
    expect(existsSync(join(ROOT, file)), `${file} exists`).toBe(true);
    expect(defines(readFileSync(join(ROOT, file), 'utf8'), name), `${file} defines ${name}`).toBe(true);
  });

  it('recognises a name that is not there', () => {
    expect(defines('export function revokeApiKey() {}', 'revokeApplicationKey')).toBe(false);
  });
});
