import { defineConfig } from 'vitest/config';

// The PostgreSQL event-store suite holds transactions open on purpose (to prove a reader never
// skips a late commit); that holds back every reader of the cluster. It runs alone, after the rest.
const EXCLUSIVE = ['test/contract/postgres.contract.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'keyledger', include: ['test/**/*.test.ts'], exclude: EXCLUSIVE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'postgres-exclusive', include: EXCLUSIVE, sequence: { groupOrder: 1 } } },
    ],
  },
});
