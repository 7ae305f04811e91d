// `verifyCredentials`: how other services (intake, product APIs) check the credentials they were
// handed. Callable without credential headers: the credentials are the arguments. Answered from
// the CredentialIndex, with no store I/O; audited in the credential's organization (R22).

import type { PrincipalKind } from '../../domain/events.js';
import type { Permission } from '../../domain/permissions.js';
import { verify, type Recognized, type VerificationCode } from '../../domain/verification.js';
import { redactSecrets } from '../../platform/redact.js';
import { builder } from '../core/builder.js';
import { globalId, PRINCIPAL_TYPENAME } from '../core/ids.js';
import { recognizing } from '../core/recognizing.js';

const CredentialUsage = builder.enumType('CredentialUsage', {
  values: {
    AGENT_INTAKE: { description: 'An agent submitting data: an API key (R4).' },
    BROWSER_INTAKE: { description: 'A browser collector: a client token, from an allowed origin (R11, R12).' },
    API: { description: 'A product API: an API key and an application key of one organization.' },
  },
});

const VerificationCodeEnum = builder.enumType('VerificationCode', {
  values: [
    'MISSING_CREDENTIALS',
    'MALFORMED_CREDENTIAL',
    'UNKNOWN_CREDENTIAL',
    'WRONG_CREDENTIAL_KIND',
    'REVOKED',
    'EXPIRED',
    'OWNER_DISABLED',
    'ORG_MISMATCH',
    'API_KEY_IN_BROWSER',
    'ORIGIN_NOT_ALLOWED',
    'CLIENT_TOKEN_NOT_ALLOWED',
  ] as const,
});

interface VerificationShape {
  readonly valid: boolean;
  readonly code: VerificationCode | null;
  readonly reason: string | null;
  readonly recognized: Recognized | null;
  /** What the audit entry records as the refusal, when the credentials were refused. */
  readonly refusal: VerificationCode | null;
  readonly permissions: readonly Permission[];
  readonly requiredScopesGranted: boolean;
  readonly missingScopes: readonly string[];
  readonly ownerKind: PrincipalKind | null;
}

const VerificationResult = builder.objectRef<VerificationShape>('VerificationResult').implement({
  description: 'What the presented credentials are good for. Never echoes a secret.',
  fields: (t) => ({
    valid: t.exposeBoolean('valid'),
    code: t.field({ type: VerificationCodeEnum, nullable: true, description: 'Why not valid; null when valid.', resolve: (v) => v.code }),
    reason: t.string({ nullable: true, resolve: (v) => v.reason }),
    organizationId: t.id({ nullable: true, resolve: (v) => (v.recognized ? globalId('Organization', v.recognized.orgId) : null) }),
    apiKeyId: t.id({ nullable: true, resolve: (v) => (v.recognized?.apiKeyId ? globalId('ApiKey', v.recognized.apiKeyId) : null) }),
    applicationKeyId: t.id({ nullable: true, resolve: (v) => (v.recognized?.applicationKeyId ? globalId('ApplicationKey', v.recognized.applicationKeyId) : null) }),
    clientTokenId: t.id({ nullable: true, resolve: (v) => (v.recognized?.clientTokenId ? globalId('ClientToken', v.recognized.clientTokenId) : null) }),
    ownerId: t.id({
      nullable: true,
      description: "The application key's owner (a User or ServiceAccount id).",
      resolve: (v) => (v.recognized?.principalId && v.ownerKind ? globalId(PRINCIPAL_TYPENAME[v.ownerKind], v.recognized.principalId) : null),
    }),
    permissions: t.stringList({
      description: "Effective permissions (an application key's scopes within its owner's role; none for an API key or client token alone).",
      resolve: (v) => [...v.permissions],
    }),
    requiredScopesGranted: t.exposeBoolean('requiredScopesGranted'),
    // What the client asked for, echoed: a secret put there comes back redacted (R27).
    missingScopes: t.stringList({ resolve: (v) => v.missingScopes.map((scope) => redactSecrets(scope)) }),
  }),
});

builder.queryField('verifyCredentials', (t) =>
  t.field({
    type: VerificationResult,
    description: 'Checks credentials for intake or another service. Needs no credential headers.',
    args: {
      usage: t.arg({ type: CredentialUsage }),
      apiKey: t.arg.string({ required: false }),
      applicationKey: t.arg.string({ required: false }),
      clientToken: t.arg.string({ required: false }),
      origin: t.arg.string({ required: false, description: 'The browser Origin the intake saw, if any.' }),
      requiredScopes: t.arg.stringList({ required: false }),
    },
    // What it verified is what the request recognised: the audit path attributes the request to it.
    resolve: recognizing((_parent, args, context): VerificationShape => {
      const verification = verify(
        {
          usage: args.usage,
          apiKey: args.apiKey?.trim() || null,
          applicationKey: args.applicationKey?.trim() || null,
          clientToken: args.clientToken?.trim() || null,
          origin: args.origin ?? null,
          requiredScopes: args.requiredScopes ?? [],
        },
        context.credentials,
        context.now,
      );
      const principalId = verification.recognized?.principalId;
      const ownerKind = principalId ? (context.credentials.principal(principalId)?.kind ?? null) : null;
      if (!verification.valid) {
        const { code, reason } = verification.fault;
        const { recognized, missingScopes } = verification;
        return { valid: false, code, reason, recognized, refusal: code, permissions: [], requiredScopesGranted: false, missingScopes, ownerKind };
      }
      const { recognized, permissions, requiredScopesGranted, missingScopes } = verification;
      return { valid: true, code: null, reason: null, recognized, refusal: null, permissions, requiredScopesGranted, missingScopes, ownerKind };
    }),
  }),
);
