// The layers of ARCHITECTURE.md, checked: no import cycle between files or between folders
// (type-only imports and dynamic imports count), and each folder imports only the layers below it.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SOURCES = ['src', 'projections'];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static, type-only, re-export or dynamic), as repository paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!);
  return specifiers.map((specifier) => relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

/** A file's folder: the unit of layering. */
const folderOf = (file: string): string => dirname(file);

/**
 * What each folder may import, besides itself (ARCHITECTURE.md, "The layers"). `projections/*`
 * stands for every read model's folder; each may also read its siblings' tables.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  'src/domain': [],
  'src/platform': [],
  'src/sqlite': [],
  'src/eventstore': ['src/domain', 'src/platform', 'src/sqlite'],
  'projections/core': ['src/domain', 'src/eventstore', 'src/platform', 'src/sqlite'],
  'projections/*': ['src/domain', 'src/eventstore', 'src/platform', 'projections/core', 'projections/*'],
  projections: ['src/domain', 'src/eventstore', 'projections/core', 'projections/*'],
  'src/commands': ['src/domain', 'src/eventstore', 'src/platform', 'projections', 'projections/*'],
  'src/audit': ['src/domain', 'src/eventstore', 'src/platform', 'projections/core', 'projections/*'],
  'src/feeds': ['src/domain', 'src/eventstore', 'src/platform', 'projections', 'projections/core', 'projections/*'],
  'src/graphql/core': ['src/domain', 'src/commands', 'src/audit', 'src/feeds', 'projections', 'projections/core', 'projections/*'],
  'src/graphql/types': ['src/domain', 'src/platform', 'src/feeds', 'src/graphql/core', 'projections/core', 'projections/*'],
  'src/graphql': ['src/graphql/core', 'src/graphql/types'],
  'src/gateway': [
    'src/domain',
    'src/platform',
    'src/eventstore',
    'projections',
    'projections/core',
    'projections/*',
    'src/commands',
    'src/audit',
    'src/feeds',
    'src/graphql',
    'src/graphql/core',
  ],
  src: [
    'src/domain',
    'src/platform',
    'src/eventstore',
    'projections',
    'projections/core',
    'projections/*',
    'src/commands',
    'src/audit',
    'src/feeds',
    'src/graphql',
    'src/graphql/core',
    'src/gateway',
  ],
};

/** The row of MAY_IMPORT a folder falls under. */
function ruleOf(folder: string): string {
  return folder.startsWith('projections/') && folder !== 'projections/core' ? 'projections/*' : folder;
}

function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const all = SOURCES.flatMap(files);
const fileGraph = new Map(all.map((file) => [file, new Set(importsOf(file))]));

describe('architecture', () => {
  it('reads the imports it checks', () => {
    expect(fileGraph.get('src/gateway/app.ts')).toContain('projections/core/runner.ts');
    expect(fileGraph.get('src/cli.ts')).toContain('src/gateway/app.ts'); // a dynamic import
    expect([...fileGraph.values()].every((imports) => [...imports].every((target) => !target.startsWith('..')))).toBe(true);
  });

  it('has no import cycle between files, type imports included', () => {
    expect(cycles(fileGraph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    const folderGraph = new Map<string, Set<string>>();
    for (const [file, imports] of fileGraph) {
      const from = folderOf(file);
      const targets = folderGraph.get(from) ?? new Set<string>();
      for (const target of imports) if (folderOf(target) !== from) targets.add(folderOf(target));
      folderGraph.set(from, targets);
    }
    expect(cycles(folderGraph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('imports only downward: each folder takes only the layers ARCHITECTURE.md lets it', () => {
    const wrong: string[] = [];
    for (const [file, imports] of fileGraph) {
      const rule = ruleOf(folderOf(file));
      const allowed = MAY_IMPORT[rule];
      if (!allowed) {
        wrong.push(`${file}: folder ${folderOf(file)} is not in the table`);
        continue;
      }
      for (const target of imports) {
        const to = ruleOf(folderOf(target));
        if (folderOf(target) !== folderOf(file) && !allowed.includes(to)) wrong.push(`${file} imports ${target} (${rule} may not import ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
