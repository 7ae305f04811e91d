// The projections keyledger runs, fed the domain's events decoded once by the runner.

import type { KeyledgerEvent } from '../src/domain/events.js';
import type { Recorded } from '../src/eventstore/recorded.js';
import { auditProjection } from './audit/projection.js';
import { credentialsProjection } from './credentials/projection.js';
import { organizationsProjection } from './organizations/projection.js';
import { principalsProjection } from './principals/projection.js';
import type { Projection } from './core/projection.js';
import type { ReadModels } from './read-models.js';
import { usageProjection } from './usage/projection.js';

export type KeyledgerProjection = Projection<ReadModels, Recorded<KeyledgerEvent>>;

export function keyledgerProjections(): KeyledgerProjection[] {
  return [organizationsProjection, principalsProjection, credentialsProjection, usageProjection, auditProjection];
}
