// The `credential_usage` read model's table.

/** When a credential was last used, to the minute (from request events; written once a minute at most). */
interface CredentialUsageTable {
  credential_id: string;
  org_id: string;
  last_used_at: string;
}

export interface UsageTables {
  credential_usage: CredentialUsageTable;
}
