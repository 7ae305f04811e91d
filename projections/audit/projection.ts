// Read model `audit_log` (R22-R24): one entry per request event and per lifecycle event, in the
// event store's global order, each organization's entries linked in a hash chain. The store
// itself refuses UPDATE and DELETE on the table (triggers made by the migration).

import { CompiledQuery, sql, type InsertType, type Transaction } from 'kysely';
import { LIFECYCLE_EVENT_TYPES, REQUEST_EVENT_TYPES, subjectIdOf, type KeyledgerEvent, type LifecycleEvent } from '../../src/domain/events.js';
import type { RequestEntry } from '../../src/domain/requests.js';
import type { JsonValue } from '../../src/eventstore/port.js';
import type { Recorded } from '../../src/eventstore/recorded.js';
import type { Projection } from '../core/projection.js';
import { readStoreDialect, type ReadStoreDialect } from '../core/read-store.js';
import { eventTime } from '../core/time.js';
import { CHAINED_COLUMNS, GENESIS_HASH, canonicalJson, entryHash } from './chain.js';
import type { AuditCountDimension, AuditTables, AuditLogTable } from './tables.js';

const APPEND_ONLY = 'audit_log is append-only';

/** SQLite's triggers, by name (tests that tamper on purpose drop and recreate them). */
export const SQLITE_APPEND_ONLY_TRIGGERS: Readonly<Record<string, string>> = {
  audit_log_no_update: `create trigger audit_log_no_update before update on audit_log begin select raise(abort, '${APPEND_ONLY}'); end`,
  audit_log_no_delete: `create trigger audit_log_no_delete before delete on audit_log begin select raise(abort, '${APPEND_ONLY}'); end`,
};

/** PostgreSQL's row trigger (UPDATE, DELETE) and statement trigger (TRUNCATE), which a test may disable by name. */
export const POSTGRES_APPEND_ONLY_TRIGGER = 'audit_log_append_only';

/** Entries per INSERT: 24 columns each, well under SQLite's 32766 bound parameters. */
const INSERT_CHUNK = 1000;
/** Organizations per head lookup or upsert (and counts per upsert). */
const HEAD_CHUNK = 1000;

/** The column each dimension of `audit_counts` counts the entries of (ORG counts them all). */
export const AUDIT_COUNTED_COLUMNS = {
  API_KEY: 'api_key_id',
  APPLICATION_KEY: 'application_key_id',
  CLIENT_TOKEN: 'client_token_id',
  PRINCIPAL: 'principal_id',
} as const satisfies Record<Exclude<AuditCountDimension, 'ORG'>, keyof AuditLogTable>;

const COUNTED = Object.entries(AUDIT_COUNTED_COLUMNS) as [Exclude<AuditCountDimension, 'ORG'>, (typeof AUDIT_COUNTED_COLUMNS)[keyof typeof AUDIT_COUNTED_COLUMNS]][];

interface CountRow {
  org_id: string;
  dimension: AuditCountDimension;
  id: string;
  entries: number;
}

/** What the entries add to `audit_counts`: one row per (org, dimension, id) they touch. */
function countsOf(entries: readonly Entry[]): CountRow[] {
  const counts = new Map<string, CountRow>();
  const add = (orgId: string, dimension: AuditCountDimension, id: string) => {
    const key = `${orgId}\u0000${dimension}\u0000${id}`;
    const row = counts.get(key);
    if (row) row.entries++;
    else counts.set(key, { org_id: orgId, dimension, id, entries: 1 });
  };
  for (const entry of entries) {
    add(entry.org_id, 'ORG', '');
    for (const [dimension, column] of COUNTED) {
      const id = entry[column];
      if (id !== null) add(entry.org_id, dimension, id);
    }
  }
  return [...counts.values()];
}

/** Every column given, none left to a default: what the hash covers is exactly what is stored. */
type Entry = { -readonly [C in keyof AuditLogTable]-?: InsertType<AuditLogTable[C]> };

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** A lifecycle event's data as the log shows it: canonical JSON without digests (not secrets, but not the log's business). */
function detailsOf(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(detailsOf);
  if (value === null || typeof value !== 'object') return value;
  const out: { [key: string]: JsonValue } = {};
  for (const [key, item] of Object.entries(value)) if (key !== 'digest') out[key] = detailsOf(item);
  return out;
}

/**
 * The entry of one event, its place in the log and chain still to be filled in (seq, org_seq,
 * prev_hash, hash). Written as one object literal per kind: spreading a shared base into a
 * literal of this size costs some 40 µs an entry in V8, most of a rebuild's time.
 */
