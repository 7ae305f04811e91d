// The GraphQL API over HTTP, the gateway in-process on the embedded store (one SQLite file):
// (1) `createApiKey` at concurrency 8, (2) a dashboard page (50 API keys and 50 application keys
// with their owners and creators) at concurrency 8, with the read-store statements it costs.
// Reference: yoga answering `{ __typename }`: same endpoint, same credentials (so the same
// authentication), same load loop (HttpLoad, a worker thread), same concurrency, same run.

import type { App } from '../src/gateway/app.js';
import {
  type Benchmark,
  type Figure,
  type LoadRun,
  type LoadSpec,
  type LoadSummary,
  type Row,
  fmtMs,
  fmtRate,
  HttpLoad,
  log,
  postGraphQL,
  summarize,
  toMicros,
  startBenchGateway,
} from './lib.js';

const CONCURRENCY = 8;
const TYPENAME = '{ __typename }';
const REFERENCE_LABEL = `{ __typename }, ${CONCURRENCY} loops`;
/** The reference's warm-up, before each benchmark's own: yoga takes seconds to reach its pace. */
const REFERENCE_WARM_UP_MS = 3_000;

interface CreateSizes {
  /** Mutations before measuring (they count against the org's API-key limit too). */
  readonly warmUp: number;
  /** The reference and the mutations alternate round by round, so that a drift in the machine's load hits both alike. */
  readonly rounds: number;
  readonly perRound: number;
  /** A round of mutations stops early past this. */
  readonly maxMs: number;
  /** Each reference round runs this long. */
  readonly referenceMs: number;
  /** The org's API-key limit, raised by the operator first (at most 10 000). */
  readonly apiKeyLimit: number;
}

const CREATE_SIZES: CreateSizes = { warmUp: 200, rounds: 2, perRound: 1_500, maxMs: 15_000, referenceMs: 1_500, apiKeyLimit: 10_000 };

interface DashboardSizes {
  readonly apiKeys: number;
  readonly users: number;
  readonly serviceAccounts: number;
  /** Application keys per seeded principal (a user makes one of its own itself). */
  readonly keysPerPrincipal: number;
  readonly warmUp: number;
  readonly rounds: number;
  /** Each round of each case runs this long. */
  readonly roundMs: number;
}

const DASHBOARD_SIZES: DashboardSizes = { apiKeys: 50, users: 10, serviceAccounts: 10, keysPerPrincipal: 3, warmUp: 200, rounds: 4, roundMs: 1_000 };

const CREATE_API_KEY = 'mutation($name: String!) { createApiKey(name: $name) { secret apiKey { id name } } }';

function dashboardQuery(first: number): string {
  return (
    `query { apiKeys(first: ${first}) { totalCount edges { node { id name last4 status createdBy { id name role } } } } ` +
    `applicationKeys(first: ${first}) { totalCount edges { node { id name scopes owner { id name role } createdBy { id name } } } } }`
  );
}

const fmtMsFine = (ms: number): string => `${ms.toFixed(2)} ms`;

// ---------------------------------------------------------------- the gateway

interface Gateway {
  readonly app: App;
  readonly graphqlUrl: string;
  readonly orgId: string;
  /** The first admin's credentials, as headers. */
  readonly admin: Readonly<Record<string, string>>;
  readonly load: HttpLoad;
  close(): Promise<void>;
}

/** A gateway on a fresh SQLite file, an organization made by the operator, and a load generator speaking as its admin. */
async function startGateway(prefix: string): Promise<Gateway> {
  const gateway = await startBenchGateway(prefix);
  try {
    const admin = { 'x-api-key': gateway.org.apiKey.secret, 'x-application-key': gateway.org.applicationKey.secret };
    const graphqlUrl = `${gateway.url}/graphql`;
    const load = await HttpLoad.open({ url: graphqlUrl, headers: admin, concurrency: CONCURRENCY });
    // Closed before the gateway stops, so that its keep-alive connections are gone.
    gateway.onClose(() => load.close());
    return { app: gateway.app, graphqlUrl, orgId: gateway.org.organization.id, admin, load, close: () => gateway.close() };
  } catch (error) {
    await gateway.close();
    throw error;
  }
}

/** A load run, and the read-store statements it cost. */
async function counted(gateway: Gateway, spec: LoadSpec): Promise<{ run: LoadRun; statements: number }> {
  const before = gateway.app.readStore.statementCount();
  const run = await gateway.load.run(spec);
  return { run, statements: gateway.app.readStore.statementCount() - before };
}

interface Alternated {
  readonly reference: LoadSummary;
  readonly subject: LoadSummary;
  /** Read-store statements per request. */
  readonly referenceStatements: number;
  readonly subjectStatements: number;
}

