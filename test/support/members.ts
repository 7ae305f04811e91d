// Principals and keys for API tests, made by the org's admin over GraphQL.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { CreateApplicationKeyDocument, CreateServiceAccountDocument, InviteUserDocument, type Role } from '../gql/graphql.js';
import type { Credentials, TestGateway } from './gateway.js';

export interface Member {
  /** The principal's global id. */
  readonly id: string;
  readonly kind: 'USER' | 'SERVICE_ACCOUNT';
  /** The org admin's API key with this principal's application key. */
  readonly credentials: Credentials;
  /** The application key's global id. */
  readonly keyId: string;
}

export async function member(g: TestGateway, role: Role, options: { kind?: 'USER' | 'SERVICE_ACCOUNT'; scopes?: string[] | null; as?: Credentials } = {}): Promise<Member> {
  const as = options.as ?? g.admin;
  const suffix = randomBytes(4).toString('hex');
  const kind = options.kind ?? 'USER';
  const created =
    kind === 'USER'
      ? (await g.call(InviteUserDocument, { email: `user-${suffix}@example.test`, name: `User ${suffix}`, role }, as)).data?.inviteUser.principal
      : (await g.call(CreateServiceAccountDocument, { name: `robot-${suffix}`, role }, as)).data?.createServiceAccount.principal;
  expect(created, 'member created').toBeTruthy();
  const key = await g.call(CreateApplicationKeyDocument, { name: `key-${suffix}`, ownerId: created!.id, scopes: options.scopes ?? null }, as);
  expect(key.errors, 'member key created').toBeUndefined();
  const issued = key.data!.createApplicationKey;
  return { id: created!.id, kind, credentials: { apiKey: g.admin.apiKey, applicationKey: issued.secret }, keyId: issued.applicationKey.id };
}

/** Runs `work` and asserts it left the event store as it was. */
export async function expectNoNewEvent<T>(g: TestGateway, work: () => Promise<T>): Promise<T> {
  const before = await g.eventCount();
  const result = await work();
  expect(await g.eventCount(), 'a refused command appends no event').toBe(before);
  return result;
}
