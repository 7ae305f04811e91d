// A running gateway for API tests: a fresh store (SQLite, or PostgreSQL schemas), a first
// organization made by the operator, and a client that speaks GraphQL over HTTP with typed
// documents. Every secret the tests see is remembered, and `close()` fails if any of them
// reached the event store, the read store or the log. `appendedBy` tells which lifecycle events
// an action appended.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { loadConfig } from '../../src/platform/config.js';
import type { InitializedOrg } from '../../src/commands/keyledger.js';
import { buildApp, type App, type AppOptions } from '../../src/gateway/app.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Clock } from '../../src/platform/clock.js';
import type { JsonValue, RecordedEvent } from '../../src/eventstore/port.js';
import { createTestSchema, PG_URL } from './pg.js';

export interface Credentials {
  readonly apiKey: string;
  readonly applicationKey: string;
}

export interface Answer<R> {
  readonly status: number;
  readonly data: R | null | undefined;
  readonly errors: readonly GraphQLFormattedError[] | undefined;
  /** The first error's extensions.code. */
  readonly code: string | undefined;
}

/** A lifecycle event as the store holds it, less its envelope (id, metadata, positions). */
export interface AppendedEvent {
  readonly type: string;
  readonly stream: string;
  readonly data: JsonValue;
}

const SECRET = /klk_(?:api|app|pub)_[0-9A-Za-z]{38}/g;

