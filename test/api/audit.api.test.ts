// The audit log as an auditor meets it (R22-R24): `auditLog`, `auditIntegrity` and
// `complianceReport`, over HTTP against a running gateway.

import { randomBytes, randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AuditIntegrityDocument,
  AuditLogDocument,
  ChangeRoleDocument,
  ComplianceReportDocument,
  CreateApiKeyDocument,
  CreateApplicationKeyDocument,
  CreateClientTokenDocument,
  CreateServiceAccountDocument,
  DisablePrincipalDocument,
  InviteUserDocument,
  RenameApiKeyDocument,
  RevokeApiKeyDocument,
  RevokeApplicationKeyDocument,
  ScopeApplicationKeyDocument,
  ViewerDocument,
  type AuditEntryFieldsFragment,
  type AuditLogFilter,
  type AuditLogQuery,
  type AuditLogQueryVariables,
} from '../gql/graphql.js';
import { startGateway, type Answer, type Credentials, type TestGateway } from '../support/gateway.js';
import {
  apiKeyCreated,
  apiKeyLimitChanged,
  apiKeyRenamed,
  apiKeyRevoked,
  applicationKeyCreated,
  applicationKeyOwnerDisabled,
  applicationKeyRevoked,
  applicationKeyScoped,
  clientTokenCreated,
  expectNoSecretIn,
  principalDisabled,
  principalRoleChanged,
  serviceAccountCreated,
  userInvited,
} from '../support/events.js';
import { member } from '../support/members.js';
import { describePg, pgReachable } from '../support/pg.js';
import { SQLITE_APPEND_ONLY_TRIGGERS } from '../../projections/audit/projection.js';
import { printedSchema } from '../../src/graphql/schema.js';

let g: TestGateway;

beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

const gid = (typename: string, id: string) => encodeGlobalID(typename, id);

/** Every entry the filter matches, paging through the connection. */
async function entries(as: Credentials, variables: AuditLogQueryVariables = {}): Promise<AuditEntryFieldsFragment[]> {
  const all: AuditEntryFieldsFragment[] = [];
  for (let after: string | null = null; ; ) {
    const page: Answer<AuditLogQuery> = await g.call(AuditLogDocument, { first: 100, ...variables, after }, as);
    expect(page.errors).toBeUndefined();
    all.push(...page.data!.auditLog.edges.map((e) => e.node));
    if (!page.data!.auditLog.pageInfo.hasNextPage) return all;
    after = page.data!.auditLog.pageInfo.endCursor!;
  }
}

const lifecycle = (as: Credentials, filter: AuditLogFilter = {}) => entries(as, { filter: { kind: 'LIFECYCLE', ...filter }, order: 'OLDEST_FIRST' });

async function ok<R>(answer: Promise<{ data: R | null | undefined; errors: unknown }>): Promise<R> {
  const { data, errors } = await answer;
  expect(errors).toBeUndefined();
  return data!;
}

