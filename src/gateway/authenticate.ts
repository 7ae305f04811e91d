// Authentication of a GraphQL request (R4, R11, R14, R21): an active API key and an active
// application key of the same organization, whose owner is active. A presented secret is
// compared by digest; no secret reaches a message, a log line or an event.

import type { Kysely } from 'kysely';
import type { PrincipalActor } from '../domain/actor.js';
import { effectivePermissions, type Permission, type Role } from '../domain/permissions.js';
import { digestSecret, recognizeSecret } from '../domain/secrets.js';
import type { Authentication } from '../graphql/context.js';
import type { ReadModels } from '../../projections/index.js';

export interface PresentedCredentials {
  readonly apiKey: string | null;
  readonly applicationKey: string | null;
  /** A browser's Origin, when the request came from a page of another origin. */
  readonly foreignOrigin: string | null;
}

type HeaderBag = { get(name: string): string | null };

/**
 * `X-API-Key` / `X-Application-Key`, or their `DD-` aliases. An `Origin` other than the
 * gateway's own marks a browser page of another site (GraphiQL, served here, is same-origin).
 */
export function credentialsFromHeaders(headers: HeaderBag, ownOrigin: string): PresentedCredentials {
  const first = (...names: string[]) => {
    for (const name of names) {
      const value = headers.get(name)?.trim();
      if (value) return value;
    }
    return null;
  };
  const origin = headers.get('origin');
  return {
    apiKey: first('x-api-key', 'dd-api-key'),
    applicationKey: first('x-application-key', 'dd-application-key'),
    foreignOrigin: origin && origin !== 'null' && origin !== ownOrigin ? origin : null,
  };
}

const fail = (reason: string): Authentication => ({ ok: false, reason });

export async function authenticate(presented: PresentedCredentials, db: Kysely<ReadModels>, now: Date): Promise<Authentication> {
  const { apiKey, applicationKey } = presented;
  if (apiKey === null && applicationKey === null) return fail('no credentials: send an API key (X-API-Key) and an application key (X-Application-Key)');
  const apiKind = apiKey === null ? null : recognizeSecret(apiKey);
  const appKind = applicationKey === null ? null : recognizeSecret(applicationKey);
  if (apiKind === 'CLIENT_TOKEN' || appKind === 'CLIENT_TOKEN') return fail('client tokens authenticate browser intake only, never the API (R11)');
  if (apiKey !== null && apiKind !== 'API_KEY') return fail('X-API-Key does not hold a valid API key');
  // R12: an API key in a page of another site is exposed to everyone who loads it.
  if (presented.foreignOrigin !== null && apiKey !== null) {
    return { ok: false, code: 'API_KEY_IN_BROWSER', reason: 'API keys cannot be used from a browser page of another origin; browsers use client tokens (R12)' };
  }
  if (applicationKey !== null && appKind !== 'APPLICATION_KEY') return fail('X-Application-Key does not hold a valid application key');
  if (apiKey === null) return fail('an application key needs an API key of the same organization (X-API-Key)');
  if (applicationKey === null) return fail('an API key alone does not open the GraphQL API: send an application key too (X-Application-Key) (R4)');

  const apiDigest = digestSecret(apiKey);
  const appDigest = digestSecret(applicationKey);
  const rows = await db
    .selectFrom('credentials as c')
    .leftJoin('principals as p', 'p.id', 'c.owner_id')
    .select(['c.id', 'c.kind', 'c.org_id', 'c.digest', 'c.status', 'c.expires_at', 'c.scopes', 'c.owner_id', 'p.role as owner_role', 'p.status as owner_status', 'p.kind as owner_kind'])
    .where('c.digest', 'in', [apiDigest, appDigest])
    .execute();
  const api = rows.find((row) => row.digest === apiDigest && row.kind === 'API_KEY');
  const app = rows.find((row) => row.digest === appDigest && row.kind === 'APPLICATION_KEY');
  if (!api || api.status !== 'ACTIVE') return fail('the API key is unknown or revoked');
  if (!app || app.status !== 'ACTIVE') return fail('the application key is unknown or revoked');
  if (app.expires_at !== null && app.expires_at <= now.toISOString()) return fail('the application key has expired');
  if (api.org_id !== app.org_id) return fail('the API key and the application key belong to different organizations');
  if (app.owner_id === null || app.owner_status !== 'ACTIVE' || !app.owner_role || !app.owner_kind) return fail("the application key's owner is disabled (R14)");

  const role = app.owner_role as Role;
  const scopes = app.scopes === null ? null : (JSON.parse(app.scopes) as Permission[]);
  const actor: PrincipalActor = {
    kind: 'principal',
    orgId: app.org_id,
    principalId: app.owner_id,
    principalKind: app.owner_kind,
    role,
    apiKeyId: api.id,
    appKeyId: app.id,
    scopes,
    permissions: effectivePermissions(role, scopes),
  };
  return { ok: true, actor };
}
