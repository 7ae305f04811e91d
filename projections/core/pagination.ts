// Relay connections over the read store, for every list (credentials, principals, the audit
// log): keyset pagination on the sort columns, the last of them unique, so a page costs one
// indexed query however deep it is. When `totalCount` is asked for, the page's statement counts
// the filter too (an uncorrelated scalar subquery, which the store evaluates once, independent
// of the cursor); only a page after a cursor that comes back empty takes a count of its own.

import { CompiledQuery, sql, type Compilable, type Expression, type Kysely, type SelectQueryBuilder } from 'kysely';
import { DomainError } from '../../src/domain/errors.js';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 100;

type Direction = 'ASC' | 'DESC';

export interface Connection<Node> {
  readonly edges: { cursor: string; node: Node }[];
  readonly pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  /** Counted only when asked for, at most once. */
  readonly totalCount: () => Promise<number>;
}

export interface PageArgs {
  readonly first?: number | null;
  readonly after?: string | null;
  /** Count the filter in the page's own statement: the caller will ask for `totalCount`. */
  readonly totalCount?: boolean;
}

interface SortKey<Row> {
  readonly column: string;
  readonly kind: 'text' | 'integer';
  readonly of: (row: Row) => string | number;
}

export interface Keyset<Row> {
  /** The order a cursor was made in: a cursor of another order is refused. */
  readonly tag: readonly string[];
  readonly direction: Direction;
  /** The sort columns, the last one unique (the id, or the log's seq). */
  readonly keys: readonly SortKey<Row>[];
}

type OrderField = 'NAME' | 'CREATED_AT';

export interface ListOrder {
  readonly field: OrderField;
  readonly direction: Direction;
}

/** The keyset of a list of credentials or principals: (name_key, id) or (created_at, id). */
export function listKeyset<Row extends { readonly id: string; readonly name_key: string; readonly created_at: string }>(order: ListOrder): Keyset<Row> {
  const column = order.field === 'NAME' ? 'name_key' : 'created_at';
  return {
    tag: [order.field, order.direction],
    direction: order.direction,
    keys: [
      { column, kind: 'text', of: (row) => (order.field === 'NAME' ? row.name_key : row.created_at) },
      { column: 'id', kind: 'text', of: (row) => row.id },
    ],
  };
}

function encodeCursor(tag: readonly string[], values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([...tag, ...values])).toString('base64url');
}

function decodeCursor<Row>(raw: string, keyset: Keyset<Row>): (string | number)[] {
  const { tag, keys } = keyset;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === tag.length + keys.length && tag.every((t, i) => parsed[i] === t)) {
      const values: unknown[] = parsed.slice(tag.length);
      const typed = values.flatMap<string | number>((value, i) => {
        if (keys[i]!.kind === 'integer') return typeof value === 'number' && Number.isSafeInteger(value) ? [value] : [];
        return typeof value === 'string' ? [value] : [];
      });
      if (typed.length === keys.length) return typed;
    }
  } catch {
    // fall through: not a cursor
  }
  throw new DomainError('BAD_USER_INPUT', 'after is not a cursor of this list and order', 'after');
}

/** `first`, checked: from 0 to MAX_PAGE_SIZE (default DEFAULT_PAGE_SIZE). */
function pageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) throw new DomainError('BAD_USER_INPUT', `first must be from 0 to ${MAX_PAGE_SIZE}`, 'first');
  return size;
}

/** A thunk run at most once, however many times a document selects the field. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/** The column the page's statement carries the filter's count in (stripped from the rows). */
const TOTAL = 'keyset_total_count';

/** An edge; its cursor is made when it is read (a page that selects none makes none). */
class Edge<Row> {
  #cursor: string | undefined;
  readonly node: Row;
  readonly #keyset: Keyset<Row>;

  constructor(node: Row, keyset: Keyset<Row>) {
    this.node = node;
    this.#keyset = keyset;
  }

  get cursor(): string {
    const keyset = this.#keyset;
    return (this.#cursor ??= encodeCursor(
      keyset.tag,
      keyset.keys.map((key) => key.of(this.node)),
    ));
  }
}