/**
 * The reference and the subject in `rounds` rounds, in ABBA order (the reference first in even
 * rounds, second in odd ones), so that a steady drift (the JIT still warming up, the machine's
 * load changing) hits both alike; each round is logged.
 */
async function alternate(
  gateway: Gateway,
  rounds: number,
  reference: (round: number) => LoadSpec,
  subject: { readonly label: string; readonly unit: string; spec(round: number): LoadSpec },
): Promise<Alternated> {
  const references: LoadRun[] = [];
  const subjects: LoadRun[] = [];
  let referenceStatements = 0;
  let subjectStatements = 0;
  for (let round = 0; round < rounds; round++) {
    let r: { run: LoadRun; statements: number };
    let s: { run: LoadRun; statements: number };
    if (round % 2 === 0) {
      r = await counted(gateway, reference(round));
      s = await counted(gateway, subject.spec(round));
    } else {
      s = await counted(gateway, subject.spec(round));
      r = await counted(gateway, reference(round));
    }
    references.push(r.run);
    subjects.push(s.run);
    referenceStatements += r.statements;
    subjectStatements += s.statements;
    log(`round ${round + 1}: ${describe('{ __typename }', summarize([r.run]), 'req/s')}; ${describe(subject.label, summarize([s.run]), subject.unit)}`);
  }
  const summaries = { reference: summarize(references), subject: summarize(subjects) };
  return {
    ...summaries,
    referenceStatements: referenceStatements / Math.max(1, summaries.reference.done),
    subjectStatements: subjectStatements / Math.max(1, summaries.subject.done),
  };
}

function typenameSpec(maxMs: number): LoadSpec {
  return { query: TYPENAME, total: Number.MAX_SAFE_INTEGER, maxMs };
}

function describe(label: string, s: LoadSummary, unit: string): string {
  return `${label}: ${s.done} in ${fmtMs(s.ms)} = ${fmtRate(s.rate)} ${unit}, p50 ${fmtMsFine(s.p50Ms)}, p99 ${fmtMsFine(s.p99Ms)}`;
}

/** Throughput, p50 and p99 of a case beside the same of the reference. */
function loadFigures(bench: string, label: string, unit: string, value: LoadSummary, reference: LoadSummary, note: string): Figure[] {
  return [
    { bench, case: `${label}, ${CONCURRENCY} loops`, value: value.rate, unit, refLabel: REFERENCE_LABEL, refValue: reference.rate, refUnit: 'req/s', note },
    {
      bench,
      case: `${label}, p50 latency`,
      value: toMicros(value.p50Ms),
      unit: 'µs',
      refLabel: `{ __typename }, p50`,
      refValue: toMicros(reference.p50Ms),
      refUnit: 'µs',
      note: 'lower is better',
    },
    {
      bench,
      case: `${label}, p99 latency`,
      value: toMicros(value.p99Ms),
      unit: 'µs',
      refLabel: `{ __typename }, p99`,
      refValue: toMicros(reference.p99Ms),
      refUnit: 'µs',
      note: 'lower is better',
    },
  ];
}

// ---------------------------------------------------------------- api-create

async function apiCreate(): Promise<Row[]> {
  const bench = 'api-create';
  const sizes = CREATE_SIZES;
  const gateway = await startGateway('api-create');
  try {
    await gateway.app.keyledger.setApiKeyLimit(gateway.orgId, sizes.apiKeyLimit);
    const mutations = (prefix: string, total: number): LoadSpec => ({
      query: CREATE_API_KEY,
      unique: { variable: 'name', prefix },
      total,
      maxMs: sizes.maxMs,
    });

    await gateway.load.run(typenameSpec(REFERENCE_WARM_UP_MS));
    await gateway.load.run(mutations('warm-up key ', sizes.warmUp));

    const {
      reference,
      subject: create,
      referenceStatements: perReference,
      subjectStatements: perMutation,
    } = await alternate(gateway, sizes.rounds, () => typenameSpec(sizes.referenceMs), {
      label: 'createApiKey',
      unit: 'mutations/s',
      spec: (round) => mutations(`round ${round} key `, sizes.perRound),
    });
    const { organization } = await postGraphQL<{ organization: { activeApiKeyCount: number } }>(gateway.graphqlUrl, gateway.admin, '{ organization { activeApiKeyCount } }');
    log(describe('{ __typename }', reference, 'req/s'));
    log(describe('createApiKey', create, 'mutations/s'));
    log(
      `read-store statements: ${perMutation.toFixed(2)} per mutation (authentication, projection writes, the read-back), ` +
        `${perReference.toFixed(2)} per { __typename }; the org has ${organization.activeApiKeyCount} active API keys`,
    );
    return loadFigures(
      bench,
      'createApiKey',
      'mutations/s',
      create,
      reference,
      `${create.done} mutations in ${sizes.rounds} rounds; ${perMutation.toFixed(1)} read-store statements/mutation`,
    );
  } finally {
    await gateway.close();
  }
}

