// Scalars and enums shared by the modules.

import { GraphQLError, Kind } from 'graphql';
import { builder } from '../core/builder.js';

/**
 * An ISO-8601 date and time of the years 0000 to 9999 (four digits, no sign): every date the
 * stores compare and every date arithmetic (a report's day counts) stays a valid time (R28).
 */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && value.length <= 64 && ISO_DATE.test(value.trim()) ? new Date(value.trim()) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new GraphQLError('DateTime must be an ISO-8601 date and time of the years 0000 to 9999, such as 2030-01-31T12:00:00Z', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return date;
}

builder.scalarType('DateTime', {
  description: 'An ISO-8601 date and time, in UTC on output.',
  serialize: (value) => value,
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : null),
});

export const SortDirection = builder.enumType('SortDirection', { values: ['ASC', 'DESC'] as const });