/** The rows of a page whose statement carried the count: the count, and the rows without it. */
function withoutTotal<Row>(rows: readonly (Row & { [TOTAL]: string | number })[]): { total: number | null; nodes: Row[] } {
  const first = rows[0];
  if (first === undefined) return { total: null, nodes: [] };
  const nodes = rows.map((row) => {
    const { [TOTAL]: _total, ...node } = row;
    return node as Row;
  });
  return { total: Number(first[TOTAL]), nodes };
}

type Counted<Row> = Row & { [TOTAL]: string | number };

/** The page's statement: `filtered` after the cursor, in the keyset's order, `first + 1` rows, with the filter's count on each when asked. */
function pageQuery<DB, TB extends keyof DB, Row>(
  filtered: SelectQueryBuilder<DB, TB, Row>,
  keyset: Keyset<Row>,
  after: readonly (string | number)[] | null,
  first: number,
  withCount: boolean,
  count?: Expression<unknown>,
): SelectQueryBuilder<DB, TB, Row | Counted<Row>> {
  const descending = keyset.direction === 'DESC';
  const columns = sql.join(keyset.keys.map((key) => sql.ref(key.column)));
  let query = filtered;
  if (after) query = query.where(sql<boolean>`(${columns}) ${descending ? sql`<` : sql`>`} (${sql.join([...after])})`);
  for (const key of keyset.keys) query = query.orderBy(sql`${sql.ref(key.column)} ${descending ? sql`desc` : sql`asc`}`);
  // The count of the filter (not of the cursor), computed once per statement: see the header.
  if (withCount)
    return query
      .select(sql<string | number>`${count ?? countOf(filtered)}`.as(TOTAL))
      .limit(first + 1)
      .$castTo<Counted<Row>>();
  return query.limit(first + 1);
}

/** The connection of a page's rows (`first + 1` at most, with the count on each when it was asked for). */
function connectionOf<Row>(
  read: readonly (Row | Counted<Row>)[],
  keyset: Keyset<Row>,
  after: readonly (string | number)[] | null,
  first: number,
  withCount: boolean,
  count: () => Promise<number>,
): Connection<Row> {
  let rows: readonly Row[];
  let total: number | null = null;
  if (withCount) {
    ({ total, nodes: rows } = withoutTotal(read as readonly Counted<Row>[]));
    // No row carried it: nothing matches at all, unless the page is past a cursor.
    if (total === null && !after) total = 0;
  } else {
    rows = read;
  }
  const nodes = rows.length > first ? rows.slice(0, first) : rows;
  const edges = nodes.map((node) => new Edge(node, keyset));
  const counted = total;
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > first, hasPreviousPage: after !== null, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null },
    totalCount: counted === null ? once(count) : () => Promise.resolve(counted),
  };
}

/**
 * One page of `filtered` (its rows selected, not yet ordered) in the keyset's order, after the
 * cursor. `count`: a statement that reads how many rows `filtered` selects (a count kept by a
 * projection), instead of counting them.
 */
export async function keysetConnection<DB, TB extends keyof DB, Row>(
  filtered: SelectQueryBuilder<DB, TB, Row>,
  keyset: Keyset<Row>,
  page: PageArgs,
  count?: Expression<unknown>,
): Promise<Connection<Row>> {
  const first = pageSize(page.first);
  const after = page.after ? decodeCursor(page.after, keyset) : null;
  const withCount = page.totalCount === true;
  const rows = await pageQuery(filtered, keyset, after, first, withCount, count).execute();
  return connectionOf(rows, keyset, after, first, withCount, () => countRows(filtered));
}

// ---------------------------------------------------------------- statements compiled once

/**
 * The hottest reads (a dashboard's first pages, the rows of a batch by ids) are compiled once per
 * shape, not per request: the query is built once with a slot (`slotOf(i)`) in place of each value
 * that varies, and its text is run again with the values. Whatever else the text depends on must
 * be in the shape's key.
 */
const SLOT = '\u0000keyledger-slot:';

const slotOf = (index: number): string => `${SLOT}${index}`;

interface CompiledShape {
  readonly sql: string;
  /** Each parameter: a slot's index, or a value fixed by the shape. */
  readonly parameters: readonly ({ readonly slot: number } | { readonly value: unknown })[];
}

