// Scalars and enums shared by the modules.

import { GraphQLError, Kind } from 'graphql';
import { builder } from '../core/builder.js';

builder.scalarType('DateTime', {
  description: 'An ISO-8601 date and time, in UTC on output.',
  serialize: (value) => value,
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 date and time', { extensions: { code: 'BAD_USER_INPUT' } });
    return date;
  },
  parseLiteral: (ast) => {
    const date = ast.kind === Kind.STRING ? new Date(ast.value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 date and time', { extensions: { code: 'BAD_USER_INPUT' } });
    return date;
  },
});

export const SortDirection = builder.enumType('SortDirection', { values: ['ASC', 'DESC'] as const });
