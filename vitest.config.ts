import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// graphql 16 ships CommonJS and an ESM copy without an exports map: Node (and so yoga and
// Pothos) loads the CommonJS one, Vite would give our sources the other, and `instanceof
// GraphQLError` would then fail between them. Tests use the one Node uses.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

// The PostgreSQL event-store suite holds transactions open on purpose (to prove a reader never
// skips a late commit); that holds back every reader of the cluster. It runs alone, after the rest.
const EXCLUSIVE = ['test/contract/postgres.contract.test.ts'];
// The pure, fast tier (`npm run test:unit`): its own project, so that `vitest run` still runs each test once.
const UNIT = ['test/unit/**/*.unit.test.ts'];

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      // Pure modules, no mocks: one module graph for all of them loads the heavy clients (gRPC) once.
      { extends: true, test: { name: 'unit', include: UNIT, isolate: false, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'keyledger', include: ['test/**/*.test.ts'], exclude: [...EXCLUSIVE, ...UNIT], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'postgres-exclusive', include: EXCLUSIVE, sequence: { groupOrder: 1 } } },
    ],
  },
});