// ---------------------------------------------------------------- api-dashboard

interface DashboardAnswer {
  apiKeys: { totalCount: number; edges: { node: { id: string; createdBy: { id: string } | null } }[] };
  applicationKeys: { totalCount: number; edges: { node: { id: string; owner: { id: string }; createdBy: { id: string } | null } }[] };
}

/**
 * API keys by the admin; users and service accounts, each with application keys: users get
 * some from the admin and make one themselves, service accounts get theirs from the admin, so
 * that the page shows many owners and several creators.
 */
async function seedDashboard(gateway: Gateway, sizes: DashboardSizes): Promise<void> {
  const call = <T>(query: string, variables: Record<string, unknown>, headers = gateway.admin) => postGraphQL<T>(gateway.graphqlUrl, headers, query, variables);
  // The org starts with one API key; the default limit (50) would refuse the fiftieth.
  await gateway.app.keyledger.setApiKeyLimit(gateway.orgId, sizes.apiKeys + 10);
  for (let i = 0; i < sizes.apiKeys; i++) await call(CREATE_API_KEY, { name: `Dashboard API key ${i + 1}` });

  const createAppKey = 'mutation($name: String!, $ownerId: ID) { createApplicationKey(name: $name, ownerId: $ownerId) { secret applicationKey { id } } }';
  type CreatedAppKey = { createApplicationKey: { secret: string; applicationKey: { id: string } } };
  type Created = { principal: { id: string } };
  for (let u = 0; u < sizes.users; u++) {
    const { inviteUser } = await call<{ inviteUser: Created }>(
      'mutation($email: String!, $name: String, $role: Role!) { inviteUser(email: $email, name: $name, role: $role) { principal { id } } }',
      {
        email: `user${u + 1}@example.test`,
        name: `User ${u + 1}`,
        role: 'STANDARD',
      },
    );
    const ownerId = inviteUser.principal.id;
    const first = await call<CreatedAppKey>(createAppKey, { name: `User ${u + 1} key 1`, ownerId });
    const asUser = { 'x-api-key': gateway.admin['x-api-key']!, 'x-application-key': first.createApplicationKey.secret };
    for (let k = 1; k < sizes.keysPerPrincipal; k++) {
      // Every other key the user makes itself (a STANDARD user manages its own application keys).
      if (k % 2 === 1) await call(createAppKey, { name: `User ${u + 1} key ${k + 1}` }, asUser);
      else await call(createAppKey, { name: `User ${u + 1} key ${k + 1}`, ownerId });
    }
  }
  for (let s = 0; s < sizes.serviceAccounts; s++) {
    const { createServiceAccount } = await call<{ createServiceAccount: Created }>(
      'mutation($name: String!, $role: Role!) { createServiceAccount(name: $name, role: $role) { principal { id } } }',
      {
        name: `Service ${s + 1}`,
        role: s % 2 === 0 ? 'STANDARD' : 'READ_ONLY',
      },
    );
    for (let k = 0; k < sizes.keysPerPrincipal; k++) await call(createAppKey, { name: `Service ${s + 1} key ${k + 1}`, ownerId: createServiceAccount.principal.id });
  }
}

/**
 * The read-store statements of one request alone: the projections paused, since every request
 * appends its audit entry, which they write in the background (the load runs' counts include it).
 */
async function statementsAlone(gateway: Gateway, query: string): Promise<number> {
  await gateway.app.runner.stop();
  try {
    const before = gateway.app.readStore.statementCount();
    await postGraphQL(gateway.graphqlUrl, gateway.admin, query);
    return gateway.app.readStore.statementCount() - before;
  } finally {
    gateway.app.runner.start();
  }
}

/** One answer, checked: full pages, and how many distinct owners and creators they show. */
async function checkDashboard(gateway: Gateway, first: number): Promise<string> {
  const answer = await postGraphQL<DashboardAnswer>(gateway.graphqlUrl, gateway.admin, dashboardQuery(first));
  const { apiKeys, applicationKeys } = answer;
  if (apiKeys.edges.length !== first || applicationKeys.edges.length !== first) {
    throw new Error(`dashboard(first: ${first}) answered ${apiKeys.edges.length} API keys and ${applicationKeys.edges.length} application keys`);
  }
  const owners = new Set(applicationKeys.edges.map((e) => e.node.owner.id));
  const creators = new Set([...apiKeys.edges, ...applicationKeys.edges].map((e) => e.node.createdBy?.id ?? 'none'));
  return (
    `first: ${first}: ${apiKeys.edges.length} of ${apiKeys.totalCount} API keys, ${applicationKeys.edges.length} of ${applicationKeys.totalCount} application keys, ` +
    `${owners.size} distinct owners, ${creators.size} distinct creators on the page`
  );
}