export interface TestGateway {
  readonly url: string;
  readonly app: App;
  readonly org: InitializedOrg;
  /** The first admin's keys. */
  readonly admin: Credentials;
  /** Every secret seen in a response or made by the operator. */
  readonly secrets: Set<string>;
  readonly logs: string[];
  /** The SQLite file of the stores (null on PostgreSQL). */
  readonly sqliteFile: string | null;
  call<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V, credentials?: Credentials | Record<string, string> | null): Promise<Answer<R>>;
  /** A second gateway instance on the same stores (as a second replica would run). */
  twin(): Promise<{ url: string; app: App; call: TestGateway['call']; close(): Promise<void> }>;
  /** Another organization on the same gateway, made by the operator. */
  newOrg(): Promise<{ org: InitializedOrg; admin: Credentials }>;
  /** Lifecycle events in the store (request events aside): a refused command must not change it. */
  eventCount(): Promise<number>;
  /** The request events (R22) in the store. */
  requestEvents(): Promise<RecordedEvent[]>;
  /**
   * Runs `action` and returns its result with the lifecycle events (request events aside)
   * appended while it ran, in store order. The store's head is read right before the action,
   * so everything else that appends lifecycle events must be settled by then (tests of one
   * file run one at a time, and a command answers only once its events are readable).
   */
  appendedBy<T>(action: () => Promise<T>): Promise<{ result: T; events: AppendedEvent[] }>;
  /** Read-store statements so far (for query-cost tests). */
  statements(): number;
  /** Stops the gateway, runs `between` (while it is down), and starts a new one on the same stores; `app` and `url` are then the new one's. */
  restart(between?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function startGateway(
  options: {
    store?: 'sqlite' | 'postgres';
    logLevel?: string;
    env?: Record<string, string>;
    /** PostgreSQL: the application_name of every connection, so a test can find (and end) this gateway's backends. */
    applicationName?: string;
    /** PostgreSQL: the URL the gateway's stores connect to (default PG_URL), such as a proxy's in front of it. */
    pgUrl?: string;
    /** The change feeds' bounds, on this gateway and its twins. */
    feeds?: AppOptions['feeds'];
    /** What time it is, on this gateway and its twins (a TestClock: time moves when the test says). */
    clock?: Clock;
  } = {},
): Promise<TestGateway> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level: options.logLevel ?? 'debug', destination: sink });
  const cleanups: (() => Promise<void> | void)[] = [];
  let env: Record<string, string>;
  let sqliteFile: string | null = null;
  if (options.store === 'postgres') {
    const events = await createTestSchema('kl_api_events');
    const reads = await createTestSchema('kl_api_reads');
    cleanups.push(
      () => events.drop(),
      () => reads.drop(),
    );
    const name = options.applicationName === undefined ? '' : `&application_name=${encodeURIComponent(options.applicationName)}`;
    const base = options.pgUrl ?? PG_URL;
    env = { KEYLEDGER_EVENT_STORE: `${base}?schema=${events.schema}${name}`, KEYLEDGER_READ_STORE: `${base}?schema=${reads.schema}${name}` };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-api-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    sqliteFile = join(dir, 'keyledger.db');
    env = { KEYLEDGER_EVENT_STORE: `sqlite:${sqliteFile}` };
  }
  // A start that fails leaves nothing behind either: the schemas and files go with it.
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  let app: App;
  let url: string;
  try {
    app = await buildApp(loadConfig({ ...env, ...options.env, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false' }), {
      logger,
      ...(options.feeds ? { feeds: options.feeds } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    cleanups.push(() => app.stop());
    ({ url } = await app.start());
  } catch (error) {
    await cleanUp();
    throw error;
  }
  const secrets = new Set<string>();
  const remember = (text: string) => {
    for (const match of text.matchAll(SECRET)) secrets.add(match[0]);
  };

  async function callAt<R, V extends Record<string, unknown>>(
    at: string,
    document: TypedDocumentNode<R, V>,
    variables: V,
    credentials: Credentials | Record<string, string> | null,
  ): Promise<Answer<R>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (credentials && 'apiKey' in credentials && 'applicationKey' in credentials && typeof credentials.apiKey === 'string') {
      headers['x-api-key'] = credentials.apiKey;
      headers['x-application-key'] = String(credentials.applicationKey);
    } else if (credentials) {
      Object.assign(headers, credentials);
    }
    const response = await fetch(`${at}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: print(document), variables }) });
    const text = await response.text();
    remember(text);
    const body = JSON.parse(text) as { data?: unknown; errors?: GraphQLFormattedError[] };
    return { status: response.status, data: body.data as R | null | undefined, errors: body.errors, code: body.errors?.[0]?.extensions?.code as string | undefined };
  }

  async function newOrg(): Promise<{ org: InitializedOrg; admin: Credentials }> {
    const created = await app.keyledger.initOrg({ name: `Org ${randomBytes(3).toString('hex')}`, adminEmail: 'admin@example.test', adminName: 'Ada Admin' });
    remember(created.apiKey.secret);
    remember(created.applicationKey.secret);
    return { org: created, admin: { apiKey: created.apiKey.secret, applicationKey: created.applicationKey.secret } };
  }
  let first: Awaited<ReturnType<typeof newOrg>>;
  try {
    first = await newOrg();
  } catch (error) {
    await cleanUp();
    throw error;
  }
  const { org, admin } = first;

  return {
    get url() {
      return url;
    },
    get app() {
      return app;
    },
    org,
    admin,
    secrets,
    logs,
    sqliteFile,
    newOrg,
    call: (document, variables, credentials = admin) => callAt(url, document, variables, credentials ?? null),
    async twin() {
      const other = await buildApp(loadConfig({ ...env, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false' }), {
        logger,
        ...(options.feeds ? { feeds: options.feeds } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
      const started = await other.start();
      return {
        url: started.url,
        app: other,
        call: (document, variables, credentials = admin) => callAt(started.url, document, variables, credentials ?? null),
        close: () => other.stop(),
      };
    },
    async eventCount() {
      let n = 0;
      for await (const page of app.store.readAll()) n += page.filter((e) => !e.stream.startsWith('requests-')).length;
      return n;
    },
    async requestEvents() {
      const events: RecordedEvent[] = [];
      for await (const page of app.store.readAll()) events.push(...page.filter((e) => e.stream.startsWith('requests-')));
      return events;
    },
    async appendedBy<T>(action: () => Promise<T>) {
      const head = await app.store.headPosition();
      const result = await action();
      const events: AppendedEvent[] = [];
      for await (const page of app.store.readAll({ after: head })) {
        for (const e of page) if (!e.stream.startsWith('requests-')) events.push({ type: e.type, stream: e.stream, data: e.data });
      }
      return { result, events };
    },
    statements: () => app.readStore.statementCount(),
    async restart(between) {
      await app.stop();
      await between?.();
      app = await buildApp(loadConfig({ ...env, ...options.env, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false' }), {
        logger,
        ...(options.feeds ? { feeds: options.feeds } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
      ({ url } = await app.start());
    },
    async close() {
      try {
        const leaks: string[] = [];
        const check = (where: string, text: string) => {
          for (const secret of secrets) if (text.includes(secret)) leaks.push(`${where} holds the secret ending ${secret.slice(-4)}`);
        };
        const json = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
        for await (const page of app.store.readAll()) check('the event store', json(page));
        for (const table of ['organizations', 'principals', 'credentials', 'credential_usage', 'audit_log'] as const) {
          check(`read model ${table}`, JSON.stringify(await app.readStore.db.selectFrom(table).selectAll().execute()));
        }
        await app.stop();
        check('the log', logs.join(''));
        if (sqliteFile) {
          for (const file of [sqliteFile, `${sqliteFile}-wal`]) if (existsSync(file)) check(file, readFileSync(file).toString('latin1'));
        }
        if (leaks.length > 0) throw new Error(`secrets leaked: ${leaks.join('; ')}`);
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup();
      }
    },
  };
}
