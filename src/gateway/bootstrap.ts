// First run: on an empty store, create an organization with an admin, and show the admin's API
// key and application key once, with a request to paste. The secrets never go through the logger
// nor to stdout, where the JSON log lines go (and a log shipper collects them): they go to the
// controlling terminal when there is one, else to a file readable by its owner only, whose path
// is logged.

import { closeSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { InitializedOrg, Keyledger } from '../commands/keyledger.js';
import type { EventStore } from '../eventstore/port.js';
import { START } from '../eventstore/port.js';
import type { Logger } from '../platform/logger.js';

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

/** The controlling terminal, when the process has one (not under systemd, in a container without -t, or detached). */
function openTerminal(): number | null {
  try {
    return openSync('/dev/tty', 'w');
  } catch {
    return null;
  }
}

/**
 * Shows the first-run banner once where a person sees it and no log collector does: on the
 * controlling terminal (a newcomer running `npm start`); without one, in `file`, created readable
 * and writable by this user only (0600), and only its path is logged; if even that fails, on
 * stderr, never on stdout.
 */
export function showFirstRunKeys(banner: string, file: string, logger: Logger): void {
  const terminal = openTerminal();
  if (terminal !== null) {
    try {
      writeSync(terminal, banner);
      logger.info("first run: the admin's keys were shown on the terminal, once");
      return;
    } catch {
      // A terminal that cannot be written to: the file below.
    } finally {
      closeSync(terminal);
    }
  }
  const path = resolve(file);
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, 'w', 0o600);
    try {
      fchmodSync(fd, 0o600); // a file left by an earlier store keeps its mode through open()
      writeSync(fd, `${banner}\nDelete this file once the keys are stored.\n`);
    } finally {
      closeSync(fd);
    }
    logger.warn({ file: path }, "first run: the admin's keys are in this file, readable by its owner only: store them, then delete it");
  } catch (error) {
    process.stderr.write(banner);
    logger.warn({ err: error, file: path }, "first run: could not write the keys file, so the admin's keys went to stderr");
  }
}
