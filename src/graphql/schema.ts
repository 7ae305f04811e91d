// The schema: every module, built once.

import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { guardArguments } from './core/arguments.js';
import { builder } from './core/builder.js';
import { syncGlobalIds } from './core/ids.js';
import './types/scalars.js';
import './types/principals.js';
import './types/credentials.js';
import './types/organization.js';
import './types/node.js';
import './types/audit-log.js';
import './types/compliance-report.js';
import './types/verification.js';
import './types/feeds.js';

/**
 * Every argument is bounded and clean before a resolver sees it (R29); the ids of the nodes a
 * page lists resolve without a promise each.
 */
export const schema: GraphQLSchema = syncGlobalIds(guardArguments(builder.toSchema()), ['ApiKey', 'ApplicationKey', 'ClientToken', 'Organization', 'User', 'ServiceAccount']);

/** The schema as checked in at schema/schema.graphql. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
