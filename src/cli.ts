#!/usr/bin/env node
// keyledger's command line: run the gateway, and the operator's tasks on its stores.
// Exit codes: 0 done, 1 failed, 2 bad usage or configuration.

import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, describeLocation, loadConfig, type Config } from './platform/config.js';
import { openEventStore } from './eventstore/open.js';
import { createLogger, type Logger } from './platform/logger.js';
import { keyledgerProjections } from '../projections/index.js';
import type { ReadModels } from '../projections/read-models.js';
import { openReadStore } from '../projections/core/read-store.js';
import { ProjectionRunner, type ProjectionStatus } from '../projections/core/runner.js';
import { leaseFor, type LeaseStatus } from '../projections/core/lease.js';
import { CommandHandler } from './commands/handler.js';
import { Keyledger, type InitializedOrg } from './commands/keyledger.js';
import { DomainError } from './domain/errors.js';
import type { KeyledgerEvent } from './domain/events.js';
import { decodeEvent, type Recorded } from './eventstore/recorded.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

/** The package's version: its package.json is beside src/ when run from source, two folders above dist/src/ when built. */
function packageVersion(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    const url = new URL(candidate, import.meta.url);
    if (!existsSync(url)) continue;
    const parsed: unknown = JSON.parse(readFileSync(url, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && parsed.name === 'keyledger' && 'version' in parsed && typeof parsed.version === 'string') {
      return parsed.version;
    }
  }
  return 'unknown';
}

/** The read store must know the organization: a typo must not pass for an empty, intact log. */
async function requireOrganization(runner: ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>, orgId: string): Promise<void> {
  const { organizationById } = await import('../projections/organizations/queries.js');
  if (!(await organizationById(runner.readStore.db, orgId))) throw new DomainError('NOT_FOUND', `no organization ${orgId} in ${describeLocation(config().readStore)}`);
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
}

function config(overrides: { port?: number; host?: string } = {}): Config {
  const loaded = loadConfig();
  return { ...loaded, ...(overrides.port === undefined ? {} : { port: overrides.port }), ...(overrides.host === undefined ? {} : { host: overrides.host }) };
}

/** Opens the stores and a runner that is not started: the operator's tasks run beside (or without) a gateway. */
async function withRunner<T>(logger: Logger, work: (runner: ProjectionRunner<ReadModels, Recorded<KeyledgerEvent>>) => Promise<T>): Promise<T> {
  const cfg = config();
  const store = await openEventStore(cfg.eventStore, logger);
  try {
    const readStore = await openReadStore<ReadModels>(cfg.readStore, { logger });
    try {
      // Beside a fleet on PostgreSQL, a command follows the lease's holder (and holds the lease itself when nobody does).
      const lease = leaseFor(cfg.readStore, { instance: `${cfg.instanceId} (cli)`, logger, timeoutMs: cfg.storeTimeoutMs, db: readStore.db });
      const runner = new ProjectionRunner({ store, readStore, projections: keyledgerProjections(), decode: decodeEvent, logger, lease });
      await runner.migrate();
      return await work(runner);
    } finally {
      await readStore.close();
    }
  } finally {
    await store.close();
  }
}

