// R27: the redaction every choke point uses (errors, log lines, events), and the logger's;
// R29: what counts as unclean text.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isUncleanText, quoted, requireBoundedText } from '../../src/domain/input.js';
import { issueSecret } from '../../src/domain/secrets.js';
import { createLogger } from '../../src/platform/logger.js';
import { holdsSecret, redactSecrets, redactSecretsIn } from '../../src/platform/redact.js';

const api = issueSecret('API_KEY').secret;
const app = issueSecret('APPLICATION_KEY').secret;
const pub = issueSecret('CLIENT_TOKEN').secret;
const short = (secret: string) => `${secret.slice(0, 8)}…${secret.slice(-4)}`;

describe('redaction', () => {
  it('R27: reduces every secret of each kind to its prefix and last four characters, wherever it sits in a text', () => {
    expect(redactSecrets(api)).toBe(short(api));
    expect(redactSecrets(`"${app}" is not a scope; nor is ${pub}.`)).toBe(`"${short(app)}" is not a scope; nor is ${short(pub)}.`);
    expect(redactSecrets(`x${api}y`)).toBe(`x${short(`${api}y`)}`);
    expect(redactSecrets(`https://${pub}.example/?k=${api}`)).toBe(`https://${short(pub)}.example/?k=${short(api)}`);
  });

  it('R27: catches a secret with a bad checksum or a wrong length, not a mere prefix or a short fragment', () => {
    const typo = `${api.slice(0, -1)}${api.endsWith('A') ? 'B' : 'A'}`;
    expect(redactSecrets(typo)).toBe(short(typo));
    expect(redactSecrets(`klk_app_${'Q'.repeat(20)}`)).toBe('klk_app_…QQQQ');
    expect(redactSecrets(`klk_pub_${'Q'.repeat(200)}`)).toBe('klk_pub_…QQQQ');
    for (const harmless of ['klk_api_', 'klk_api_…Qe3x', `klk_api_${'Q'.repeat(19)}`, `KLK_API_${'Q'.repeat(38)}`, 'klk_key_' + 'Q'.repeat(38), 'plain text']) {
      expect(redactSecrets(harmless)).toBe(harmless);
      expect(holdsSecret(harmless)).toBe(false);
    }
    expect(holdsSecret(`name ${api}`)).toBe(true);
    expect(holdsSecret(`name ${api}`)).toBe(true); // the global pattern keeps no state between calls
  });

  it('R27: is idempotent: a redacted text stays as it is', () => {
    const once = redactSecrets(`${api} ${app}`);
    expect(redactSecrets(once)).toBe(once);
  });

  it('R27: redacts every string of a JSON value, keys included, and leaves the rest (and clean values) as they are', () => {
    const clean = { name: 'ci', scopes: ['dashboards_read'], n: 3, at: null };
    expect(redactSecretsIn(clean)).toBe(clean);
    const digest = 'a'.repeat(64);
    expect(redactSecretsIn({ name: `leak ${api}`, digest, origins: [`https://${pub}.example`], nested: { [app]: true, ok: 1 } })).toEqual({
      name: `leak ${short(api)}`,
      digest,
      origins: [`https://${short(pub)}.example`],
      nested: { [short(app)]: true, ok: 1 },
    });
    const date = new Date();
    expect(redactSecretsIn(date)).toBe(date);
  });

  it('R27: the logger redacts every line: messages, fields, errors and their stacks, child loggers too', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    logger.info(`a message with ${api}`);
    logger.warn({ origin: `https://${pub}.example`, list: [app] }, 'fields');
    logger.error({ err: new Error(`"${app}" is not a scope`) }, 'an error');
    logger.child({ requestId: 'r-1' }).debug({ header: api }, 'from a child');
    const text = lines.join('');
    expect(lines).toHaveLength(4);
    for (const secret of [api, app, pub]) expect(text).not.toContain(secret);
    expect(text).toContain(short(api));
    expect(text).toContain(short(app));
    expect(text).toContain('"stack"');
  });
});

describe('clean input', () => {
  it('R29: NUL and unpaired surrogates are unclean; paired surrogates and other text are not', () => {
    for (const bad of ['\u0000', 'a\u0000', '\uD800', 'a\uDC00b', '\uDE00\uD83D', 'x\uD83D']) expect(isUncleanText(bad), JSON.stringify(bad)).toBe(true);
    for (const good of ['', 'plain', '\uD83D\uDE80', 'é', '\u0001', '名前']) expect(isUncleanText(good), JSON.stringify(good)).toBe(false);
  });

  it('R29: a bounded text is refused over its bound, as BAD_USER_INPUT naming the field', () => {
    expect(requireBoundedText('x'.repeat(200), 'filter.nameContains', 200)).toHaveLength(200);
    expect(() => requireBoundedText('x'.repeat(201), 'filter.nameContains', 200)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'filter.nameContains' }));
    expect(() => requireBoundedText('a\u0000', 'name', 200)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'name' }));
  });

  it('R29: a message quotes at most a glimpse of what a client sent', () => {
    expect(quoted('short')).toBe('"short"');
    expect(quoted('x'.repeat(10_000)).length).toBeLessThan(80);
  });
});
