// Every argument of the schema, bounded and clean before its resolver runs (R29): no string
// longer than MAX_ARGUMENT_LENGTH, no list longer than MAX_LIST_LENGTH, no NUL or unpaired
// surrogate anywhere, input objects and lists included. One wrapper for every field that takes
// arguments, so that an argument added tomorrow is covered without anyone remembering to; the
// tighter bounds of names, emails, origins and filters are the domain's and the types'.

import { defaultFieldResolver, isObjectType, type GraphQLSchema } from 'graphql';
import { DomainError } from '../../domain/errors.js';
import { MAX_ARGUMENT_LENGTH, MAX_LIST_LENGTH, requireBoundedText } from '../../domain/input.js';

/** Refuses a value (at `field`, e.g. `filter.nameContains`) that is over a bound or unclean. */
function check(value: unknown, field: string): void {
  if (typeof value === 'string') {
    requireBoundedText(value, field, MAX_ARGUMENT_LENGTH);
  } else if (Array.isArray(value)) {
    if (value.length > MAX_LIST_LENGTH) throw new DomainError('BAD_USER_INPUT', `${field} may list at most ${MAX_LIST_LENGTH} items`, field);
    for (const item of value) check(item, field);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) check(item, `${field}.${key}`);
  }
}

/** The schema, with every field that takes arguments checking them first. */
export function guardArguments(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.args.length === 0) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) => {
        for (const [name, value] of Object.entries(args)) check(value, name);
        return resolve(source, args, context, info);
      };
    }
  }
  return schema;
}