function entryOf(event: Recorded<KeyledgerEvent>): Entry {
  if (event.type === 'RequestAuthenticated' || event.type === 'RequestDenied') {
    // Read field by field, as the hash has always covered them: an entry stored without a field
    // is hashed with its default, so a rebuild reproduces the chain whatever the entry holds.
    const entry: Partial<RequestEntry> = event.data;
    if (typeof entry.orgId !== 'string') throw new Error(`request event ${event.id} has no orgId`);
    return {
      seq: 0,
      org_id: entry.orgId,
      org_seq: 0,
      event_id: event.id,
      position: event.position,
      event_type: event.type,
      at: text(entry.at) ?? eventTime(event),
      kind: 'REQUEST',
      request_id: text(entry.requestId),
      api_key_id: text(entry.apiKeyId),
      application_key_id: text(entry.applicationKeyId),
      client_token_id: text(entry.clientTokenId),
      principal_id: text(entry.principalId),
      operation_type: text(entry.operationType),
      operation_name: text(entry.operationName),
      root_fields: JSON.stringify(Array.isArray(entry.rootFields) ? entry.rootFields : []),
      outcome: entry.outcome ?? (event.type === 'RequestDenied' ? 'DENIED' : 'ALLOWED'),
      error_code: text(entry.errorCode),
      client_ip: text(entry.clientIp),
      user_agent: text(entry.userAgent),
      subject_id: null,
      details: null,
      prev_hash: '',
      hash: '',
    };
  }
  return lifecycleEntry(event);
}

function lifecycleEntry(event: Recorded<LifecycleEvent>): Entry {
  const orgId = event.data.orgId;
  const meta = event.metadata;
  return {
    seq: 0,
    org_id: orgId,
    org_seq: 0,
    event_id: event.id,
    position: event.position,
    event_type: event.type,
    at: eventTime(event),
    kind: 'LIFECYCLE',
    request_id: text(meta.requestId),
    // R23: the credential that made the change (all null when the operator made it, via the CLI).
    api_key_id: text(meta.actorApiKeyId),
    application_key_id: text(meta.actorAppKeyId),
    client_token_id: null,
    principal_id: text(meta.actorPrincipalId),
    operation_type: null,
    operation_name: null,
    root_fields: null,
    outcome: 'ALLOWED',
    error_code: null,
    client_ip: null,
    user_agent: null,
    subject_id: subjectIdOf(event),
    details: canonicalJson(detailsOf(event.data)),
    prev_hash: '',
    hash: '',
  };
}

/** The table's columns, in the order of its definition (and of an export's fields): the chained ones, with the log's own. */
export const AUDIT_LOG_COLUMNS = ['seq', ...CHAINED_COLUMNS.slice(0, 3), 'position', ...CHAINED_COLUMNS.slice(3), 'prev_hash', 'hash'] as const satisfies readonly (keyof Entry)[];

/** Compiles only while AUDIT_LOG_COLUMNS names every column of the table. */
const everyColumnListed: [Exclude<keyof Entry, (typeof AUDIT_LOG_COLUMNS)[number]>] extends [never] ? true : false = true;
void everyColumnListed;

const insertStatements = new Map<string, string>();

/** `insert into audit_log (…) values (…), (…)` for this many rows, made once per size and dialect. */
function insertStatement(dialect: ReadStoreDialect, rows: number): string {
  const key = `${dialect}:${rows}`;
  let statement = insertStatements.get(key);
  if (statement === undefined) {
    let n = 0;
    const placeholder = dialect === 'sqlite' ? () => '?' : () => `$${++n}`;
    const tuples = Array.from({ length: rows }, () => `(${AUDIT_LOG_COLUMNS.map(placeholder).join(', ')})`);
    statement = `insert into audit_log (${AUDIT_LOG_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${tuples.join(', ')}`;
    insertStatements.set(key, statement);
  }
  return statement;
}

/**
 * How a batch is cut into INSERTs: whole chunks, then halves down to 64 rows, then the rest.
 * Few statements per batch, and few distinct statements (each size is a statement text and a
 * prepared statement kept in memory), whatever the batch sizes.
 */
function insertSizes(total: number): number[] {
  const sizes: number[] = [];
  let left = total;
  for (; left >= INSERT_CHUNK; left -= INSERT_CHUNK) sizes.push(INSERT_CHUNK);
  for (let size = 512; size >= 64; size /= 2) {
    if (left >= size) {
      sizes.push(size);
      left -= size;
    }
  }
  if (left > 0) sizes.push(left);
  return sizes;
}

