// The `principals` read model's table.

import type { PrincipalKind } from '../../src/domain/events.js';
import type { Role } from '../../src/domain/permissions.js';

export interface PrincipalsTable {
  id: string;
  org_id: string;
  kind: PrincipalKind;
  name: string;
  name_key: string;
  email: string | null;
  role: Role;
  status: 'ACTIVE' | 'DISABLED';
  created_by: string | null;
  created_at: string;
  modified_at: string;
  disabled_at: string | null;
}

export interface PrincipalsTables {
  principals: PrincipalsTable;
}
