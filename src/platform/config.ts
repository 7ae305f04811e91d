// Configuration: environment variables with defaults that run on a bare machine, parsed and
// validated once, at start, with a message that says what is wrong and what would be right.

import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export type EventStoreLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema: string }
  | { readonly kind: 'kurrentdb'; readonly connectionString: string };

/** Where the read models live: a SQLite file, or a schema of a PostgreSQL database. */
export type ReadStoreLocation = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string; readonly schema: string };

export interface Config {
  readonly eventStore: EventStoreLocation;
  readonly readStore: ReadStoreLocation;
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
  /** On an empty store, create a first organization and print its admin's keys once. */
  readonly bootstrap: boolean;
  /** The bound of a request body (R29): over it, 413 (KEYLEDGER_MAX_BODY_BYTES, default 1 MiB). */
  readonly maxBodyBytes: number;
  /** Where the first run writes the admin's keys when there is no terminal to show them on. */
  readonly firstRunKeysFile: string;
  /** Origins whose browser pages may call /graphql (CORS); empty: no cross-origin access. */
  readonly corsOrigins: readonly string[];
  /** Serve GraphiQL at GET /graphql to a browser. */
  readonly graphiql: boolean;
  /**
   * The bound of one wait on a PostgreSQL store (R30): connecting, one statement, a command's wait for
   * the read models (KEYLEDGER_STORE_TIMEOUT_MS, default 5 s). Past it, the request answers 503.
   */
  readonly storeTimeoutMs: number;
  /** Connections of each PostgreSQL pool (the event store's, the read store's): KEYLEDGER_PG_POOL_SIZE, default 10. */
  readonly pgPoolSize: number;
  /** This instance's name in a fleet: who holds the projection lease (KEYLEDGER_INSTANCE_ID, default host:pid). */
  readonly instanceId: string;
  /**
   * Where the projections are applied: on a worker thread of the gateway (the default), off the
   * event loop that serves requests, or on that loop itself (KEYLEDGER_PROJECTION_THREAD=main).
   */
  readonly projectionThread: 'worker' | 'main';
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DEFAULT_EVENT_STORE = 'sqlite:./data/keyledger.db';
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

/** A PostgreSQL URL may carry `?schema=name`; it is ours, so it is taken off before pg sees the URL. */
function postgresLocation(variable: string, value: string, defaultSchema: string): { url: string; schema: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${variable}: ${JSON.stringify(redact(value))} is not a valid postgres:// URL`);
  }
  const schema = url.searchParams.get('schema') ?? defaultSchema;
  if (!SCHEMA.test(schema)) throw new ConfigError(`${variable}: schema ${JSON.stringify(schema)} must be a lower-case SQL identifier (letters, digits, _)`);
  url.searchParams.delete('schema');
  return { url: url.toString(), schema };
}

function sqlitePath(variable: string, value: string): string {
  const path = value.slice('sqlite:'.length);
  if (path.length === 0) throw new ConfigError(`${variable}: sqlite: needs a file path, e.g. sqlite:./data/keyledger.db`);
  return path;
}

