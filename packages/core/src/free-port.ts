import { createServer } from 'node:net';

/**
 * A TCP port free on the loopback address right now: the OS picks it, we release it. For
 * tests, benchmarks and helper servers that must be told a port before they start; a
 * server that can listen on port 0 itself should do that instead (no race).
 */
export function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port from listen(0) on ${host}`))));
    });
  });
}