/** Runs a use case beside (or without) a gateway: the projections run so the command can read its own write. */
async function withKeyledger<T>(logger: Logger, work: (keyledger: Keyledger) => Promise<T>): Promise<T> {
  return withRunner(logger, async (runner) => {
    runner.start();
    try {
      const commands = new CommandHandler({ store: runner.store, readYourWrites: (position) => runner.waitFor(position) });
      return await work(new Keyledger({ commands, db: runner.readStore.db }));
    } finally {
      await runner.stop();
    }
  });
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/** An organization as the operator names it: its UUID, or its global id from the API. */
async function orgUuid(value: string): Promise<string> {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return value.toLowerCase();
  const { tryDecode } = await import('./graphql/core/ids.js');
  const decoded = tryDecode(value, ['Organization']);
  if (!decoded) throw new UsageError(`--org ${JSON.stringify(value)} is not an organization id (a UUID, or the id the API shows)`);
  return decoded.id;
}

function initOrgText(created: InitializedOrg, globalId: (typename: string, id: string) => string): string {
  return [
    `Created organization "${created.organization.name}"`,
    `  organization id:   ${created.organization.id}  (API id ${globalId('Organization', created.organization.id)})`,
    `  admin:             ${created.admin.email ?? created.admin.name} (${created.admin.id})`,
    '',
    'Shown once; store them now:',
    `  API key:           ${created.apiKey.secret}`,
    `  application key:   ${created.applicationKey.secret}`,
  ].join('\n');
}

function leaseLine(lease: LeaseStatus): string {
  if (lease.kind === 'sole') return 'none (SQLite: the gateway on this file applies the projections)';
  const holder = lease.holder;
  if (holder === null) return 'free: no instance applies the projections now';
  const since = holder.since === null ? '' : `, since ${holder.since.toISOString()}`;
  return `held by ${holder.instance ?? '(an instance that has not said its name yet)'} (PostgreSQL backend ${holder.backendPid ?? '?'}${holder.clientAddress === null ? '' : ` from ${holder.clientAddress}`}${since})`;
}

function statusTable(statuses: readonly ProjectionStatus[]): string {
  if (statuses.length === 0) return 'no projections are registered';
  const rows = statuses.map((s) => [s.name, s.position || '(start)', s.head || '(start)', `${s.lagEvents}${s.lagCapped ? '+' : ''}`, `${(s.lagMs / 1000).toFixed(1)}s`]);
  const header = ['projection', 'position', 'head', 'lag (events)', 'lag (age)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function buildCli(): Command {
  const program = new Command()
    .name('keyledger')
    .description('keyledger: a GraphQL gateway for API keys, application keys and client tokens, with an append-only audit log.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Configuration (environment):
  KEYLEDGER_EVENT_STORE  sqlite:./data/keyledger.db (default), postgres://..., kurrentdb://...
  KEYLEDGER_READ_STORE   default: beside the events (same SQLite file or PostgreSQL database)
  HOST, PORT             where serve listens (default 127.0.0.1:4000)
  LOG_LEVEL              fatal, error, warn, info (default), debug, trace, silent
  KEYLEDGER_CORS_ORIGINS origins allowed cross-origin access to /graphql, comma-separated (default: none)
  KEYLEDGER_GRAPHIQL     true (default) or false: serve GraphiQL at /graphql to a browser
  KEYLEDGER_FIRST_RUN_KEYS_FILE  where a first run without a terminal writes the admin's keys (mode 0600)`,
    );

  program
    .command('serve')
    .description('run the gateway: HTTP (/health, /ready) and the projection runner')
    .option('-p, --port <port>', 'port to listen on (default: PORT or 4000)', port)
    .option('-H, --host <host>', 'address to listen on (default: HOST or 127.0.0.1)')
    .action(async (options: { port?: number; host?: string }) => {
      const cfg = config(options);
      const logger = createLogger({ level: cfg.logLevel });
      // The GraphQL stack loads only for `serve`: the operator's commands start faster without it.
      const { buildApp } = await import('./gateway/app.js');
      const app = await buildApp(cfg, { logger });
      let shuttingDown = false;
      const shutdown = (signal: string) => {
        if (shuttingDown) return;
        shuttingDown = true;
        logger.info({ signal }, 'shutting down');
        app.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(EXIT_FAILED);
          },
        );
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      try {
        await app.start();
      } catch (error) {
        await app.stop().catch(() => undefined);
        throw error;
      }
    });

  program
    .command('init-org')
    .description('create an organization with its first admin, API key and application key; prints the keys once')
    .requiredOption('--name <name>', "the organization's name")
    .requiredOption('--admin-email <email>', "the first admin's email")
    .option('--admin-name <name>', "the first admin's name (default: the email)")
    .option('--api-key-limit <n>', 'at most this many active API keys (default 50)', positiveInt)
    .option('--json', 'print JSON, for scripts')
    .action(async (options: { name: string; adminEmail: string; adminName?: string; apiKeyLimit?: number; json?: boolean }) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const created = await withKeyledger(logger, (keyledger) =>
        keyledger.initOrg({
          name: options.name,
          adminEmail: options.adminEmail,
          ...(options.adminName === undefined ? {} : { adminName: options.adminName }),
          ...(options.apiKeyLimit === undefined ? {} : { apiKeyLimit: options.apiKeyLimit }),
        }),
      );
      const { globalId } = await import('./graphql/core/ids.js');
      if (options.json) {
        console.log(
          JSON.stringify(
            {
              organization: {
                id: created.organization.id,
                apiId: globalId('Organization', created.organization.id),
                name: created.organization.name,
                apiKeyLimit: created.organization.api_key_limit,
              },
              admin: { id: created.admin.id, apiId: globalId('User', created.admin.id), email: created.admin.email, name: created.admin.name, role: created.admin.role },
              apiKey: { id: created.apiKey.credential.id, apiId: globalId('ApiKey', created.apiKey.credential.id), secret: created.apiKey.secret },
              applicationKey: {
                id: created.applicationKey.credential.id,
                apiId: globalId('ApplicationKey', created.applicationKey.credential.id),
                secret: created.applicationKey.secret,
              },
            },
            null,
            2,
          ),
        );
      } else {
        console.log(initOrgText(created, globalId));
      }
    });

  program
    .command('set-api-key-limit')
    .description("change an organization's limit of active API keys (keys above a lowered limit stay valid)")
    .requiredOption('--org <id>', 'the organization (UUID or API id)')
    .requiredOption('--limit <n>', 'the new limit, 1 to 10000', positiveInt)
    .action(async (options: { org: string; limit: number }) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const orgId = await orgUuid(options.org);
      const org = await withKeyledger(logger, (keyledger) => keyledger.setApiKeyLimit(orgId, options.limit));
      console.log(`organization "${org.name}" (${org.id}): API-key limit ${org.api_key_limit}`);
    });

  const projections = program.command('projections').description('inspect and rebuild the read models');

  projections
    .command('status')
    .description("each projection's position, the store's head, and the lag between them")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const { statuses, lease } = await withRunner(logger, async (runner) => ({ statuses: await runner.status(), lease: await runner.lease() }));
      if (options.json) {
        const holder = lease.holder === null ? null : { ...lease.holder, since: lease.holder.since?.toISOString() ?? null };
        console.log(JSON.stringify({ lease: { kind: lease.kind, holder }, projections: statuses.map(({ state: _state, ...s }) => s) }, null, 2));
      } else {
        console.log(`event store: ${describeLocation(config().eventStore)}\nread store:  ${describeLocation(config().readStore)}\nlease:       ${leaseLine(lease)}\n`);
        console.log(statusTable(statuses));
      }
    });

  projections
    .command('rebuild')
    .description('replay every event into fresh tables for one projection (readers keep the old tables until it is done)')
    .argument('<name>', 'the projection, as listed by `projections status`')
    .action(async (name: string) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const known = keyledgerProjections().map((p) => p.name);
      if (!known.includes(name)) throw new UsageError(`no projection named ${JSON.stringify(name)}; known: ${known.length > 0 ? known.join(', ') : '(none)'}`);
      const started = performance.now();
      const result = await withRunner(logger, (runner) => runner.rebuild(name));
      const seconds = (performance.now() - started) / 1000;
      console.log(`rebuilt ${name}: ${result.events} events applied in ${seconds.toFixed(2)}s, position ${result.position || '(start)'}`);
    });

  // ── audit: the operator's checks on the audit log (R24) ──────────────────
  const isoTime = (value: string): Date => {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) throw new InvalidArgumentError('an ISO-8601 date and time, such as 2026-01-31 or 2026-01-31T12:00:00Z');
    return date;
  };
  const exportFormat = (value: string): 'csv' | 'ndjson' => {
    if (value !== 'csv' && value !== 'ndjson') throw new InvalidArgumentError('csv or ndjson');
    return value;
  };
  const rangeText = (options: { from?: Date; to?: Date }) => `${options.from ? ` from ${options.from.toISOString()}` : ''}${options.to ? ` to ${options.to.toISOString()}` : ''}`;

  const audit = program.command('audit').description("verify and export an organization's audit log");

  audit
    .command('verify')
    .description("recompute the organization's hash chain; exit 0 when intact, 1 naming the first broken entry")
    .requiredOption('--org <id>', 'the organization (UUID or API id)')
    .option('--from <time>', 'only the entries at or after this time (ISO-8601)', isoTime)
    .option('--to <time>', 'only the entries before this time (ISO-8601)', isoTime)
    .option('--json', 'print the result as JSON')
    .action(async (options: { org: string; from?: Date; to?: Date; json?: boolean }) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const orgId = await orgUuid(options.org);
      const { verifyAuditChain } = await import('../projections/audit/integrity.js');
      const range = { ...(options.from ? { from: options.from } : {}), ...(options.to ? { to: options.to } : {}) };
      const result = await withRunner(logger, async (runner) => {
        await requireOrganization(runner, orgId);
        return verifyAuditChain(runner.readStore.db, orgId, range);
      });
      if (options.json) console.log(JSON.stringify({ orgId, ...result }, null, 2));
      const broken = result.firstBroken;
      if (broken) {
        throw new Error(
          `audit chain of organization ${orgId} is broken at seq ${broken.seq} (org seq ${broken.orgSeq}), event ${broken.eventId || '(missing)'}, at ${broken.at || '(unknown)'}: ${broken.reason} (${result.checked} entries checked${rangeText(options)})`,
        );
      }
      if (!options.json) console.log(`audit chain of organization ${orgId} is intact: ${result.checked} entries checked${rangeText(options)}`);
    });

  audit
    .command('export')
    .description("write the organization's audit entries, oldest first, as CSV (with a header) or NDJSON")
    .requiredOption('--org <id>', 'the organization (UUID or API id)')
    .requiredOption('--format <format>', 'csv or ndjson', exportFormat)
    .option('--from <time>', 'only the entries at or after this time (ISO-8601)', isoTime)
    .option('--to <time>', 'only the entries before this time (ISO-8601)', isoTime)
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .option(
      '--raw',
      "CSV: every field exactly as stored, for checking entries against their hashes (by default a field a spreadsheet would run as a formula gets a leading '); NDJSON is always exact",
    )
    .action(async (options: { org: string; format: 'csv' | 'ndjson'; from?: Date; to?: Date; output?: string; raw?: boolean }) => {
      const logger = createLogger({ level: 'warn', destination: process.stderr });
      const orgId = await orgUuid(options.org);
      const { exportAudit } = await import('./audit/export.js');
      const { createWriteStream } = await import('node:fs');
      const { EventEmitter } = await import('node:events');
      const { finished } = await import('node:stream/promises');
      const out = options.output === undefined ? process.stdout : createWriteStream(options.output);
      if (options.output !== undefined) {
        await EventEmitter.once(out, 'open'); // a path that cannot be written fails here, before the stores open
        out.on('error', () => undefined); // reported by `finished` below
      }
      const { entries } = await withRunner(logger, async (runner) => {
        await requireOrganization(runner, orgId);
        return exportAudit(
          runner.readStore.db,
          { orgId, format: options.format, raw: options.raw === true, ...(options.from ? { from: options.from } : {}), ...(options.to ? { to: options.to } : {}) },
          out,
        );
      });
      if (options.output !== undefined) {
        out.end();
        await finished(out);
        console.log(`exported ${entries} audit entries of organization ${orgId} to ${options.output}`);
      }
    });

  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes were already explained by commander.
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof DomainError) {
      console.error(`keyledger: ${error.code}: ${error.message}`);
      return error.code === 'BAD_USER_INPUT' || error.code === 'BLANK_NAME' ? EXIT_USAGE : EXIT_FAILED;
    }
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`keyledger: ${error.message}`);
      return EXIT_USAGE;
    }
    console.error(`keyledger: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`keyledger: ${error instanceof Error ? error.message : 'failed'}`);
    process.exitCode = EXIT_FAILED;
  },
);