/** Hides a password in a URL, for messages. */
export function redact(value: string): string {
  return value.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

function parseEventStore(value: string, variable = 'KEYLEDGER_EVENT_STORE'): EventStoreLocation {
  if (value.startsWith('sqlite:')) return { kind: 'sqlite', path: sqlitePath(variable, value) };
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', ...postgresLocation(variable, value, 'keyledger') };
  if (/^(kurrentdb|kurrent|kdb|esdb|eventstore)(\+discover)?:\/\//.test(value)) return { kind: 'kurrentdb', connectionString: value };
  throw new ConfigError(
    `${variable}: ${JSON.stringify(redact(value))} is not a store keyledger knows. Use sqlite:./data/keyledger.db, postgres://user@host:5432/db or kurrentdb://host:2113?tls=false`,
  );
}

function parseReadStore(value: string | undefined, eventStore: EventStoreLocation): ReadStoreLocation {
  const variable = 'KEYLEDGER_READ_STORE';
  if (value === undefined || value === '') {
    // By default the read models live beside the events: same SQLite file, same PostgreSQL database.
    if (eventStore.kind === 'sqlite') return { kind: 'sqlite', path: eventStore.path };
    if (eventStore.kind === 'postgres') return { kind: 'postgres', url: eventStore.url, schema: 'keyledger_read' };
    return { kind: 'sqlite', path: './data/keyledger-read.db' };
  }
  if (value.startsWith('sqlite:')) return { kind: 'sqlite', path: sqlitePath(variable, value) };
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', ...postgresLocation(variable, value, 'keyledger_read') };
  throw new ConfigError(`${variable}: ${JSON.stringify(redact(value))} is not a read store keyledger knows. Use sqlite:./data/keyledger.db or postgres://user@host:5432/db`);
}

/** KEYLEDGER_CORS_ORIGINS: comma-separated origins (scheme://host[:port]), exactly as browsers send them. */
function parseCorsOrigins(value: string): string[] {
  const variable = 'KEYLEDGER_CORS_ORIGINS';
  const origins = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  for (const origin of origins) {
    if (origin === '*' || origin === 'null') throw new ConfigError(`${variable}: ${JSON.stringify(origin)} is not allowed: list each origin, e.g. https://admin.example.com`);
    const url = URL.canParse(origin) ? new URL(origin) : null;
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin) {
      throw new ConfigError(`${variable}: ${JSON.stringify(origin)} is not an origin: scheme://host[:port], lower case, no path or trailing slash, e.g. https://admin.example.com`);
    }
  }
  return [...new Set(origins)];
}

/** By default the first-run keys file lies beside the SQLite event store, else in ./data. */
function firstRunKeysFile(value: string | undefined, eventStore: EventStoreLocation): string {
  if (value !== undefined && value !== '') return value;
  return eventStore.kind === 'sqlite' && eventStore.path !== ':memory:' ? join(dirname(eventStore.path), 'first-run-keys.txt') : join('data', 'first-run-keys.txt');
}

const environment = z.object({
  KEYLEDGER_EVENT_STORE: z.string().trim().default(DEFAULT_EVENT_STORE),
  KEYLEDGER_READ_STORE: z.string().trim().optional(),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: z.coerce
    .number({ error: 'PORT must be a number' })
    .int('PORT must be a whole number')
    .min(0, 'PORT must be 0 to 65535')
    .max(65535, 'PORT must be 0 to 65535')
    .default(4000),
  KEYLEDGER_BOOTSTRAP: z.enum(['true', 'false', '1', '0'], { error: 'KEYLEDGER_BOOTSTRAP must be true or false' }).default('true'),
  KEYLEDGER_FIRST_RUN_KEYS_FILE: z.string().trim().optional(),
  KEYLEDGER_CORS_ORIGINS: z.string().default(''),
  KEYLEDGER_GRAPHIQL: z.enum(['true', 'false', '1', '0'], { error: 'KEYLEDGER_GRAPHIQL must be true or false' }).default('true'),
  KEYLEDGER_MAX_BODY_BYTES: z.coerce
    .number({ error: 'KEYLEDGER_MAX_BODY_BYTES must be a number of bytes' })
    .int('KEYLEDGER_MAX_BODY_BYTES must be a whole number of bytes')
    .min(1024, 'KEYLEDGER_MAX_BODY_BYTES must be at least 1024 bytes')
    .max(104_857_600, 'KEYLEDGER_MAX_BODY_BYTES must be at most 104857600 bytes (100 MiB)')
    .default(1_048_576),
  KEYLEDGER_STORE_TIMEOUT_MS: z.coerce
    .number({ error: 'KEYLEDGER_STORE_TIMEOUT_MS must be a number of milliseconds' })
    .int('KEYLEDGER_STORE_TIMEOUT_MS must be a whole number of milliseconds')
    .min(100, 'KEYLEDGER_STORE_TIMEOUT_MS must be at least 100 ms')
    .max(600_000, 'KEYLEDGER_STORE_TIMEOUT_MS must be at most 600000 ms (10 minutes)')
    .default(5000),
  KEYLEDGER_PG_POOL_SIZE: z.coerce
    .number({ error: 'KEYLEDGER_PG_POOL_SIZE must be a number of connections' })
    .int('KEYLEDGER_PG_POOL_SIZE must be a whole number of connections')
    .min(1, 'KEYLEDGER_PG_POOL_SIZE must be at least 1')
    .max(200, 'KEYLEDGER_PG_POOL_SIZE must be at most 200')
    .default(10),
  KEYLEDGER_INSTANCE_ID: z
    .string()
    .trim()
    .max(100, 'KEYLEDGER_INSTANCE_ID must be at most 100 characters')
    .regex(/^[\x21-\x7e]*$/, 'KEYLEDGER_INSTANCE_ID must be printable ASCII without spaces')
    .optional(),
  KEYLEDGER_PROJECTION_THREAD: z.enum(['worker', 'main'], { error: 'KEYLEDGER_PROJECTION_THREAD must be worker or main' }).default('worker'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent' })
    .default('info'),
});

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  }
  const values = parsed.data;
  const eventStore = parseEventStore(values.KEYLEDGER_EVENT_STORE);
  return {
    eventStore,
    readStore: parseReadStore(values.KEYLEDGER_READ_STORE, eventStore),
    host: values.HOST,
    port: values.PORT,
    logLevel: values.LOG_LEVEL,
    bootstrap: values.KEYLEDGER_BOOTSTRAP === 'true' || values.KEYLEDGER_BOOTSTRAP === '1',
    maxBodyBytes: values.KEYLEDGER_MAX_BODY_BYTES,
    firstRunKeysFile: firstRunKeysFile(values.KEYLEDGER_FIRST_RUN_KEYS_FILE, eventStore),
    corsOrigins: parseCorsOrigins(values.KEYLEDGER_CORS_ORIGINS),
    graphiql: values.KEYLEDGER_GRAPHIQL === 'true' || values.KEYLEDGER_GRAPHIQL === '1',
    storeTimeoutMs: values.KEYLEDGER_STORE_TIMEOUT_MS,
    pgPoolSize: values.KEYLEDGER_PG_POOL_SIZE,
    instanceId: values.KEYLEDGER_INSTANCE_ID || `${hostname()}:${process.pid}`,
    projectionThread: values.KEYLEDGER_PROJECTION_THREAD,
  };
}

export function describeLocation(location: EventStoreLocation | ReadStoreLocation): string {
  switch (location.kind) {
    case 'sqlite':
      return `sqlite:${location.path}`;
    case 'postgres':
      return `${redact(location.url)} (schema ${location.schema})`;
    case 'kurrentdb':
      return redact(location.connectionString);
  }
}
