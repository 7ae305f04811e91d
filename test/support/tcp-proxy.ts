// A TCP proxy on 127.0.0.1 (a random port) in front of a server, for tests of a store that goes
// away: `cut(ms)` destroys every open connection and refuses new ones (destroyed at once) for
// `ms`, then lets them through again, as a network partition or a restarting server would.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Whether connections are being refused now. */
  readonly cutting: boolean;
  /** Ends every open connection and refuses new ones for `ms`; resolves when they go through again. */
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let cutUntil = 0;
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const server: Server = createServer((client) => {
    if (Date.now() < cutUntil) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    track(client);
    track(upstream);
    // Either side failing or ending ends the pair; errors are the point of this proxy, not news.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  let timer: NodeJS.Timeout | undefined;
  return {
    port: address.port,
    get cutting() {
      return Date.now() < cutUntil;
    },
    cut(ms: number) {
      cutUntil = Date.now() + ms;
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => {
        clearTimeout(timer);
        timer = setTimeout(resolve, ms);
      });
    },
    async close() {
      clearTimeout(timer);
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