describe('R23: lifecycle changes in the audit log', () => {
  it('R23: created, renamed, scoped, revoked, owner-disabled, role changed and limit changed appear, each with the credential that made it', async () => {
    const { org, admin } = await g.newOrg();
    const adminKeys = { apiKeyId: gid('ApiKey', org.apiKey.credential.id), applicationKeyId: gid('ApplicationKey', org.applicationKey.credential.id) };
    const adminId = gid('User', org.admin.id);

    const email = `bea-${randomBytes(3).toString('hex')}@example.test`;
    const { result: made, events } = await g.appendedBy(async () => {
      const createdKey = (await ok(g.call(CreateApiKeyDocument, { name: 'ci' }, admin))).createApiKey;
      const created = createdKey.apiKey;
      await ok(g.call(RenameApiKeyDocument, { id: created.id, name: 'ci-agents' }, admin));
      const robot = (await ok(g.call(CreateServiceAccountDocument, { name: 'robot', role: 'STANDARD' }, admin))).createServiceAccount.principal;
      const robotKey = (await ok(g.call(CreateApplicationKeyDocument, { name: 'deploy', ownerId: robot.id, scopes: ['dashboards_read', 'monitors_read'] }, admin)))
        .createApplicationKey;
      await ok(g.call(ScopeApplicationKeyDocument, { id: robotKey.applicationKey.id, scopes: ['dashboards_read'] }, admin));
      await ok(g.call(RevokeApplicationKeyDocument, { id: robotKey.applicationKey.id }, admin));
      const user = (await ok(g.call(InviteUserDocument, { email, name: 'Bea', role: 'STANDARD' }, admin))).inviteUser.principal;
      await ok(g.call(ChangeRoleDocument, { principalId: user.id, role: 'READ_ONLY' }, admin));
      const userKey = (await ok(g.call(CreateApplicationKeyDocument, { name: 'laptop', ownerId: user.id }, admin))).createApplicationKey;
      await ok(g.call(DisablePrincipalDocument, { principalId: user.id }, admin));
      await ok(g.call(RevokeApiKeyDocument, { id: created.id }, admin));
      const tokenKey = (await ok(g.call(CreateClientTokenDocument, { name: 'rum' }, admin))).createClientToken;
      return { createdKey, created, robot, robotKey, user, userKey, tokenKey, token: tokenKey.clientToken };
    });
    const { createdKey, created, robot, robotKey, user, userKey, tokenKey, token } = made;
    const limit = await g.appendedBy(() => g.app.keyledger.setApiKeyLimit(org.organization.id, 7));

    // The events behind the entries: each change appended exactly its events, secrets aside.
    const orgId = org.organization.id;
    const adminPrincipal = org.admin.id;
    expect(events).toEqual([
      apiKeyCreated({ orgId, keyId: created.id, name: 'ci', secret: createdKey.secret, createdBy: adminPrincipal }),
      apiKeyRenamed({ orgId, keyId: created.id, name: 'ci-agents', previousName: 'ci' }),
      serviceAccountCreated({ principalId: robot.id, orgId, name: 'robot', role: 'STANDARD' }),
      applicationKeyCreated({
        principalId: robot.id,
        orgId,
        keyId: robotKey.applicationKey.id,
        name: 'deploy',
        secret: robotKey.secret,
        scopes: ['dashboards_read', 'monitors_read'],
        createdBy: adminPrincipal,
      }),
      applicationKeyScoped({ principalId: robot.id, orgId, keyId: robotKey.applicationKey.id, scopes: ['dashboards_read'], previousScopes: ['dashboards_read', 'monitors_read'] }),
      applicationKeyRevoked({ principalId: robot.id, orgId, keyId: robotKey.applicationKey.id, reason: 'REVOKED' }),
      userInvited({ principalId: user.id, orgId, email, name: 'Bea', role: 'STANDARD' }),
      principalRoleChanged({ principalId: user.id, orgId, role: 'READ_ONLY', previousRole: 'STANDARD' }),
      applicationKeyCreated({ principalId: user.id, orgId, keyId: userKey.applicationKey.id, name: 'laptop', secret: userKey.secret, scopes: null, createdBy: adminPrincipal }),
      principalDisabled({ principalId: user.id, orgId }),
      applicationKeyOwnerDisabled({ principalId: user.id, orgId, keyId: userKey.applicationKey.id }),
      apiKeyRevoked({ orgId, keyId: created.id, reason: 'REVOKED' }),
      clientTokenCreated({ orgId, tokenId: token.id, name: 'rum', secret: tokenKey.secret, createdBy: adminPrincipal }),
    ]);
    expectNoSecretIn(events, createdKey.secret, robotKey.secret, userKey.secret, tokenKey.secret);
    expect(limit.events).toEqual([apiKeyLimitChanged({ orgId, apiKeyLimit: 7, previousLimit: 50 })]);

    const log = await lifecycle(admin);
    expect(log.map((e) => e.eventType)).toEqual([
      // init-org, by the operator
      'OrganizationCreated',
      'ApiKeyCreated',
      'UserInvited',
      'ApplicationKeyCreated',
      // the admin, through the API
      'ApiKeyCreated',
      'ApiKeyRenamed',
      'ServiceAccountCreated',
      'ApplicationKeyCreated',
      'ApplicationKeyScoped',
      'ApplicationKeyRevoked',
      'UserInvited',
      'PrincipalRoleChanged',
      'ApplicationKeyCreated',
      'PrincipalDisabled',
      'ApplicationKeyOwnerDisabled',
      'ApiKeyRevoked',
      'ClientTokenCreated',
      // the operator again
      'ApiKeyLimitChanged',
    ]);
    for (const entry of log) {
      expect(entry).toMatchObject({ kind: 'LIFECYCLE', outcome: 'ALLOWED', errorCode: null, rootFields: null });
      expect(entry.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(entry.details).not.toMatch(/digest/);
    }
    // The operator's changes carry no credential; the admin's name the admin's keys.
    for (const entry of [...log.slice(0, 4), log[17]!]) expect(entry, entry.eventType).toMatchObject({ apiKeyId: null, applicationKeyId: null, principal: null });
    for (const entry of log.slice(4, 17)) expect(entry, entry.eventType).toMatchObject({ ...adminKeys, clientTokenId: null, principal: { id: adminId, name: 'Ada Admin' } });
    // Each names its subject, and says what changed.
    expect(log[0]!.subjectId).toBe(gid('Organization', org.organization.id));
    expect(log[5]).toMatchObject({ subjectId: created.id });
    expect(JSON.parse(log[5]!.details!)).toMatchObject({ name: 'ci-agents', previousName: 'ci' });
    expect(log[8]).toMatchObject({ subjectId: robotKey.applicationKey.id });
    expect(JSON.parse(log[8]!.details!)).toMatchObject({ scopes: ['dashboards_read'], previousScopes: ['dashboards_read', 'monitors_read'] });
    expect(log[11]).toMatchObject({ subjectId: user.id });
    expect(JSON.parse(log[11]!.details!)).toMatchObject({ role: 'read_only', previousRole: 'standard' });
    expect(log[13]).toMatchObject({ subjectId: user.id });
    expect(log[14]).toMatchObject({ subjectId: userKey.applicationKey.id });
    expect(JSON.parse(log[14]!.details!)).toMatchObject({ reason: 'OWNER_DISABLED' });
    expect(log[16]).toMatchObject({ subjectId: token.id });
    expect(JSON.parse(log[17]!.details!)).toEqual({ orgId: org.organization.id, apiKeyLimit: 7, previousLimit: 50 });
    // In chain order.
    const orgSeqs = log.map((e) => e.orgSeq);
    expect(orgSeqs).toEqual([...orgSeqs].sort((a, b) => a - b));
    expect(log[0]).toMatchObject({ orgSeq: 1, prevHash: '0'.repeat(64) });
    // One entry per appended event, in the order they were appended.
    expect(log.slice(4).map((e) => e.eventType)).toEqual([...events, ...limit.events].map((e) => e.type));
  });

  it('R23: a change names the credential that made it, not the organization admin', async () => {
    const ops = await member(g, 'ADMIN', { scopes: ['api_keys_write', 'api_keys_read'] });
    const name = `by-member-${randomBytes(3).toString('hex')}`;
    const { result, events } = await g.appendedBy(() => g.call(CreateApiKeyDocument, { name }, ops.credentials));
    expect(result.errors).toBeUndefined();
    const made = result.data!.createApiKey.apiKey;
    // The event names its creator, the member, not the admin who made the member's key.
    expect(events).toEqual([apiKeyCreated({ orgId: g.org.organization.id, keyId: made.id, name, secret: result.data!.createApiKey.secret, createdBy: ops.id })]);
    const [entry] = await lifecycle(g.admin, { credentialId: ops.keyId });
    expect(entry).toMatchObject({
      eventType: 'ApiKeyCreated',
      subjectId: made.id,
      applicationKeyId: ops.keyId,
      apiKeyId: gid('ApiKey', g.org.apiKey.credential.id),
      principal: { id: ops.id },
    });
  });

  it('R20: an organization sees only its own entries', async () => {
    const { admin } = await g.newOrg();
    const other = await g.newOrg();
    await ok(g.call(CreateApiKeyDocument, { name: 'elsewhere' }, other.admin));
    const log = await lifecycle(admin);
    expect(log.map((e) => e.eventType)).toEqual(['OrganizationCreated', 'ApiKeyCreated', 'UserInvited', 'ApplicationKeyCreated']);
    // Another organization's credential filters to nothing.
    expect(await lifecycle(admin, { credentialId: gid('ApiKey', other.org.apiKey.credential.id) })).toEqual([]);
  });
});

describe('auditLog: filters and order', () => {
  it('filters by credential, principal, kind, request and time; a malformed id is NOT_FOUND', async () => {
    const { org, admin } = await g.newOrg();
    const robot = (await ok(g.call(CreateServiceAccountDocument, { name: 'robot', role: 'STANDARD' }, admin))).createServiceAccount.principal;
    const key = (await ok(g.call(CreateApplicationKeyDocument, { name: 'ci', ownerId: robot.id, scopes: ['dashboards_read'] }, admin))).createApplicationKey;
    const all = await lifecycle(admin);
    expect(all).toHaveLength(6);

    const byAdminKey = await lifecycle(admin, { credentialId: gid('ApplicationKey', org.applicationKey.credential.id) });
    expect(byAdminKey.map((e) => e.eventType)).toEqual(['ServiceAccountCreated', 'ApplicationKeyCreated']);
    expect(await lifecycle(admin, { credentialId: gid('ApiKey', org.apiKey.credential.id) })).toEqual(byAdminKey);
    expect(await lifecycle(admin, { principalId: gid('User', org.admin.id) })).toEqual(byAdminKey);
    // The new key has not acted yet.
    expect(await lifecycle(admin, { credentialId: key.applicationKey.id })).toEqual([]);
    expect(await lifecycle(admin, { requestId: all[0]!.requestId! })).toHaveLength(4);

    const from = all[4]!.at;
    expect((await lifecycle(admin, { from })).map((e) => e.eventType)).toEqual(['ServiceAccountCreated', 'ApplicationKeyCreated']);
    expect((await lifecycle(admin, { to: from })).map((e) => e.eventType)).toEqual(['OrganizationCreated', 'ApiKeyCreated', 'UserInvited', 'ApplicationKeyCreated']);
    expect(await lifecycle(admin, { outcome: 'DENIED' })).toEqual([]);

    for (const credentialId of ['nonsense', gid('User', org.admin.id)]) {
      expect((await g.call(AuditLogDocument, { filter: { credentialId } }, admin)).code, credentialId).toBe('NOT_FOUND');
    }
  });

  it('pages newest first by default and oldest first on request, with totalCount', async () => {
    const { admin } = await g.newOrg();
    for (const name of ['a', 'b', 'c', 'd']) await ok(g.call(CreateApiKeyDocument, { name }, admin));
    const filter: AuditLogFilter = { kind: 'LIFECYCLE' };

    const newest = await g.call(AuditLogDocument, { filter, first: 3 }, admin);
    expect(newest.data?.auditLog.totalCount).toBe(8);
    const seqs = newest.data!.auditLog.edges.map((e) => e.node.orgSeq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    expect(newest.data!.auditLog.edges[0]!.node.details).toContain('"name":"d"');

    const forward = await entries(admin, { filter, order: 'OLDEST_FIRST', first: 3 });
    const backward = await entries(admin, { filter, order: 'NEWEST_FIRST', first: 3 });
    expect(forward).toHaveLength(8);
    expect(backward).toEqual([...forward].reverse());
    expect(new Set(forward.map((e) => e.seq)).size).toBe(8);
    expect(forward.map((e) => e.seq)).toEqual(forward.map((e) => e.seq).sort((a, b) => a - b));

    // A cursor belongs to its order.
    const cursor = newest.data!.auditLog.pageInfo.endCursor!;
    expect((await g.call(AuditLogDocument, { filter, order: 'OLDEST_FIRST', after: cursor }, admin)).code).toBe('BAD_USER_INPUT');
    expect((await g.call(AuditLogDocument, { first: 101 }, admin)).code).toBe('BAD_USER_INPUT');
  });
});

describe('R24: integrity', () => {
  it('R24: auditIntegrity reports an intact chain, whole or for a time range', async () => {
    const { admin } = await g.newOrg();
    await ok(g.call(CreateApiKeyDocument, { name: 'x' }, admin));
    const whole = (await ok(g.call(AuditIntegrityDocument, {}, admin))).auditIntegrity;
    expect(whole).toMatchObject({ ok: true, firstBroken: null });
    expect(whole.checked).toBeGreaterThanOrEqual(5);
    const log = await lifecycle(admin);
    const ranged = (await ok(g.call(AuditIntegrityDocument, { from: log[4]!.at, to: new Date(Date.parse(log[4]!.at) + 1).toISOString() }, admin))).auditIntegrity;
    expect(ranged).toMatchObject({ ok: true, firstBroken: null });
    expect(ranged.checked).toBeGreaterThanOrEqual(1);
  });

  it('R24: no operation of the API changes or deletes an entry', () => {
    const mutations = /type Mutation \{([^}]*)\}/.exec(printedSchema())?.[1] ?? '';
    expect(mutations).not.toBe('');
    expect(mutations).not.toMatch(/audit/i);
  });

  it('R24: after an entry is changed behind the API, auditIntegrity names it', async () => {
    const { admin } = await g.newOrg();
    const created = (await ok(g.call(CreateApiKeyDocument, { name: 'target' }, admin))).createApiKey.apiKey;
    const [entry] = await lifecycle(admin).then((log) => log.filter((e) => e.subjectId === created.id));
    const db = g.app.readStore.db;
    await expect(sql`update audit_log set details = ${'{}'} where seq = ${entry!.seq}`.execute(db)).rejects.toThrow(/append-only/);

    for (const name of Object.keys(SQLITE_APPEND_ONLY_TRIGGERS)) await sql.raw(`drop trigger ${name}`).execute(db);
    try {
      await sql`update audit_log set details = ${JSON.stringify({ name: 'innocent' })} where seq = ${entry!.seq}`.execute(db);
    } finally {
      for (const statement of Object.values(SQLITE_APPEND_ONLY_TRIGGERS)) await sql.raw(statement).execute(db);
    }
    const result = (await ok(g.call(AuditIntegrityDocument, {}, admin))).auditIntegrity;
    expect(result).toMatchObject({ ok: false, firstBroken: { seq: entry!.seq, orgSeq: entry!.orgSeq, at: entry!.at, reason: 'HASH_MISMATCH' } });
    expect(result.firstBroken!.eventId).toMatch(/^[0-9a-f-]{36}$/);
    // Another organization's chain is not affected.
    expect((await ok(g.call(AuditIntegrityDocument, {}, g.admin))).auditIntegrity.ok).toBe(true);
  });
});

describe('audit_logs_read', () => {
  it('R21: without audit_logs_read, the audit log, its integrity and the compliance report are FORBIDDEN (403)', async () => {
    const standard = await member(g, 'STANDARD');
    const scopedAdmin = await member(g, 'ADMIN', { scopes: ['api_keys_read'] });
    for (const as of [standard.credentials, scopedAdmin.credentials]) {
      for (const answer of [await g.call(AuditLogDocument, {}, as), await g.call(AuditIntegrityDocument, {}, as), await g.call(ComplianceReportDocument, {}, as)]) {
        expect(answer.status).toBe(403);
        expect(answer.code).toBe('FORBIDDEN');
      }
    }
    const auditor = await member(g, 'ADMIN', { scopes: ['audit_logs_read'] });
    expect((await g.call(AuditLogDocument, { first: 1 }, auditor.credentials)).errors).toBeUndefined();
  });
});

describe('complianceReport', () => {
  it('counts active credentials by kind and lists unscoped keys, rotation due, API keys of disabled creators and revocations by reason', async () => {
    const { org, admin } = await g.newOrg();
    const before = new Date().toISOString();
    const revokedKey = (await ok(g.call(CreateApiKeyDocument, { name: 'short-lived' }, admin))).createApiKey.apiKey;
    const robot = (await ok(g.call(CreateServiceAccountDocument, { name: 'robot', role: 'STANDARD' }, admin))).createServiceAccount.principal;
    await ok(g.call(CreateApplicationKeyDocument, { name: 'scoped', ownerId: robot.id, scopes: ['dashboards_read'] }, admin));
    const leaver = (await ok(g.call(InviteUserDocument, { email: 'leaver@example.test', name: 'Leaver', role: 'ADMIN' }, admin))).inviteUser.principal;
    const leaverKey = (await ok(g.call(CreateApplicationKeyDocument, { name: 'leaver-key', ownerId: leaver.id }, admin))).createApplicationKey;
    const orphan = (await ok(g.call(CreateApiKeyDocument, { name: 'orphan' }, { apiKey: admin.apiKey, applicationKey: leaverKey.secret }))).createApiKey.apiKey;
    // R13: disabling the leaver revokes its application key, not the API key it made.
    const leaving = await g.appendedBy(() => ok(g.call(DisablePrincipalDocument, { principalId: leaver.id }, admin)));
    expect(leaving.events).toEqual([
      principalDisabled({ principalId: leaver.id, orgId: org.organization.id }),
      applicationKeyOwnerDisabled({ principalId: leaver.id, orgId: org.organization.id, keyId: leaverKey.applicationKey.id }),
    ]);
    await ok(g.call(RevokeApiKeyDocument, { id: revokedKey.id }, admin));
    await ok(g.call(CreateClientTokenDocument, { name: 'rum' }, admin));

    const report = (await ok(g.call(ComplianceReportDocument, {}, admin))).complianceReport;
    // Active: the default API key and "orphan"; the admin's unscoped key and the robot's scoped one; one client token.
    expect(report.activeCredentials).toEqual({ apiKeys: 2, applicationKeys: 2, clientTokens: 1, total: 5 });
    expect(report.unscopedApplicationKeys).toMatchObject({
      totalCount: 1,
      items: [{ id: gid('ApplicationKey', org.applicationKey.credential.id), kind: 'APPLICATION_KEY', scopes: null }],
    });
    expect(report.apiKeysCreatedByDisabledPrincipals).toMatchObject({ totalCount: 1, items: [{ id: orphan.id, name: 'orphan', createdBy: { id: leaver.id } }] });
    expect(report.revocations.total).toBe(2);
    expect(report.revocations.byReason).toEqual(
      expect.arrayContaining([
        { reason: 'REVOKED', count: 1 },
        { reason: 'OWNER_DISABLED', count: 1 },
      ]),
    );
    expect(report.rotationDue.totalCount).toBe(0);
    expect(report).toMatchObject({ unusedForDays: 90, olderThanDays: 90 });

    // 100 days on, every one of them is due for rotation; before the org existed, nothing was active.
    const later = (await ok(g.call(ComplianceReportDocument, { asOf: new Date(Date.now() + 100 * 86_400_000).toISOString() }, admin))).complianceReport;
    expect(later.rotationDue.totalCount).toBe(5);
    expect(later.revocations.total).toBe(0);
    const earlier = (await ok(g.call(ComplianceReportDocument, { asOf: new Date(Date.parse(before) - 60_000).toISOString() }, admin))).complianceReport;
    expect(earlier.activeCredentials.total).toBe(0);
    // A revocation window that ends before the revocations counts none.
    expect((await ok(g.call(ComplianceReportDocument, { revokedTo: before }, admin))).complianceReport.revocations.total).toBe(0);
    expect((await g.call(ComplianceReportDocument, { unusedForDays: -1 }, admin)).code).toBe('BAD_USER_INPUT');
  });
});

describe('R22: requests in the audit log (needs the gateway to append request events)', () => {
  const headers = (as: Credentials, requestId: string) => ({
    'x-api-key': as.apiKey,
    'x-application-key': as.applicationKey,
    'x-request-id': requestId,
    'user-agent': 'audit-test/1.0',
  });

  async function requestEntry(requestId: string, as: Credentials = g.admin): Promise<AuditEntryFieldsFragment> {
    let found: AuditEntryFieldsFragment | undefined;
    await vi.waitUntil(
      async () => {
        [found] = await entries(as, { filter: { kind: 'REQUEST', requestId } });
        return found !== undefined;
      },
      { timeout: 5000, interval: 50 },
    );
    return found!;
  }

  it('R22: an allowed request appends one entry: time, request id, keys, principal, operation, outcome, IP and user agent', async () => {
    const requestId = `r22-${randomUUID()}`;
    await ok(g.call(ViewerDocument, {}, headers(g.admin, requestId)));
    const entry = await requestEntry(requestId);
    expect(entry).toMatchObject({
      kind: 'REQUEST',
      eventType: 'RequestAuthenticated',
      requestId,
      apiKeyId: gid('ApiKey', g.org.apiKey.credential.id),
      applicationKeyId: gid('ApplicationKey', g.org.applicationKey.credential.id),
      clientTokenId: null,
      principal: { id: gid('User', g.org.admin.id) },
      operationType: 'query',
      operationName: 'Viewer',
      rootFields: ['viewer'],
      outcome: 'ALLOWED',
      errorCode: null,
      userAgent: 'audit-test/1.0',
      subjectId: null,
      details: null,
    });
    expect(entry.clientIp).toMatch(/127\.0\.0\.1/);
    expect(Date.parse(entry.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('R22: denied and failed requests are entries too, with their error codes; a mutation and its changes share the request id', async () => {
    const standard = await member(g, 'STANDARD');
    const denied = `r22-denied-${randomUUID()}`;
    expect((await g.call(AuditLogDocument, {}, headers(standard.credentials, denied))).code).toBe('FORBIDDEN');
    expect(await requestEntry(denied)).toMatchObject({
      eventType: 'RequestDenied',
      outcome: 'DENIED',
      errorCode: 'FORBIDDEN',
      principal: { id: standard.id },
      applicationKeyId: standard.keyId,
      rootFields: ['auditLog'],
    });

    const failed = `r22-failed-${randomUUID()}`;
    expect((await g.call(CreateApiKeyDocument, { name: '   ' }, headers(g.admin, failed))).code).toBe('BLANK_NAME');
    expect(await requestEntry(failed)).toMatchObject({ outcome: 'FAILED', errorCode: 'BLANK_NAME', operationType: 'mutation', rootFields: ['createApiKey'] });

    const made = `r22-made-${randomUUID()}`;
    await ok(g.call(CreateApiKeyDocument, { name: `r22-${randomBytes(3).toString('hex')}` }, headers(g.admin, made)));
    await requestEntry(made);
    expect((await entries(g.admin, { filter: { requestId: made }, order: 'OLDEST_FIRST' })).map((e) => e.kind)).toEqual(['LIFECYCLE', 'REQUEST']);
  });

  it('R22: filters by operation (name or root field) and outcome', async () => {
    const requestId = `r22-op-${randomUUID()}`;
    await ok(g.call(ViewerDocument, {}, headers(g.admin, requestId)));
    await requestEntry(requestId);
    const byName = await entries(g.admin, { filter: { operation: 'Viewer', requestId } });
    const byField = await entries(g.admin, { filter: { operation: 'viewer', requestId } });
    expect(byName).toHaveLength(1);
    expect(byField).toEqual(byName);
    expect(await entries(g.admin, { filter: { operation: 'apiKeys', requestId } })).toEqual([]);
    const denied = await entries(g.admin, { filter: { outcome: 'DENIED', kind: 'REQUEST' }, first: 100 });
    expect(denied.every((e) => e.outcome === 'DENIED')).toBe(true);
  });

  it('R22: credentials used by requests leave the never-used list of the compliance report', async () => {
    const { admin } = await g.newOrg();
    const requestId = `r22-usage-${randomUUID()}`;
    await ok(g.call(ViewerDocument, {}, headers(admin, requestId)));
    await requestEntry(requestId, admin);
    let report: Awaited<ReturnType<typeof reportOf>> | undefined;
    const reportOf = async () => (await ok(g.call(ComplianceReportDocument, {}, admin))).complianceReport;
    await vi.waitUntil(async () => (report = await reportOf()).neverUsedCredentials.totalCount === 0, { timeout: 5000, interval: 50 });
    expect(report!.unusedCredentials.totalCount).toBe(0);
    // 100 days on, both of the admin's keys are unused for 90 days.
    const later = (await ok(g.call(ComplianceReportDocument, { asOf: new Date(Date.now() + 100 * 86_400_000).toISOString() }, admin))).complianceReport;
    expect(later.unusedCredentials.totalCount).toBe(2);
  });

  it('R22: no secret reaches the audit log', async () => {
    const text = JSON.stringify(await g.app.readStore.db.selectFrom('audit_log').selectAll().execute());
    expect(g.secrets.size).toBeGreaterThan(0);
    for (const secret of g.secrets) expect(text.includes(secret), `the secret ending ${secret.slice(-4)}`).toBe(false);
  });
});

const pgAvailable = await pgReachable();

describePg(pgAvailable, 'the audit log on PostgreSQL', () => {
  let pg: TestGateway;
  beforeAll(async () => {
    pg = await startGateway({ store: 'postgres' });
  });
  afterAll(async () => {
    await pg?.close();
  });

  it('R22, R23, R24: entries, filters, integrity and the compliance report read the same from PostgreSQL', async () => {
    const requestId = `pg-${randomUUID()}`;
    const { result: made, events } = await pg.appendedBy(() =>
      pg.call(CreateApiKeyDocument, { name: 'pg-key' }, { 'x-api-key': pg.admin.apiKey, 'x-application-key': pg.admin.applicationKey, 'x-request-id': requestId }),
    );
    expect(made.errors).toBeUndefined();
    const issued = made.data!.createApiKey;
    expect(events).toEqual([apiKeyCreated({ orgId: pg.org.organization.id, keyId: issued.apiKey.id, name: 'pg-key', secret: issued.secret, createdBy: pg.org.admin.id })]);
    expectNoSecretIn(events, issued.secret);
    let log: AuditEntryFieldsFragment[] = [];
    await vi.waitUntil(
      async () => {
        const answer = await pg.call(AuditLogDocument, { filter: { requestId }, order: 'OLDEST_FIRST' });
        log = answer.data?.auditLog.edges.map((e) => e.node) ?? [];
        return log.length === 2;
      },
      { timeout: 5000, interval: 50 },
    );
    expect(log.map((e) => [e.kind, e.eventType])).toEqual([
      ['LIFECYCLE', 'ApiKeyCreated'],
      ['REQUEST', 'RequestAuthenticated'],
    ]);
    expect(typeof log[0]!.seq).toBe('number');
    expect(log[1]!.orgSeq).toBe(log[0]!.orgSeq + 1);
    const byField = await pg.call(AuditLogDocument, { filter: { requestId, operation: 'createApiKey' } });
    expect(byField.data?.auditLog.edges.map((e) => e.node.kind)).toEqual(['REQUEST']);
    expect((await pg.call(AuditLogDocument, { filter: { requestId, operation: 'apiKeys' } })).data?.auditLog.totalCount).toBe(0);

    const integrity = await pg.call(AuditIntegrityDocument, {});
    expect(integrity.data?.auditIntegrity).toMatchObject({ ok: true, firstBroken: null });
    const report = await pg.call(ComplianceReportDocument, {});
    expect(report.errors).toBeUndefined();
    expect(report.data?.complianceReport.activeCredentials).toEqual({ apiKeys: 2, applicationKeys: 1, clientTokens: 0, total: 3 });
  });
});
