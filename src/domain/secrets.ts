// Credential secrets (spec section 2): CSPRNG, a prefix per kind, a CRC32 checksum so that
// scanners find leaked keys and typos are refused without a lookup. Only the SHA-256 digest
// and the last four characters are ever stored.

import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { CredentialKind } from './events.js';

export const SECRET_PREFIX: Readonly<Record<CredentialKind, string>> = {
  API_KEY: 'klk_api_',
  APPLICATION_KEY: 'klk_app_',
  CLIENT_TOKEN: 'klk_pub_',
};

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 32 base62 characters: 190 bits of entropy. */
const RANDOM_LENGTH = 32;
/** CRC32 in base62 always fits 6 characters (62^6 > 2^32). */
const CHECKSUM_LENGTH = 6;
const SECRET_PATTERN = /^klk_(api|app|pub)_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

function base62(value: number, width: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 62]! + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (byte < 248) out += ALPHABET[byte % 62]!;
      if (out.length === length) break;
    }
  }
  return out;
}

function checksum(randomPart: string): string {
  return base62(crc32(randomPart), CHECKSUM_LENGTH);
}

export interface IssuedSecret {
  /** Shown once, to the caller that created the credential; never stored, logged or evented. */
  readonly secret: string;
  readonly digest: string;
  readonly last4: string;
}

export function digestSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function issueSecret(kind: CredentialKind): IssuedSecret {
  const randomPart = randomBase62(RANDOM_LENGTH);
  const secret = `${SECRET_PREFIX[kind]}${randomPart}${checksum(randomPart)}`;
  return { secret, digest: digestSecret(secret), last4: secret.slice(-4) };
}

const KIND_OF_PREFIX: Readonly<Record<string, CredentialKind>> = { api: 'API_KEY', app: 'APPLICATION_KEY', pub: 'CLIENT_TOKEN' };

/** The kind a well-formed secret claims, or null when it is malformed or its checksum fails. */
export function recognizeSecret(secret: string): CredentialKind | null {
  const match = SECRET_PATTERN.exec(secret);
  if (!match) return null;
  const [, kind, randomPart, sum] = match;
  if (checksum(randomPart!) !== sum) return null;
  return KIND_OF_PREFIX[kind!] ?? null;
}
