// The projections keyledger runs, and the read store's tables they own.

import type { CheckpointTables, Projection } from './projection.js';

/** Every table of the read store. */
export type ReadModels = CheckpointTables;

export function keyledgerProjections(): Projection<ReadModels>[] {
  return [];
}