/**
 * Multi-row INSERTs whose SQL is made once per size: building and compiling a query of 24 000
 * values through the query builder costs about as much as the insert itself.
 */
async function insertEntries(tx: Transaction<AuditTables>, dialect: ReadStoreDialect, entries: readonly Entry[]): Promise<void> {
  let offset = 0;
  for (const size of insertSizes(entries.length)) {
    const parameters: unknown[] = Array.from({ length: size * AUDIT_LOG_COLUMNS.length });
    let p = 0;
    for (let i = offset; i < offset + size; i++) for (const column of AUDIT_LOG_COLUMNS) parameters[p++] = entries[i]![column];
    await tx.executeQuery(CompiledQuery.raw(insertStatement(dialect, size), parameters));
    offset += size;
  }
}

interface Head {
  orgSeq: number;
  hash: string;
}

async function loadHeads(tx: Transaction<AuditTables>, orgIds: readonly string[]): Promise<Map<string, Head>> {
  const heads = new Map<string, Head>();
  for (let i = 0; i < orgIds.length; i += HEAD_CHUNK) {
    const rows = await tx
      .selectFrom('audit_chain_heads')
      .select(['org_id', 'last_org_seq', 'last_hash'])
      .where('org_id', 'in', orgIds.slice(i, i + HEAD_CHUNK))
      .execute();
    for (const row of rows) heads.set(row.org_id, { orgSeq: Number(row.last_org_seq), hash: row.last_hash });
  }
  return heads;
}

