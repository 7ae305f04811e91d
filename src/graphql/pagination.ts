// Relay connections over the read store: keyset pagination on (sort column, id), so a page costs
// one indexed query however deep it is, plus one count when `totalCount` is asked for.

import { sql, type SelectQueryBuilder } from 'kysely';
import type { ReadModels } from '../../projections/index.js';
import { badUserInput } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

export type OrderField = 'NAME' | 'CREATED_AT';
export type Direction = 'ASC' | 'DESC';

export interface Connection<Node> {
  readonly edges: { cursor: string; node: Node }[];
  readonly pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  readonly totalCount: () => Promise<number>;
}

interface Cursor {
  readonly field: OrderField;
  readonly direction: Direction;
  readonly value: string;
  readonly id: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.field, cursor.direction, cursor.value, cursor.id])).toString('base64url');
}

function decodeCursor(raw: string, field: OrderField, direction: Direction): Cursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 4 && parsed.every((p) => typeof p === 'string') && parsed[0] === field && parsed[1] === direction) {
      return { field, direction, value: parsed[2] as string, id: parsed[3] as string };
    }
  } catch {
    // fall through
  }
  throw badUserInput('after is not a cursor of this list and order', 'after');
}

type Sortable = 'credentials' | 'principals';
type Row<T extends Sortable> = ReadModels[T];

const COLUMN: Record<OrderField, 'name_key' | 'created_at'> = { NAME: 'name_key', CREATED_AT: 'created_at' };

export async function connection<T extends Sortable>(
  filtered: SelectQueryBuilder<ReadModels, T, Row<T>>,
  options: { first?: number | null; after?: string | null; field: OrderField; direction: Direction },
): Promise<Connection<Row<T>>> {
  const first = options.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) throw badUserInput(`first must be from 0 to ${MAX_PAGE_SIZE}`, 'first');
  const column = COLUMN[options.field];
  const descending = options.direction === 'DESC';
  const after = options.after ? decodeCursor(options.after, options.field, options.direction) : null;

  let page = filtered;
  if (after) {
    const comparison = descending ? sql`<` : sql`>`;
    page = page.where(sql<boolean>`(${sql.ref(column)}, ${sql.ref('id')}) ${comparison} (${after.value}, ${after.id})`);
  }
  const order = descending ? sql`desc` : sql`asc`;
  const rows = (await page
    .orderBy(sql`${sql.ref(column)} ${order}`)
    .orderBy(sql`${sql.ref('id')} ${order}`)
    .limit(first + 1)
    .execute()) as Row<T>[];
  const count = once(async () => {
    const row = (await filtered.clearSelect().select(sql<string | number>`count(*)`.as('n')).executeTakeFirst()) as { n: string | number } | undefined;
    return Number(row?.n ?? 0);
  });
  const hasNextPage = rows.length > first;
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({
    cursor: encodeCursor({ field: options.field, direction: options.direction, value: String(node[column as keyof Row<T>]), id: String(node['id' as keyof Row<T>]) }),
    node,
  }));
  return {
    edges,
    pageInfo: { hasNextPage, hasPreviousPage: after !== null, startCursor: edges[0]?.cursor ?? null, endCursor: edges[edges.length - 1]?.cursor ?? null },
    totalCount: count,
  };
}

/** A thunk run at most once, however many times a document selects the field. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/** A LIKE pattern for "contains", on case-folded names. */
export function containsPattern(folded: string): string {
  return `%${folded.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
