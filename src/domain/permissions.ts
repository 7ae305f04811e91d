// The permission catalogue and the built-in roles (spec section 3): the single source for
// authorization checks, the `scopes` query and the documentation.

export const PERMISSIONS = [
  { id: 'api_keys_read', title: 'Read API keys', description: 'List and read API keys (never the secret).' },
  { id: 'api_keys_write', title: 'Write API keys', description: 'Create, rename and rotate API keys.' },
  { id: 'api_keys_delete', title: 'Revoke API keys', description: 'Revoke API keys.' },
  { id: 'client_tokens_read', title: 'Read client tokens', description: 'List and read client tokens.' },
  { id: 'client_tokens_write', title: 'Write client tokens', description: 'Create, rename and revoke client tokens.' },
  { id: 'user_app_keys', title: 'Own application keys', description: "Create, scope, rename and revoke one's own application keys." },
  { id: 'org_app_keys_read', title: 'Read all application keys', description: 'List and read every application key of the organization.' },
  { id: 'org_app_keys_write', title: 'Manage all application keys', description: 'Create, scope, rename and revoke application keys of any user of the organization.' },
  { id: 'service_account_write', title: 'Manage service accounts', description: 'Create and disable service accounts; create, scope, rename and revoke their application keys.' },
  { id: 'user_access_read', title: 'Read users', description: 'List users, service accounts and roles.' },
  { id: 'user_access_manage', title: 'Manage users', description: 'Invite users, change roles, disable users.' },
  { id: 'audit_logs_read', title: 'Read the audit log', description: 'Read the audit log and compliance reports.' },
  { id: 'dashboards_read', title: 'Read dashboards', description: 'Product permission checked by other services through verifyCredentials.' },
  { id: 'dashboards_write', title: 'Write dashboards', description: 'Product permission checked by other services through verifyCredentials.' },
  { id: 'monitors_read', title: 'Read monitors', description: 'Product permission checked by other services through verifyCredentials.' },
  { id: 'monitors_write', title: 'Write monitors', description: 'Product permission checked by other services through verifyCredentials.' },
] as const;

export type Permission = (typeof PERMISSIONS)[number]['id'];

export const PERMISSION_IDS: readonly Permission[] = PERMISSIONS.map((p) => p.id);
const known = new Set<string>(PERMISSION_IDS);

export function isPermission(value: string): value is Permission {
  return known.has(value);
}

export const ROLE_NAMES = ['admin', 'standard', 'read_only'] as const;
export type Role = (typeof ROLE_NAMES)[number];

export const ROLES: Readonly<Record<Role, { readonly title: string; readonly description: string; readonly permissions: readonly Permission[] }>> = {
  admin: {
    title: 'Admin',
    description: 'Every permission.',
    permissions: PERMISSION_IDS,
  },
  standard: {
    title: 'Standard',
    description: "Reads keys, tokens and users; manages one's own application keys; reads and writes dashboards and monitors.",
    permissions: ['api_keys_read', 'client_tokens_read', 'user_app_keys', 'user_access_read', 'dashboards_read', 'dashboards_write', 'monitors_read', 'monitors_write'],
  },
  read_only: {
    title: 'Read only',
    description: 'Reads keys, tokens, users, dashboards and monitors.',
    permissions: ['api_keys_read', 'client_tokens_read', 'user_access_read', 'dashboards_read', 'monitors_read'],
  },
};

export function isRole(value: string): value is Role {
  return (ROLE_NAMES as readonly string[]).includes(value);
}

export function rolePermissions(role: Role): ReadonlySet<Permission> {
  return new Set(ROLES[role].permissions);
}

/**
 * R6/R7: an unscoped key has all its owner's permissions; a scoped key has its scopes
 * intersected with its owner's current permissions.
 */
export function effectivePermissions(role: Role, scopes: readonly Permission[] | null): ReadonlySet<Permission> {
  const owner = rolePermissions(role);
  if (scopes === null) return owner;
  return new Set(scopes.filter((scope) => owner.has(scope)));
}