export const auditProjection: Projection<AuditTables, Recorded<KeyledgerEvent>> = {
  name: 'audit_log',
  handles: [...LIFECYCLE_EVENT_TYPES, ...REQUEST_EVENT_TYPES],
  tables: ['audit_log', 'audit_chain_heads', 'audit_counts'],
  migrations: {
    '0001_create': {
      async up(db) {
        const dialect = readStoreDialect(db);
        // SQLite: `integer primary key` makes seq the rowid, so the table is stored in log order.
        const bigint = dialect === 'sqlite' ? 'integer' : 'bigint';
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', bigint, (c) => c.primaryKey())
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('org_seq', bigint, (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('position', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('REQUEST', 'LIFECYCLE')`))
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text')
          .addColumn('api_key_id', 'text')
          .addColumn('application_key_id', 'text')
          .addColumn('client_token_id', 'text')
          .addColumn('principal_id', 'text')
          .addColumn('operation_type', 'text')
          .addColumn('operation_name', 'text')
          .addColumn('root_fields', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('ALLOWED', 'DENIED', 'FAILED')`))
          .addColumn('error_code', 'text')
          .addColumn('client_ip', 'text')
          .addColumn('user_agent', 'text')
          .addColumn('subject_id', 'text')
          .addColumn('details', 'text')
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_org_seq').on('audit_log').columns(['org_id', 'seq']).execute();
        await db.schema.createIndex('audit_log_org_chain').on('audit_log').columns(['org_id', 'org_seq']).unique().execute();
        await db.schema.createIndex('audit_log_org_api_key').on('audit_log').columns(['org_id', 'api_key_id', 'seq']).execute();
        await db.schema.createIndex('audit_log_org_application_key').on('audit_log').columns(['org_id', 'application_key_id', 'seq']).execute();
        await db.schema.createIndex('audit_log_org_client_token').on('audit_log').columns(['org_id', 'client_token_id', 'seq']).execute();
        await db.schema.createIndex('audit_log_org_principal').on('audit_log').columns(['org_id', 'principal_id', 'seq']).execute();
        // org_seq rides along so that finding the chain segment of a time range reads the index only.
        await db.schema.createIndex('audit_log_org_at').on('audit_log').columns(['org_id', 'at', 'org_seq']).execute();

        // R24: the store refuses changes and deletions, whoever asks.
        if (dialect === 'sqlite') {
          for (const statement of Object.values(SQLITE_APPEND_ONLY_TRIGGERS)) await sql.raw(statement).execute(db);
        } else {
          await sql
            .raw(
              `create or replace function audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception '${APPEND_ONLY}: % refused', tg_op using errcode = 'restrict_violation';
end
$$`,
            )
            .execute(db);
          await sql.raw(`create trigger ${POSTGRES_APPEND_ONLY_TRIGGER} before update or delete on audit_log for each row execute function audit_log_append_only()`).execute(db);
          await sql.raw('create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function audit_log_append_only()').execute(db);
        }

        await db.schema
          .createTable('audit_chain_heads')
          .addColumn('org_id', 'text', (c) => c.primaryKey())
          .addColumn('last_org_seq', bigint, (c) => c.notNull())
          .addColumn('last_hash', 'text', (c) => c.notNull())
          .execute();
      },
      // Dropping the table (its triggers go with it) is how a rebuild gets fresh tables; it is
      // neither an UPDATE nor a DELETE.
      async down(db) {
        await db.schema.dropTable('audit_log').ifExists().execute();
        await db.schema.dropTable('audit_chain_heads').ifExists().execute();
        if (readStoreDialect(db) === 'postgres') await sql`drop function if exists audit_log_append_only()`.execute(db);
      },
    },
    // totalCount without counting: at millions of entries, counting a credential's entries for
    // every page costs more than the page itself. Counted from the log as it stands (a rebuild
    // makes it empty, then the batches count what they add).
    '0002_counts': {
      async up(db) {
        const bigint = readStoreDialect(db) === 'sqlite' ? 'integer' : 'bigint';
        await db.schema
          .createTable('audit_counts')
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('dimension', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('entries', bigint, (c) => c.notNull())
          .addPrimaryKeyConstraint('audit_counts_pkey', ['org_id', 'dimension', 'id'])
          .execute();
        await sql`insert into audit_counts (org_id, dimension, id, entries) select org_id, 'ORG', '', count(*) from audit_log group by org_id`.execute(db);
        for (const [dimension, column] of COUNTED) {
          await sql`insert into audit_counts (org_id, dimension, id, entries) select org_id, ${dimension}, ${sql.ref(column)}, count(*) from audit_log where ${sql.ref(column)} is not null group by org_id, ${sql.ref(column)}`.execute(
            db,
          );
        }
      },
      async down(db) {
        await db.schema.dropTable('audit_counts').ifExists().execute();
      },
    },
  },
  /**
   * Folds the batch in memory: each entry takes the next global seq and its org's next org_seq,
   * and links to its org's previous hash; then a few multi-row INSERTs, one upsert of the
   * touched chain heads and one of the counts they add to (`audit_counts`), all in the runner's
   * transaction, with its checkpoint. The runner applies batches one at a time per read store (PostgreSQL:
   * under the checkpoint row's lock), so reading max(seq) and the heads here does not race.
   */
  async handleBatch(events, tx) {
    const entries = events.map(entryOf);
    const heads = await loadHeads(tx, [...new Set(entries.map((e) => e.org_id))]);
    const top = await tx
      .selectFrom('audit_log')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst();
    let seq = Number(top?.seq ?? 0);
    const touched = new Map<string, Head>();
    for (const entry of entries) {
      const head = touched.get(entry.org_id) ?? heads.get(entry.org_id) ?? { orgSeq: 0, hash: GENESIS_HASH };
      entry.seq = ++seq;
      entry.org_seq = head.orgSeq + 1;
      entry.prev_hash = head.hash;
      entry.hash = entryHash(head.hash, entry);
      touched.set(entry.org_id, { orgSeq: entry.org_seq, hash: entry.hash });
    }
    await insertEntries(tx, readStoreDialect(tx), entries);
    const headRows = [...touched].map(([orgId, head]) => ({ org_id: orgId, last_org_seq: head.orgSeq, last_hash: head.hash }));
    for (let i = 0; i < headRows.length; i += HEAD_CHUNK) {
      await tx
        .insertInto('audit_chain_heads')
        .values(headRows.slice(i, i + HEAD_CHUNK))
        .onConflict((oc) => oc.column('org_id').doUpdateSet((eb) => ({ last_org_seq: eb.ref('excluded.last_org_seq'), last_hash: eb.ref('excluded.last_hash') })))
        .execute();
    }
    const counts = countsOf(entries);
    for (let i = 0; i < counts.length; i += HEAD_CHUNK) {
      await tx
        .insertInto('audit_counts')
        .values(counts.slice(i, i + HEAD_CHUNK))
        .onConflict((oc) => oc.columns(['org_id', 'dimension', 'id']).doUpdateSet((eb) => ({ entries: eb(eb.ref('audit_counts.entries'), '+', eb.ref('excluded.entries')) })))
        .execute();
    }
  },
};
