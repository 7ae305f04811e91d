// The store of bench/scale.ts: a million credentials in 10k orgs and an org whose service account
// owns 100k application keys, appended directly as the deciders shape them, then its read models
// built as `keyledger projections rebuild` builds them.

import { randomBytes, randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { eventMetadata, OPERATOR } from '../src/domain/actor.js';
import type { OrganizationEvent, PrincipalEvent } from '../src/domain/events.js';
import type { Permission } from '../src/domain/permissions.js';
import { issueSecret } from '../src/domain/secrets.js';
import type { JsonObject, JsonValue, NewEvent } from '../src/eventstore/port.js';
import { openSqliteEventStore, type SqliteEventStore } from '../src/eventstore/sqlite.js';
import { buildApp } from '../src/gateway/app.js';
import { loadConfig } from '../src/platform/config.js';
import { silentLogger } from '../src/platform/logger.js';
import { fmtMs, log, timed } from './lib.js';

/** The issue's size by default: 10,000 orgs of 100 credentials (a million) and a 100k-key org. */
export const ORGS = Number(process.env.KEYLEDGER_BENCH_SCALE_ORGS ?? 10_000);
export const BIG_KEYS = Number(process.env.KEYLEDGER_BENCH_SCALE_BIG ?? 100_000);
/** Per org of the many: API keys, client tokens, principals (an admin, users, one service account) and each one's application keys: 100 credentials. */
const PER_ORG = { apiKeys: 10, clientTokens: 10, users: 4, serviceAccounts: 1, keysPerPrincipal: 16 } as const;
export const CREDENTIALS_PER_ORG = PER_ORG.apiKeys + PER_ORG.clientTokens + (PER_ORG.users + PER_ORG.serviceAccounts) * PER_ORG.keysPerPrincipal;
/** Events per append of the big service account's stream. */
const BIG_BATCH = 5_000;

/** An org a benchmark speaks as: its admin's secrets, and the service account whose keys it creates. */
export interface SpeakingOrg {
  readonly orgId: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceAccountId: string;
  readonly keys: number;
}

export interface Seeded {
  readonly credentials: number;
  readonly events: number;
  readonly small: SpeakingOrg;
  readonly big: SpeakingOrg;
}

/** Digests as the domain stores them (SHA-256, 64 hex): random, drawn from one buffer at a time. */
class Digests {
  #pool = Buffer.alloc(0);
  #at = 0;
  next(): { digest: string; last4: string } {
    if (this.#at + 32 > this.#pool.length) {
      this.#pool = randomBytes(32 * 65_536);
      this.#at = 0;
    }
    const digest = this.#pool.toString('hex', this.#at, this.#at + 32);
    this.#at += 32;
    return { digest, last4: digest.slice(0, 4) };
  }
}

const SCOPE_CHOICES: readonly (Permission[] | null)[] = [null, ['api_keys_read'], ['dashboards_read', 'monitors_read']];

class Seeder {
  readonly #store: SqliteEventStore;
  readonly #digests = new Digests();
  readonly #now = new Date();
  events = 0;
  credentials = 0;

  constructor(store: SqliteEventStore) {
    this.#store = store;
  }

  async #append(stream: string, events: readonly (OrganizationEvent | PrincipalEvent)[]): Promise<void> {
    // One append is one command's: its events share the metadata, as the command handler writes them.
    const metadata: JsonObject = { ...eventMetadata(OPERATOR, randomUUID(), this.#now) };
    const rows: NewEvent[] = events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as unknown as JsonValue, metadata }));
    await this.#store.append(stream, rows, { expectedRevision: 'any' });
    this.events += rows.length;
  }

  /** An org with `apiKeys` API keys (the first one's secret known), `clientTokens` client tokens and an admin (whose first application key's secret is known). */
  async org(name: string, apiKeys: number, clientTokens: number): Promise<{ orgId: string; adminId: string; apiKeySecret: string }> {
    const orgId = randomUUID();
    const adminEmail = `admin@${name.toLowerCase().replaceAll(' ', '-')}.example`;
    const adminId = uuidv5(adminEmail, orgId);
    const first = issueSecret('API_KEY');
    const events: OrganizationEvent[] = [
      { type: 'OrganizationCreated', data: { orgId, name, apiKeyLimit: 50 } },
      { type: 'ApiKeyCreated', data: { orgId, keyId: randomUUID(), name: 'Default API key', digest: first.digest, last4: first.last4, createdBy: adminId } },
    ];
    for (let i = 1; i < apiKeys; i++) {
      events.push({ type: 'ApiKeyCreated', data: { orgId, keyId: randomUUID(), name: `API key ${i}`, ...this.#digests.next(), createdBy: adminId } });
    }
    for (let i = 0; i < clientTokens; i++) {
      events.push({
        type: 'ClientTokenCreated',
        data: {
          orgId,
          tokenId: randomUUID(),
          name: `Client token ${i}`,
          ...this.#digests.next(),
          allowedOrigins: i % 2 === 0 ? [] : ['https://app.example.com'],
          createdBy: adminId,
        },
      });
    }
    await this.#append(`org-${orgId}`, events);
    this.credentials += apiKeys + clientTokens;
    return { orgId, adminId, apiKeySecret: first.secret };
  }

  /** A principal and `keys` application keys (the first one's secret returned), appended `batch` events at a time. */
  async principal(
    orgId: string,
    principal: { id: string; kind: 'USER'; email: string; name: string; role: 'admin' | 'standard' } | { id: string; kind: 'SERVICE_ACCOUNT'; name: string; role: 'standard' },
    keys: number,
    createdBy: string | null,
    batch = BIG_BATCH,
  ): Promise<string> {
    const principalId = principal.id;
    const created: PrincipalEvent =
      principal.kind === 'USER'
        ? { type: 'UserInvited', data: { principalId, orgId, email: principal.email, name: principal.name, role: principal.role } }
        : { type: 'ServiceAccountCreated', data: { principalId, orgId, name: principal.name, role: principal.role } };
    const secret = issueSecret('APPLICATION_KEY');
    let events: PrincipalEvent[] = [created];
    for (let i = 0; i < keys; i++) {
      const { digest, last4 } = i === 0 ? secret : this.#digests.next();
      events.push({
        type: 'ApplicationKeyCreated',
        data: {
          principalId,
          orgId,
          keyId: randomUUID(),
          name: i === 0 ? 'Default application key' : `key ${i}`,
          digest,
          last4,
          scopes: SCOPE_CHOICES[i % 3]!,
          expiresAt: null,
          createdBy,
        },
      });
      if (events.length >= batch) {
        await this.#append(`principal-${principalId}`, events);
        events = [];
      }
    }
    if (events.length > 0) await this.#append(`principal-${principalId}`, events);
    this.credentials += keys;
    return secret.secret;
  }

  /** An org whose admin we speak as, with a service account owning `serviceAccountKeys` keys. */
  async speakingOrg(name: string, apiKeys: number, serviceAccountKeys: number): Promise<SpeakingOrg> {
    const { orgId, adminId, apiKeySecret } = await this.org(name, apiKeys, 0);
    const appKeySecret = await this.principal(orgId, { id: adminId, kind: 'USER', email: `admin@${orgId}.example`, name: 'Ada Admin', role: 'admin' }, 1, null);
    const serviceAccountId = randomUUID();
    await this.principal(orgId, { id: serviceAccountId, kind: 'SERVICE_ACCOUNT', name: 'fleet', role: 'standard' }, serviceAccountKeys, adminId);
    return { orgId, headers: { 'x-api-key': apiKeySecret, 'x-application-key': appKeySecret }, serviceAccountId, keys: apiKeys + 1 + serviceAccountKeys };
  }
}

export async function seed(path: string): Promise<Seeded> {
  const store = openSqliteEventStore(path);
  try {
    const seeder = new Seeder(store);
    const t0 = performance.now();
    for (let o = 0; o < ORGS; o++) {
      const { orgId, adminId } = await seeder.org(`Org ${o}`, PER_ORG.apiKeys, PER_ORG.clientTokens);
      const batch = 1 + PER_ORG.keysPerPrincipal;
      await seeder.principal(orgId, { id: adminId, kind: 'USER', email: `admin@org-${o}.example`, name: 'Admin', role: 'admin' }, PER_ORG.keysPerPrincipal, null, batch);
      for (let u = 1; u <= PER_ORG.users - 1; u++) {
        const email = `user-${u}@org-${o}.example`;
        await seeder.principal(orgId, { id: uuidv5(email, orgId), kind: 'USER', email, name: `User ${u}`, role: 'standard' }, PER_ORG.keysPerPrincipal, adminId, batch);
      }
      for (let s = 0; s < PER_ORG.serviceAccounts; s++) {
        await seeder.principal(orgId, { id: randomUUID(), kind: 'SERVICE_ACCOUNT', name: `robot ${s}`, role: 'standard' }, PER_ORG.keysPerPrincipal, adminId, batch);
      }
      if (o % 1000 === 999) log(`seeding: ${o + 1} orgs, ${seeder.events} events in ${fmtMs(performance.now() - t0)}`);
    }
    // The 10-key org: 5 API keys, its admin's application key, a service account with 4.
    const small = await seeder.speakingOrg('Small org', 5, 4);
    const big = await seeder.speakingOrg('Big org', 1, BIG_KEYS);
    log(
      `seeded ${seeder.credentials} credentials (${ORGS} orgs × ${CREDENTIALS_PER_ORG}, a ${small.keys}-key org, a ${big.keys}-key org) in ${seeder.events} events in ${fmtMs(performance.now() - t0)}`,
    );
    return { credentials: seeder.credentials, events: seeder.events, small, big };
  } finally {
    await store.close();
  }
}

/** The read models of the store at `path`, built as `keyledger projections rebuild` builds them (faster than a first start's catch-up). */
export async function buildReadModels(path: string): Promise<void> {
  const building = performance.now();
  // On this thread, as the CLI rebuilds: a rebuild needs no worker.
  const config = loadConfig({ KEYLEDGER_EVENT_STORE: `sqlite:${path}`, PORT: '0', HOST: '127.0.0.1', KEYLEDGER_BOOTSTRAP: 'false', KEYLEDGER_PROJECTION_THREAD: 'main' });
  const builder = await buildApp(config, { logger: silentLogger() });
  try {
    await builder.runner.migrate();
    for (const name of builder.runner.projectionNames) {
      const rebuilt = await timed(() => builder.runner.rebuild(name));
      log(`rebuilt ${name}: ${rebuilt.result.events} events in ${fmtMs(rebuilt.ms)}`);
    }
  } finally {
    await builder.stop();
  }
  log(`read models built in ${fmtMs(performance.now() - building)}`);
}