async function apiDashboard(): Promise<Row[]> {
  const bench = 'api-dashboard';
  const sizes = DASHBOARD_SIZES;
  const gateway = await startGateway('api-dashboard');
  try {
    const seeded = performance.now();
    await seedDashboard(gateway, sizes);
    log(
      `seeded ${sizes.apiKeys} API keys, ${sizes.users} users and ${sizes.serviceAccounts} service accounts with ${sizes.keysPerPrincipal} application keys each in ${fmtMs(performance.now() - seeded)}`,
    );
    log(await checkDashboard(gateway, 50));
    log(await checkDashboard(gateway, 5));
    const alone = {
      typename: await statementsAlone(gateway, TYPENAME),
      one: await statementsAlone(gateway, dashboardQuery(1)),
      fifty: await statementsAlone(gateway, dashboardQuery(50)),
    };
    log(
      `read-store statements of one request alone (projections paused): ${alone.fifty} (first: 50), ${alone.one} (first: 1), ` +
        `${alone.typename} ({ __typename }: authentication alone)`,
    );

    const page = (first: number, maxMs: number, total = Number.MAX_SAFE_INTEGER): LoadSpec => ({ query: dashboardQuery(first), total, maxMs });
    await gateway.load.run(typenameSpec(REFERENCE_WARM_UP_MS));
    await gateway.load.run(page(50, sizes.roundMs, sizes.warmUp));
    await gateway.load.run(page(5, sizes.roundMs, sizes.warmUp));

    const {
      reference,
      subject: dashboard,
      referenceStatements: perReference,
      subjectStatements: perPage,
    } = await alternate(gateway, sizes.rounds, () => typenameSpec(sizes.roundMs), { label: 'dashboard (first: 50)', unit: 'req/s', spec: () => page(50, sizes.roundMs) });
    const small = await counted(gateway, page(5, sizes.roundMs));
    const smallPage = summarize([small.run]);
    const perSmallPage = small.statements / Math.max(1, smallPage.done);
    log(describe('{ __typename }', reference, 'req/s'));
    log(describe('dashboard (first: 50)', dashboard, 'req/s'));
    log(describe('dashboard (first: 5)', smallPage, 'req/s'));
    log(
      `read-store statements per request: ${perPage.toFixed(2)} (first: 50), ${perSmallPage.toFixed(2)} (first: 5), ` +
        `${perReference.toFixed(2)} ({ __typename }: authentication alone)`,
    );
    return [
      ...loadFigures(bench, 'dashboard (first: 50)', 'req/s', dashboard, reference, `${dashboard.done} requests in ${sizes.rounds} rounds`),
      {
        bench,
        case: `dashboard (first: 5), ${CONCURRENCY} loops`,
        value: smallPage.rate,
        unit: 'req/s',
        refLabel: REFERENCE_LABEL,
        refValue: reference.rate,
        refUnit: 'req/s',
        note: `${smallPage.done} requests, one round`,
      },
      {
        bench,
        case: 'store queries of one request alone, first: 50',
        value: alone.fifty - alone.typename,
        unit: 'queries/req',
        refLabel: 'same, first: 1',
        refValue: alone.one - alone.typename,
        refUnit: 'queries/req',
        note: `beyond authentication (${alone.typename}), projections paused`,
      },
      {
        bench,
        case: 'store queries per request, first: 50',
        value: perPage,
        unit: 'queries/req',
        refLabel: 'same, first: 5',
        refValue: perSmallPage,
        refUnit: 'queries/req',
        note: `${perPage.toFixed(2)} vs ${perSmallPage.toFixed(2)}; { __typename } ${perReference.toFixed(2)} (authentication)`,
      },
    ];
  } finally {
    await gateway.close();
  }
}

export const apiBenchmarks: Benchmark[] = [
  {
    name: 'api-create',
    title: `createApiKey over HTTP, embedded store (SQLite), ${CONCURRENCY} concurrent loops, keep-alive; ${CREATE_SIZES.rounds * CREATE_SIZES.perRound} mutations`,
    run: apiCreate,
  },
  {
    name: 'api-dashboard',
    title: `Dashboard page over HTTP (apiKeys and applicationKeys, first: 50, with owners and creators), embedded store (SQLite), ${CONCURRENCY} concurrent loops`,
    run: apiDashboard,
  },
];
