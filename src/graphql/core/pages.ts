// List pages at a cost that does not grow with their size: a page reads its rows, and its
// `totalCount` (and the credentials' last use) when the document selects it, in one statement;
// the principals the rows of every list of the request show are read in one batch, once all of
// the request's pages are read (so that two lists side by side, a dashboard, share it).

import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import type { PageArgs } from '../../../projections/core/pagination.js';
import { principalsByIds } from '../../../projections/principals/queries.js';
import type { PrincipalsTable } from '../../../projections/principals/tables.js';
import { lastUsedByIds } from '../../../projections/usage/queries.js';
import type { GraphQLContext } from './context.js';

/** The fields named `name` in selection sets, through inline fragments and fragment spreads. */
function fieldsNamed(sets: readonly SelectionSetNode[], name: string, fragments: Readonly<Record<string, FragmentDefinitionNode>>): FieldNode[] {
  const found: FieldNode[] = [];
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): void => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === name) found.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else {
        const fragment = fragments[selection.name.value];
        if (fragment && !seen.has(fragment.name.value)) {
          seen.add(fragment.name.value);
          walk(fragment.selectionSet);
        }
      }
    }
  };
  for (const set of sets) walk(set);
  return found;
}

/**
 * Whether the field being resolved selects the field at `path` below it (directly or through
 * fragments). `@skip` and `@include` are not read: a field they leave out may be read for
 * nothing, never missed.
 */
export function selects(info: GraphQLResolveInfo, path: readonly string[]): boolean {
  let fields: readonly FieldNode[] = info.fieldNodes;
  for (const name of path) {
    const sets = fields.flatMap((field) => (field.selectionSet ? [field.selectionSet] : []));
    fields = fieldsNamed(sets, name, info.fragments);
    if (fields.length === 0) return false;
  }
  return true;
}

/**
 * The names of the fields the field being resolved selects at `path` below it (through
 * fragments, whatever their type condition), or null when it selects none there.
 */
export function selectedFieldNames(info: GraphQLResolveInfo, path: readonly string[]): Set<string> | null {
  let fields: readonly FieldNode[] = info.fieldNodes;
  for (const name of path) {
    const sets = fields.flatMap((field) => (field.selectionSet ? [field.selectionSet] : []));
    fields = fieldsNamed(sets, name, info.fragments);
    if (fields.length === 0) return null;
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): void => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else {
        const fragment = info.fragments[selection.name.value];
        if (fragment && !seen.has(fragment.name.value)) {
          seen.add(fragment.name.value);
          walk(fragment.selectionSet);
        }
      }
    }
  };
  for (const field of fields) if (field.selectionSet) walk(field.selectionSet);
  return names;
}

/** The page a connection's arguments ask for, its count read with its rows when the document selects `totalCount`. */
export function pageOf(args: { readonly first?: number | null; readonly after?: string | null }, info: GraphQLResolveInfo): PageArgs {
  return { first: args.first, after: args.after, totalCount: selects(info, ['totalCount']) };
}

const resolved = Promise.resolve();

/** DataLoader's own schedule: once the promise jobs queued now have run. */
function afterPromiseJobs(dispatch: () => void): void {
  void resolved.then(() => process.nextTick(dispatch));
}

/** The list pages of one request still being read, and the batches that wait for them. */
class Pages {
  #reading = 0;
  #waiting: (() => void)[] = [];

  read<T>(make: () => Promise<T>): Promise<T> {
    const page = make();
    this.#reading++;
    const settled = () => {
      if (--this.#reading > 0 || this.#waiting.length === 0) return;
      const waiting = this.#waiting;
      this.#waiting = [];
      // After the page's rows have been resolved (promise jobs, ticks): their loads join the batch.
      setImmediate(() => {
        for (const dispatch of waiting) dispatch();
      });
    };
    page.then(settled, settled);
    return page;
  }

  /** A DataLoader's batch schedule: at once (as DataLoader does) when no page is being read, else once none is. */
  readonly schedule = (dispatch: () => void): void => {
    if (this.#reading > 0) this.#waiting.push(dispatch);
    else afterPromiseJobs(dispatch);
  };
}

/** Per context, as the DataLoaders are: each event of a subscription has a context of its own. */
const pagesOf = createContextCache((_context: GraphQLContext) => new Pages());

/** Reads a list page of the request: the batches of what its rows show wait for it. */
export function readPage<T>(context: GraphQLContext, read: () => Promise<T>): Promise<T> {
  return pagesOf(context).read(read);
}

function pageBatchedLoader<K, V>(load: (keys: readonly K[], context: GraphQLContext) => Promise<(V | Error)[]>): (context: GraphQLContext) => DataLoader<K, V> {
  return createContextCache((context: GraphQLContext) => new DataLoader<K, V>((keys) => load(keys, context), { batchScheduleFn: pagesOf(context).schedule }));
}

/** The principals of a request by id (owners, creators, actors): one batch for all of its lists. */
export const principalsOf = pageBatchedLoader<string, PrincipalsTable>((ids, context) => principalsByIds(context.readDb, ids));

/** When each credential of a request was last used, for the rows that were not read with it: one batch. */
export const lastUsedOf = pageBatchedLoader<string, string | null>((ids, context) => lastUsedByIds(context.readDb, ids));
