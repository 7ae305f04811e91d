// Change-feed clients for the tests (R26), with the real client libraries: graphql-sse in both of
// its modes (distinct connections: yoga's SSE on /graphql; single connection: /graphql/stream) and
// graphql-ws over `ws`. Each subscription is read into a list as payloads arrive, so that a test
// can wait for what it expects and drop the connection whenever it likes.

import type { ExecutionResult } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Credentials } from './gateway.js';

export type Transport = 'sse-distinct' | 'sse-single' | 'ws';
export const TRANSPORTS: readonly Transport[] = ['sse-distinct', 'sse-single', 'ws'];

export interface Received {
  /** Every result, in order (data or errors). */
  readonly results: ExecutionResult[];
  /** Set once the feed completed (or failed): how. */
  readonly ended: { readonly how: 'complete' | 'error'; readonly error?: unknown } | null;
}

export interface FeedSubscription extends Received {
  /** Resolves once `predicate` holds of what was received (fails after `timeoutMs`). */
  until(predicate: (received: Received) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Drops the connection (the client goes away). */
  drop(): Promise<void>;
}

/** Credentials as the headers (SSE) or connectionParams (WebSocket) carry them. */
function headersOf(credentials: Credentials | Record<string, string>): Record<string, string> {
  if ('apiKey' in credentials && 'applicationKey' in credentials) return { 'X-API-Key': credentials.apiKey, 'X-Application-Key': credentials.applicationKey };
  return { ...credentials };
}

export function subscribe(
  transport: Transport,
  baseUrl: string,
  credentials: Credentials | Record<string, string>,
  query: string,
  variables: Record<string, unknown> = {},
): FeedSubscription {
  const results: ExecutionResult[] = [];
  const state: { ended: Received['ended'] } = { ended: null };
  const headers = headersOf(credentials);
  let dispose: () => Promise<void> | void;
  let iterator: AsyncIterableIterator<ExecutionResult>;
  if (transport === 'ws') {
    const client = createWsClient({
      url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: headers,
      retryAttempts: 0,
      lazy: true,
    });
    iterator = client.iterate({ query, variables }) as AsyncIterableIterator<ExecutionResult>;
    dispose = async () => {
      await iterator.return?.();
      await client.dispose();
    };
  } else {
    const single = transport === 'sse-single';
    const client = createSseClient({ url: `${baseUrl}/graphql${single ? '/stream' : ''}`, headers, singleConnection: single, retryAttempts: 0 });
    iterator = client.iterate({ query, variables }) as AsyncIterableIterator<ExecutionResult>;
    dispose = async () => {
      await iterator.return?.();
      client.dispose();
    };
  }
  const reading = (async () => {
    try {
      for await (const result of { [Symbol.asyncIterator]: () => iterator }) results.push(result);
      state.ended ??= { how: 'complete' };
    } catch (error) {
      state.ended ??= { how: 'error', error };
    }
  })();
  const received: Received = {
    results,
    get ended() {
      return state.ended;
    },
  };
  return {
    results,
    get ended() {
      return state.ended;
    },
    async until(predicate, timeoutMs = 10_000, what = 'the expected payloads') {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}; received ${results.length}: ${JSON.stringify(results.slice(-3))}; ended: ${JSON.stringify(state.ended)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async drop() {
      state.ended ??= { how: 'complete' };
      await dispose();
      await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 2000))]);
    },
  };
}

/**
 * How a feed was refused at its start: the `extensions.code` of its last result, or, where the
 * refusal came as an HTTP status (yoga's SSE answers a 401 or 403 as such, spec section 7, and
 * graphql-sse reports it as a NetworkError), the status.
 */
export async function refusalOf(received: Received): Promise<string | number | undefined> {
  const code = lastErrorCode(received);
  if (code !== undefined) return code;
  const error = received.ended?.error as { response?: Response } | undefined;
  return error?.response?.status;
}

/** The `extensions.code` of the last result, when it carries errors. */
export function lastErrorCode(received: Received): string | undefined {
  const last = received.results[received.results.length - 1];
  return last?.errors?.[0]?.extensions?.code as string | undefined;
}
