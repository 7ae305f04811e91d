// What a browser gets from /graphql: GraphiQL, served with its assets from the installed
// @graphql-yoga/render-graphiql (no CDN: a self-hosted gateway often has no internet), behind a
// Content-Security-Policy that allows its one inline script by hash; and CORS from the
// configured allow-list only (by default none: no Access-Control-Allow-* header at all).

import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { CORSOptions, GraphiQLOptions } from 'graphql-yoga';

const GRAPHIQL_OPTIONS: GraphiQLOptions = {
  title: 'keyledger',
  // Placeholders in ASCII: a browser refuses to send a header holding `…`, introspection included.
  headers: JSON.stringify({ 'X-API-Key': 'klk_api_...', 'X-Application-Key': 'klk_app_...' }, null, 2),
  defaultQuery: '{\n  viewer {\n    principal { name role }\n    organization { name apiKeyLimit activeApiKeyCount }\n    permissions\n  }\n}\n',
};

interface GraphiQLPage {
  readonly html: string;
  readonly headers: Readonly<Record<string, string>>;
}

let page: GraphiQLPage | undefined;

/**
 * The page, rendered once (about 9 MB: GraphiQL, Monaco and their workers inline) with its
 * security headers. The bundle needs its inline script (allowed by its SHA-256), inline styles
 * (React and Monaco set them at run time), data: fonts and images, blob: workers (Monaco's, made
 * from inline code) and requests to this origin; nothing else.
 */
function graphiqlPage(): GraphiQLPage {
  if (page) return page;
  const html = renderGraphiQL(GRAPHIQL_OPTIONS);
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`);
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.join(' ')}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    'font-src data:',
    "connect-src 'self'",
    'worker-src blob:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  page = {
    html,
    headers: { 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' },
  };
  return page;
}

/**
 * yoga's `graphiql` option: GraphiQL for a browser's GET /graphql (with its security headers on
 * the response), or nothing when switched off (KEYLEDGER_GRAPHIQL=false).
 */
export function graphiqlOption(enabled: boolean): false | ((request: Request, context: { res: ServerResponse }) => GraphiQLOptions) {
  if (!enabled) return false;
  return (_request, { res }) => {
    for (const [name, value] of Object.entries(graphiqlPage().headers)) res.setHeader(name, value);
    return GRAPHIQL_OPTIONS;
  };
}

/** yoga's `renderGraphiQL` option: the page from the installed package, rendered once. */
export function renderGraphiQLPage(): string {
  return graphiqlPage().html;
}

/** The headers a page of an allowed origin may send: the credential headers too, so that R12's refusal reaches it readably. */
const CORS_REQUEST_HEADERS = ['content-type', 'accept', 'x-request-id', 'x-api-key', 'x-application-key', 'dd-api-key', 'dd-application-key'];

/**
 * yoga's `cors` option: for a request from an allowed origin, that origin (never `*`, never
 * credentials: keyledger authenticates by headers, not cookies); for any other, no CORS header.
 */
export function corsOption(allowed: readonly string[]): (request: Request) => CORSOptions {
  const origins = new Set(allowed);
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !origins.has(origin)) return false;
    // One allowed origin is answered as such; with several, yoga answers the request's own and adds Vary: Origin.
    return { origin: [...allowed], methods: ['GET', 'POST'], allowedHeaders: CORS_REQUEST_HEADERS, exposedHeaders: ['x-request-id'], credentials: false, maxAge: 600 };
  };
}
