import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { SynktiError } from '@synkti/core';
import { DeadlineList } from './deadline-list.ts';
import { Exchange, MAX_BODY_BYTES, type ExchangeContext } from './exchange.ts';
import { PeerTable, type RouterPeer } from './peer-table.ts';
import { RouterMetrics } from './router-metrics.ts';
import { WaitQueue } from './wait-queue.ts';

export type { RouterPeer } from './peer-table.ts';

/** Path the router answers itself with 200, for load-balancer health checks. */
export const ROUTER_HEALTH_PATH = '/_synkti/router/health';

/** How often waiting requests look for peers that came back (membership is a callback, not an event). */
const QUEUE_POLL_MS = 25;
/** How often peers that left the set are forgotten (their keep-alive sockets closed). */
const SWEEP_MS = 5_000;

export interface RouterOptions {
  /** Address to listen on. @default '127.0.0.1' (never 0.0.0.0 unless asked) */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 8080 */
  port?: number;
  /** The current ready peers (called on every pick; keep it cheap). A peer absent from it gets no new request. */
  peers: () => RouterPeer[];
  /** Whole-request limit, queueing included: 504 if nothing was sent yet, else the connection is cut. @default 300000 */
  requestTimeoutMs?: number;
  /** Requests this router sends to one peer at once; more wait in the queue. @default 64 */
  maxInFlightPerPeer?: number;
  /** Requests that may wait for a peer slot; beyond it, 503 with Retry-After. @default 1024 */
  maxQueue?: number;
  /** Longest wait for a peer slot before 503 with Retry-After. @default 30000 */
  queueTimeoutMs?: number;
  /** Other peers tried after a failed attempt (before any byte reached the client). @default 2 */
  retries?: number;
  /** Registry for the router's metrics. @default a private Registry */
  registry?: Registry;
  /**
   * Whether load balancers should send this node traffic: the health path answers 503
   * when false (e.g. while the node drains before a spot interruption). @default always
   */
  healthy?: () => boolean;
  /** Told when a peer failed at the network level (refused, reset, died mid-response). @default none */
  onUpstreamFailure?: (peerId: string, error: unknown) => void;
}

export interface Router {
  /** Starts listening; resolves with the bound port and URL. Calling it again returns the same result. */
  start(): Promise<{ port: number; url: string }>;
  /**
   * Stops accepting connections, lets requests in flight (and queued) finish for up to
   * `graceMs` (@default 10000), then cuts the rest and closes upstream connections. Idempotent.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Client requests accepted and not yet answered, queued ones included. */
  inFlight(): number;
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new SynktiError('E_ROUTER_OPTIONS', `router option ${name} must be an integer >= ${min}, got ${value}`, {
      hint: `set ${name} to a whole number of at least ${min} or leave it out for the default`,
    });
  }
  return value;
}

/** The request router every node runs: forwards each request to the least-loaded ready peer. */
export function createRouter(options: RouterOptions): Router {
  const host = options.host ?? '127.0.0.1';
  const port = checkCount('port', options.port ?? 8080, 0);
  const requestTimeoutMs = checkCount('requestTimeoutMs', options.requestTimeoutMs ?? 300_000, 1);
  const maxInFlightPerPeer = checkCount('maxInFlightPerPeer', options.maxInFlightPerPeer ?? 64, 1);
  const maxQueue = checkCount('maxQueue', options.maxQueue ?? 1024, 0);
  const queueTimeoutMs = checkCount('queueTimeoutMs', options.queueTimeoutMs ?? 30_000, 0);
  const retries = checkCount('retries', options.retries ?? 2, 0);
  if (typeof options.peers !== 'function') {
    throw new SynktiError('E_ROUTER_OPTIONS', 'router option peers must be a function returning the ready peers', {
      hint: 'pass peers: () => membership.readyPeers()',
    });
  }

  const table = new PeerTable(options.peers, maxInFlightPerPeer);
  const queue = new WaitQueue(table, { timeoutMs: queueTimeoutMs, pollMs: QUEUE_POLL_MS, now: Date.now });
  const metrics = new RouterMetrics(options.registry ?? new Registry(), {
    peerLoads: () => table.loads(),
    queueLength: () => queue.length,
  });
  const deadlines = new DeadlineList(() => performance.now());
  let active = 0;
  let idle: (() => void) | undefined;

  const ctx: ExchangeContext = {
    table,
    queue,
    metrics,
    deadlines,
    requestTimeoutMs,
    maxQueue,
    retries,
    onUpstreamFailure: options.onUpstreamFailure,
    stopping: false,
    done() {
      active--;
      if (active === 0) idle?.();
    },
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === ROUTER_HEALTH_PATH) {
      const down = ctx.stopping || (options.healthy !== undefined && !options.healthy());
      const body = ctx.stopping ? 'stopping\n' : down ? 'draining\n' : 'ok\n';
      res.writeHead(down ? 503 : 200, ['content-type', 'text/plain', 'content-length', String(body.length)]);
      res.end(body);
      return;
    }
    if (ctx.stopping) {
      // A request on a kept-alive connection after stop(): refuse it so the client goes elsewhere.
      const body = '{"error":{"message":"the router is shutting down","type":"synkti_router_error","code":"stopping","status":503}}';
      res.writeHead(503, ['content-type', 'application/json', 'content-length', String(body.length), 'retry-after', '1', 'connection', 'close']);
      res.end(body);
      metrics.error('stopping');
      metrics.request(503, 0);
      return;
    }
    active++;
    new Exchange(ctx, req, res).start();
  };

  const server = http.createServer({ noDelay: true, keepAliveTimeout: 65_000 }, handle);
  // Clients that ask before sending a body learn about an oversized one before uploading it.
  server.on('checkContinue', (req, res) => {
    const length = Number(req.headers['content-length'] ?? 0);
    if (!(length > MAX_BODY_BYTES)) res.writeContinue();
    handle(req, res);
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  let startPromise: Promise<{ port: number; url: string }> | undefined;
  let stopPromise: Promise<void> | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;

  function start(): Promise<{ port: number; url: string }> {
    startPromise ??= new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(new SynktiError('E_ROUTER_LISTEN', `router could not listen on ${host}:${port}: ${error.message}`, {
          cause: error,
          hint: 'pick a free port (routerPort) or stop the process that holds it',
        }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        sweepTimer = setInterval(() => table.sweep(), SWEEP_MS);
        sweepTimer.unref();
        const bound = (server.address() as AddressInfo).port;
        const urlHost = host.includes(':') ? `[${host}]` : host;
        resolve({ port: bound, url: `http://${urlHost}:${bound}` });
      });
    });
    return startPromise;
  }

  function stop(stopOptions: { graceMs?: number } = {}): Promise<void> {
    stopPromise ??= (async () => {
      const graceMs = stopOptions.graceMs ?? 10_000;
      ctx.stopping = true;
      if (sweepTimer !== undefined) clearInterval(sweepTimer);
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
      });
      // Idle keep-alive connections would otherwise hold close() open until they time out.
      server.closeIdleConnections();
      if (active > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          timer.unref();
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      idle = undefined;
      queue.expireAll();
      for (const node of deadlines.toArray()) (node as Exchange).kill();
      deadlines.close();
      server.closeAllConnections();
      await closed;
      table.destroy();
    })();
    return stopPromise;
  }

  return { start, stop, inFlight: () => active };
}
