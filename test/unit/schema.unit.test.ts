// The checked-in schema and the typed documents the tests use must match the code.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../../codegen.js';
import { printedSchema } from '../../src/graphql/schema.js';
import { ROOT } from '../support/cli.js';

describe('schema', () => {
  it('schema/schema.graphql is the printed schema (run `npm run schema` after changing a type)', () => {
    expect(readFileSync(join(ROOT, 'schema/schema.graphql'), 'utf8')).toBe(printedSchema());
  });

  it('test/gql is what codegen makes of schema/operations (run `npm run codegen`)', async () => {
    const outputs = await generate({ ...config, cwd: ROOT, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      expect(readFileSync(join(ROOT, output.filename), 'utf8'), output.filename).toBe(output.content);
    }
  });
});

describe('README', () => {
  it('shows the permission catalogue and the error codes as the code has them (run `npm run docs`)', async () => {
    const { withGeneratedSections } = await import('../../src/domain/docs.js');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('<!-- permissions:start -->\n| permission |');
    expect(withGeneratedSections(readme)).toBe(readme);
  });
});

describe('README examples', () => {
  it('are valid documents against the schema', async () => {
    const { parse, validate } = await import('graphql');
    const { schema } = await import('../../src/graphql/schema.js');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) {
      // A block may hold several operations, each standing alone.
      const operations = block.split(/\n(?=(?:query|mutation|\{))/).filter((o) => o.trim().length > 0);
      for (const operation of operations)
        expect(
          validate(schema, parse(operation)).map((e) => e.message),
          operation,
        ).toEqual([]);
    }
  });
});