/** Per Kysely instance (its dialect decides the text). */
const shapesOf = new WeakMap<object, Map<string, CompiledShape>>();
const MAX_SHAPES = 1000;

/** Any read store's Kysely instance: the statement's text is compiled by its own. */
type AnyDb = Pick<Kysely<unknown>, 'executeQuery'>;

function compiledShape(db: AnyDb, key: string, compile: () => CompiledQuery): CompiledShape {
  let shapes = shapesOf.get(db);
  if (!shapes) shapesOf.set(db, (shapes = new Map()));
  let shape = shapes.get(key);
  if (shape === undefined) {
    const { sql: text, parameters } = compile();
    shape = {
      sql: text,
      parameters: parameters.map((parameter) =>
        typeof parameter === 'string' && parameter.startsWith(SLOT) ? { slot: Number(parameter.slice(SLOT.length)) } : { value: parameter },
      ),
    };
    if (shapes.size >= MAX_SHAPES) shapes.clear();
    shapes.set(key, shape);
  }
  return shape;
}

async function runShape<Row>(db: AnyDb, shape: CompiledShape, values: readonly unknown[]): Promise<Row[]> {
  const parameters = shape.parameters.map((parameter) => ('slot' in parameter ? values[parameter.slot] : parameter.value));
  return (await db.executeQuery<Row>(CompiledQuery.raw(shape.sql, parameters))).rows;
}

/** A read compiled once per shape: `build` makes it with the values it is given (slots, the first time). */
export interface Reusable<Q> {
  readonly db: AnyDb;
  /** Everything the statement's text depends on but the values (and, for a page, its size and count). */
  readonly key: string;
  readonly values: readonly unknown[];
  readonly build: (values: readonly unknown[]) => Q;
  /** A page's: the statement that reads its count, made with the same values (see `keysetConnection`). */
  readonly count?: (values: readonly unknown[]) => Expression<unknown>;
}

/** The rows of a read compiled once per shape (see `Reusable`). */
export function reusedRows<Row>(read: Reusable<Compilable<Row>>): Promise<Row[]> {
  const shape = compiledShape(read.db, read.key, () => read.build(read.values.map((_, i) => slotOf(i))).compile());
  return runShape<Row>(read.db, shape, read.values);
}

/** `keysetConnection` of a list compiled once per shape: the first page (a page after a cursor is built as usual). */
export async function reusedKeysetConnection<DB, TB extends keyof DB, Row>(
  list: Reusable<SelectQueryBuilder<DB, TB, Row>>,
  keyset: Keyset<Row>,
  page: PageArgs,
): Promise<Connection<Row>> {
  if (page.after) return keysetConnection(list.build(list.values), keyset, page, list.count?.(list.values));
  const first = pageSize(page.first);
  const withCount = page.totalCount === true;
  const shape = compiledShape(list.db, `${list.key}|${keyset.tag.join(',')}|${first}|${withCount ? 'counted' : ''}`, () =>
    pageQuery(list.build(list.values.map((_, i) => slotOf(i))), keyset, null, first, withCount, list.count?.(list.values.map((_, i) => slotOf(i)))).compile(),
  );
  const rows = await runShape<Row | Counted<Row>>(list.db, shape, list.values);
  return connectionOf(rows, keyset, null, first, withCount, () => countRows(list.build(list.values)));
}

/** The statement that counts what a query selects. */
function countOf<DB, TB extends keyof DB, Row>(query: SelectQueryBuilder<DB, TB, Row>) {
  // $castTo: over a generic table list Kysely cannot infer the one column selected here.
  return query.clearSelect().select(sql<string | number>`count(*)`.as('n')).$castTo<{ n: string | number }>();
}

/** How many rows a query selects. */
export async function countRows<DB, TB extends keyof DB, Row>(query: SelectQueryBuilder<DB, TB, Row>): Promise<number> {
  const rows = await countOf(query).execute();
  return Number(rows[0]?.n ?? 0);
}

/** A LIKE pattern for "contains", on case-folded names (used with `escape '\'`). */
export function containsPattern(folded: string): string {
  return `%${folded.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
