// First run: on an empty store, create an organization with an admin, and print the admin's
// API key and application key once, with a request to paste. The secrets go to the terminal
// (stdout), never through the logger.

import type { InitializedOrg, Keyledger } from '../commands/keyledger.js';
import type { EventStore } from '../eventstore/port.js';
import { START } from '../eventstore/port.js';

const BOOTSTRAP_ORG_NAME = 'My organization';
const BOOTSTRAP_ADMIN_EMAIL = 'admin@keyledger.local';

export async function bootstrapIfEmpty(store: EventStore, keyledger: Keyledger): Promise<InitializedOrg | null> {
  if ((await store.headPosition()) !== START) return null;
  return keyledger.initOrg({ name: BOOTSTRAP_ORG_NAME, adminEmail: BOOTSTRAP_ADMIN_EMAIL, adminName: 'Admin' });
}

export function bootstrapBanner(created: InitializedOrg, url: string): string {
  const query = JSON.stringify({ query: '{ viewer { principal { name role } organization { name } permissions } }' });
  return [
    '',
    '┌─ keyledger: first run ─────────────────────────────────────────────',
    `│ Created organization "${created.organization.name}" with admin ${created.admin.email ?? created.admin.name}.`,
    '│ These keys are shown once, now. Store them; they cannot be shown again.',
    '│',
    `│   API key:          ${created.apiKey.secret}`,
    `│   Application key:  ${created.applicationKey.secret}`,
    '│',
    '│ Try it:',
    `│   curl -s ${url}/graphql \\`,
    "│     -H 'content-type: application/json' \\",
    `│     -H 'X-API-Key: ${created.apiKey.secret}' \\`,
    `│     -H 'X-Application-Key: ${created.applicationKey.secret}' \\`,
    `│     -d '${query}'`,
    '│',
    `│ GraphiQL: ${url}/graphql (set the two headers in its Headers tab).`,
    '│ Set KEYLEDGER_BOOTSTRAP=false to start on an empty store without this.',
    '└────────────────────────────────────────────────────────────────────',
    '',
  ].join('\n');
}
