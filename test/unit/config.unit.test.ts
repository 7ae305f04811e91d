import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { ConfigError, loadConfig, redact } from '../../src/platform/config.js';

describe('configuration', () => {
  it('runs on a bare machine: SQLite events and read models in one file, 127.0.0.1:4000', () => {
    expect(loadConfig({})).toEqual({
      eventStore: { kind: 'sqlite', path: './data/keyledger.db' },
      readStore: { kind: 'sqlite', path: './data/keyledger.db' },
      host: '127.0.0.1',
      port: 4000,
      logLevel: 'info',
      bootstrap: true,
      maxBodyBytes: 1_048_576,
      firstRunKeysFile: 'data/first-run-keys.txt',
      corsOrigins: [],
      graphiql: true,
      storeTimeoutMs: 5000,
      pgPoolSize: 10,
      instanceId: `${hostname()}:${process.pid}`,
      projectionThread: 'worker',
    });
    expect(loadConfig({ KEYLEDGER_BOOTSTRAP: 'false' }).bootstrap).toBe(false);
  });

  it('applies the projections on a worker thread unless KEYLEDGER_PROJECTION_THREAD=main', () => {
    expect(loadConfig({ KEYLEDGER_PROJECTION_THREAD: 'main' }).projectionThread).toBe('main');
    expect(loadConfig({ KEYLEDGER_PROJECTION_THREAD: 'worker' }).projectionThread).toBe('worker');
    expect(() => loadConfig({ KEYLEDGER_PROJECTION_THREAD: 'process' })).toThrow(/KEYLEDGER_PROJECTION_THREAD must be worker or main/);
  });

  it('sizes each PostgreSQL pool with KEYLEDGER_PG_POOL_SIZE, from 1 to 200', () => {
    expect(loadConfig({ KEYLEDGER_PG_POOL_SIZE: '32' }).pgPoolSize).toBe(32);
    expect(() => loadConfig({ KEYLEDGER_PG_POOL_SIZE: '0' })).toThrow(/KEYLEDGER_PG_POOL_SIZE must be at least 1/);
    expect(() => loadConfig({ KEYLEDGER_PG_POOL_SIZE: 'many' })).toThrow(/KEYLEDGER_PG_POOL_SIZE must be a number/);
  });

  it('names this instance in a fleet with KEYLEDGER_INSTANCE_ID: printable, without spaces, at most 100 characters', () => {
    expect(loadConfig({ KEYLEDGER_INSTANCE_ID: 'gw-1.eu-west' }).instanceId).toBe('gw-1.eu-west');
    expect(() => loadConfig({ KEYLEDGER_INSTANCE_ID: 'gw 1' })).toThrow(/KEYLEDGER_INSTANCE_ID must be printable ASCII without spaces/);
    expect(() => loadConfig({ KEYLEDGER_INSTANCE_ID: 'x'.repeat(101) })).toThrow(/at most 100 characters/);
  });

  it('R30: bounds a wait on the store at 5 s unless KEYLEDGER_STORE_TIMEOUT_MS says otherwise', () => {
    expect(loadConfig({ KEYLEDGER_STORE_TIMEOUT_MS: '1500' }).storeTimeoutMs).toBe(1500);
    expect(() => loadConfig({ KEYLEDGER_STORE_TIMEOUT_MS: 'soon' })).toThrow(/KEYLEDGER_STORE_TIMEOUT_MS must be a number of milliseconds/);
    expect(() => loadConfig({ KEYLEDGER_STORE_TIMEOUT_MS: '10' })).toThrow(/at least 100 ms/);
  });

  it('R29: bounds a request body at 1 MiB unless KEYLEDGER_MAX_BODY_BYTES says otherwise', () => {
    expect(loadConfig({ KEYLEDGER_MAX_BODY_BYTES: '65536' }).maxBodyBytes).toBe(65_536);
    expect(() => loadConfig({ KEYLEDGER_MAX_BODY_BYTES: 'lots' })).toThrow(/KEYLEDGER_MAX_BODY_BYTES must be a number of bytes/);
    expect(() => loadConfig({ KEYLEDGER_MAX_BODY_BYTES: '12' })).toThrow(/at least 1024 bytes/);
  });

  it('CORS allows the listed origins only (none by default), GraphiQL can be switched off, first-run keys lie beside the SQLite store', () => {
    expect(loadConfig({ KEYLEDGER_CORS_ORIGINS: ' https://admin.example.com,http://127.0.0.1:3000 ,https://admin.example.com' }).corsOrigins).toEqual([
      'https://admin.example.com',
      'http://127.0.0.1:3000',
    ]);
    for (const value of ['*', 'null', 'https://admin.example.com/', 'admin.example.com', 'https://Admin.example.com', 'ftp://files.example.com']) {
      expect(() => loadConfig({ KEYLEDGER_CORS_ORIGINS: value }), value).toThrow(/KEYLEDGER_CORS_ORIGINS: .* (is not allowed|is not an origin)/);
    }
    expect(loadConfig({ KEYLEDGER_GRAPHIQL: 'false' }).graphiql).toBe(false);
    expect(() => loadConfig({ KEYLEDGER_GRAPHIQL: 'off' })).toThrow(/KEYLEDGER_GRAPHIQL must be true or false/);
    expect(loadConfig({ KEYLEDGER_EVENT_STORE: 'sqlite:/var/lib/keyledger/kl.db' }).firstRunKeysFile).toBe('/var/lib/keyledger/first-run-keys.txt');
    expect(loadConfig({ KEYLEDGER_EVENT_STORE: 'postgres://127.0.0.1/test' }).firstRunKeysFile).toBe('data/first-run-keys.txt');
    expect(loadConfig({ KEYLEDGER_FIRST_RUN_KEYS_FILE: '/run/secrets/keyledger-first-run.txt' }).firstRunKeysFile).toBe('/run/secrets/keyledger-first-run.txt');
  });

  it('puts the read models beside PostgreSQL events, in their own schema, and takes ?schema= off the URL', () => {
    const config = loadConfig({ KEYLEDGER_EVENT_STORE: 'postgres://kl:secret@127.0.0.1:5432/test?schema=events_a' });
    expect(config.eventStore).toEqual({ kind: 'postgres', url: 'postgres://kl:secret@127.0.0.1:5432/test', schema: 'events_a' });
    expect(config.readStore).toEqual({ kind: 'postgres', url: 'postgres://kl:secret@127.0.0.1:5432/test', schema: 'keyledger_read' });
  });

  it('keeps read models in SQLite for a KurrentDB event store unless told otherwise', () => {
    const config = loadConfig({ KEYLEDGER_EVENT_STORE: 'kurrentdb://127.0.0.1:2113?tls=false' });
    expect(config.eventStore).toEqual({ kind: 'kurrentdb', connectionString: 'kurrentdb://127.0.0.1:2113?tls=false' });
    expect(config.readStore).toEqual({ kind: 'sqlite', path: './data/keyledger-read.db' });
    expect(loadConfig({ KEYLEDGER_EVENT_STORE: 'esdb://127.0.0.1:2113?tls=false', KEYLEDGER_READ_STORE: 'postgres://127.0.0.1/test' }).readStore).toEqual({
      kind: 'postgres',
      url: 'postgres://127.0.0.1/test',
      schema: 'keyledger_read',
    });
  });

  it.each([
    [{ KEYLEDGER_EVENT_STORE: 'mysql://127.0.0.1/x' }, /KEYLEDGER_EVENT_STORE: "mysql:\/\/127.0.0.1\/x" is not a store keyledger knows/],
    [{ KEYLEDGER_EVENT_STORE: 'sqlite:' }, /sqlite: needs a file path/],
    [{ KEYLEDGER_EVENT_STORE: 'postgres://127.0.0.1/test?schema=Bad-Name' }, /schema "Bad-Name" must be a lower-case SQL identifier/],
    [{ KEYLEDGER_READ_STORE: 'kurrentdb://127.0.0.1:2113' }, /KEYLEDGER_READ_STORE: .* is not a read store keyledger knows/],
    [{ PORT: 'http' }, /PORT must be a number/],
    [{ PORT: '70000' }, /PORT must be 0 to 65535/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ KEYLEDGER_BOOTSTRAP: 'maybe' }, /KEYLEDGER_BOOTSTRAP must be true or false/],
  ])('refuses %j with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never repeats a password in a message', () => {
    expect(() => loadConfig({ KEYLEDGER_EVENT_STORE: 'mongodb://admin:hunter2@127.0.0.1/x' })).toThrow(/admin:\*\*\*@/);
    expect(redact('postgres://kl:s3cret@host/db')).toBe('postgres://kl:***@host/db');
  });
});
