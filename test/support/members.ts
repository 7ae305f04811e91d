// Principals and keys for API tests, made by the org's admin over GraphQL. Each step checks the
// lifecycle event it appended (inviteUser or createServiceAccount, then createApplicationKey
// with ownerId).

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { CreateApplicationKeyDocument, CreateServiceAccountDocument, InviteUserDocument, type Role } from '../gql/graphql.js';
import { actingAs, applicationKeyCreated, expectNoSecretIn, serviceAccountCreated, userInvited } from './events.js';
import type { Credentials, TestGateway } from './gateway.js';

export interface Member {
  /** The principal's global id. */
  readonly id: string;
  readonly kind: 'USER' | 'SERVICE_ACCOUNT';
  /** The org admin's API key with this principal's application key. */
  readonly credentials: Credentials;
  /** The application key's global id. */
  readonly keyId: string;
  /** The application key's name. */
  readonly keyName: string;
}

export async function member(g: TestGateway, role: Role, options: { kind?: 'USER' | 'SERVICE_ACCOUNT'; scopes?: string[] | null; as?: Credentials } = {}): Promise<Member> {
  const as = options.as ?? g.admin;
  const acting = await actingAs(g, as);
  const suffix = randomBytes(4).toString('hex');
  const kind = options.kind ?? 'USER';
  const email = `user-${suffix}@example.test`;
  const name = kind === 'USER' ? `User ${suffix}` : `robot-${suffix}`;
  const made = await g.appendedBy(async () =>
    kind === 'USER'
      ? (await g.call(InviteUserDocument, { email, name, role }, as)).data?.inviteUser.principal
      : (await g.call(CreateServiceAccountDocument, { name, role }, as)).data?.createServiceAccount.principal,
  );
  const created = made.result;
  expect(created, 'member created').toBeTruthy();
  expect(made.events, 'the member creation appends its one event').toEqual([
    kind === 'USER'
      ? userInvited({ principalId: created!.id, orgId: acting.orgId, email, name, role })
      : serviceAccountCreated({ principalId: created!.id, orgId: acting.orgId, name, role }),
  ]);
  const keyName = `key-${suffix}`;
  const scopes = options.scopes ?? null;
  const { result: key, events } = await g.appendedBy(() => g.call(CreateApplicationKeyDocument, { name: keyName, ownerId: created!.id, scopes }, as));
  expect(key.errors, 'member key created').toBeUndefined();
  const issued = key.data!.createApplicationKey;
  // R6, R15: the key is created in its owner's stream, with the acting principal as its creator.
  expect(events, 'the member key appends its one event').toEqual([
    applicationKeyCreated({
      principalId: created!.id,
      orgId: acting.orgId,
      keyId: issued.applicationKey.id,
      name: keyName,
      secret: issued.secret,
      scopes,
      createdBy: acting.principalId,
    }),
  ]);
  expectNoSecretIn(events, issued.secret);
  return { id: created!.id, kind, credentials: { apiKey: g.admin.apiKey, applicationKey: issued.secret }, keyId: issued.applicationKey.id, keyName };
}

/** Runs `work` and asserts it left the event store as it was. */
export async function expectNoNewEvent<T>(g: TestGateway, work: () => Promise<T>): Promise<T> {
  const before = await g.eventCount();
  const result = await work();
  expect(await g.eventCount(), 'a refused command appends no event').toBe(before);
  return result;
}
