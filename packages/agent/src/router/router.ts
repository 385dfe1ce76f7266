import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { SynktiError } from '@synkti/core';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';
import { ClientConnections } from './client-connections.ts';
import { DeadlineList } from './deadline-list.ts';
import { Exchange, MAX_BODY_BYTES, type ExchangeContext } from './exchange.ts';
import { DEFAULT_PEER_TIMEOUTS, PeerTable, type RouterPeer } from './peer-table.ts';
import { RouterMetrics } from './router-metrics.ts';
import { WaitQueue } from './wait-queue.ts';

export type { RouterPeer } from './peer-table.ts';

/** Path the router answers itself with 200, for load-balancer health checks. */
export { ROUTER_HEALTH_PATH };

/** How often waiting requests look for peers that came back (membership is a callback, not an event). */
const QUEUE_POLL_MS = 25;
/** How often peers that left the set are forgotten (their keep-alive sockets closed). */
const SWEEP_MS = 5_000;

/** What drain() is told. */
export interface RouterDrainOptions {
  /**
   * How long requests that still arrive are taken (and proxied to peers) before the router
   * stops listening; from then on a new request is refused before any byte. Requests in
   * flight are not touched: stop() decides how long they get.
   */
  cutoffInMs: number;
  /** A client connection that stays idle this long during the drain is closed. @default 1000 */
  idleCloseMs?: number;
  /**
   * Idle connections are closed only from this long after the drain began (or at the
   * cut-off, if sooner). A load balancer keeps a pool of idle connections to each router
   * and reuses them; closing one just as it sends on it fails that request before any
   * byte. Give it the time it takes to see the 503 health / deregistration and stop
   * picking this router. @default 0
   */
  idleCloseAfterMs?: number;
  /**
   * Where requests go while peers() offers none (the node's own workload, still up while the
   * router drains): used only when it is the only option. @default none (requests wait in the queue)
   */
  fallbackPeer?: RouterPeer;
}

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
  /**
   * Longest wait for a TCP connection to a peer. A peer whose address stopped answering
   * drops the SYN (no refusal comes): the request then goes to another peer. 0: no limit.
   * @default 2000
   */
  connectTimeoutMs?: number;
  /**
   * Longest wait for a peer's response head once the request is sent; the request then
   * goes to another peer (nothing reached the client yet). Set it above the longest
   * non-streamed answer. 0: no limit. @default 120000
   */
  firstByteTimeoutMs?: number;
  /** Longest silence between two body chunks of a peer's response; the client's stream is then cut (within 1.25 times this). 0: no limit. @default 60000 */
  streamIdleTimeoutMs?: number;
  /** After a timeout on a peer (or peerLost), how long it gets no new request. @default 10000 */
  peerHoldMs?: number;
  /**
   * A stream from a peer that membership lost is cut once it has been this quiet. Bytes
   * still arriving on its connection prove the peer answers this router (a stale "dead"
   * report after a partition heals), so a flowing stream is left to finish. @default 1000
   */
  lostPeerQuietMs?: number;
}

export interface Router {
  /** Starts listening; resolves with the bound port and URL. Calling it again returns the same result. */
  start(): Promise<{ port: number; url: string }>;
  /**
   * Lets go of the clients before a stop: from now the health path answers 503, every
   * response carries `connection: close`, client connections idle for `idleCloseMs` are
   * closed, and requests that still arrive are served until `cutoffInMs`, when the router
   * stops listening. Calling it again can only bring the cut-off closer.
   */
  drain(options: RouterDrainOptions): void;
  /**
   * Stops accepting connections, lets requests in flight (and queued) finish for up to
   * `graceMs` (@default 10000), then cuts the rest and closes upstream connections.
   * Resolves with the number of requests it had to cut. Idempotent.
   */
  stop(options?: { graceMs?: number }): Promise<number>;
  /** Client requests accepted and not yet answered, queued ones included. */
  inFlight(): number;
  /** Milliseconds since the router last had a request in flight: 0 while it has one, Infinity if it never had. */
  idleForMs(): number;
  /** Client connections open now. */
  connections(): number;
  /**
   * Membership lost this peer (not a graceful leave): it gets no new request for
   * `peerHoldMs`, requests waiting on it go to other peers, and streams from it that
   * already reached their clients are cut once quiet for `lostPeerQuietMs` (at once if
   * they already are; a stream still flowing is left to finish). Returns the requests it touched.
   */
  peerLost(peerId: string): number;
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
  const timeouts = {
    connectTimeoutMs: checkCount('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_PEER_TIMEOUTS.connectTimeoutMs, 0),
    firstByteTimeoutMs: checkCount('firstByteTimeoutMs', options.firstByteTimeoutMs ?? DEFAULT_PEER_TIMEOUTS.firstByteTimeoutMs, 0),
    streamIdleTimeoutMs: checkCount('streamIdleTimeoutMs', options.streamIdleTimeoutMs ?? DEFAULT_PEER_TIMEOUTS.streamIdleTimeoutMs, 0),
  };
  const peerHoldMs = checkCount('peerHoldMs', options.peerHoldMs ?? 10_000, 0);
  const lostPeerQuietMs = checkCount('lostPeerQuietMs', options.lostPeerQuietMs ?? 1000, 0);
  if (typeof options.peers !== 'function') {
    throw new SynktiError('E_ROUTER_OPTIONS', 'router option peers must be a function returning the ready peers', {
      hint: 'pass peers: () => membership.readyPeers()',
    });
  }

  let fallbackPeer: RouterPeer | undefined;
  // The node's own workload is a last resort while draining: used only when no peer is listed.
  const currentPeers = (): RouterPeer[] => {
    let listed: RouterPeer[];
    try {
      listed = options.peers();
    } catch {
      listed = [];
    }
    return listed.length === 0 && fallbackPeer !== undefined ? [fallbackPeer] : listed;
  };
  const table = new PeerTable(currentPeers, maxInFlightPerPeer, timeouts, () => performance.now());
  const queue = new WaitQueue(table, { timeoutMs: queueTimeoutMs, pollMs: QUEUE_POLL_MS, now: Date.now });
  const metrics = new RouterMetrics(options.registry ?? new Registry(), {
    peerLoads: () => table.loads(),
    queueLength: () => queue.length,
  });
  const deadlines = new DeadlineList(() => performance.now());
  const clients = new ClientConnections();
  let active = 0;
  let idle: (() => void) | undefined;
  let lastBusyAt = Number.NEGATIVE_INFINITY;
  let draining = false;
  /** True once the listener is closed (cut-off or stop): new requests are refused. */
  let listenerClosed = false;

  const ctx: ExchangeContext = {
    table,
    queue,
    metrics,
    deadlines,
    requestTimeoutMs,
    maxQueue,
    retries,
    onUpstreamFailure: options.onUpstreamFailure,
    holdPeer: (peerId) => table.hold(peerId, peerHoldMs),
    lostPeerQuietMs,
    closeConnections: false,
    done() {
      active--;
      if (active === 0) {
        lastBusyAt = performance.now();
        idle?.();
      }
    },
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const socket = req.socket;
    const earlier = clients.begin(socket);
    res.once('close', () => clients.end(socket));
    if (req.url === ROUTER_HEALTH_PATH) {
      const down = draining || stopPromise !== undefined || (options.healthy !== undefined && !options.healthy());
      const body = stopPromise !== undefined ? 'stopping\n' : down ? 'draining\n' : 'ok\n';
      const headers = ['content-type', 'text/plain', 'content-length', String(body.length)];
      if (ctx.closeConnections) headers.push('connection', 'close');
      res.writeHead(down ? 503 : 200, headers);
      res.end(body);
      return;
    }
    if (listenerClosed) {
      // A request on a connection that outlived the cut-off. Dropping the connection gives
      // the client the same error as the refused connect it gets everywhere else now: before
      // any byte, so it knows nothing was done and may go elsewhere. Only a request pipelined
      // behind a response still streaming on it gets a 503 instead: dropping would cut that one.
      metrics.error('stopping');
      metrics.request(503, 0);
      if (earlier > 0) {
        const body = '{"error":{"message":"the router is shutting down","type":"synkti_router_error","code":"stopping","status":503}}';
        res.writeHead(503, [
          'content-type',
          'application/json',
          'content-length',
          String(body.length),
          'retry-after',
          '1',
          'connection',
          'close',
        ]);
        res.end(body);
      } else {
        socket.destroy();
      }
      return;
    }
    active++;
    new Exchange(ctx, req, res).start();
  };

  const server = http.createServer({ noDelay: true, keepAliveTimeout: 65_000 }, handle);
  server.on('connection', (socket: import('node:net').Socket) => clients.add(socket));
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
  let stopPromise: Promise<number> | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let cutoffTimer: NodeJS.Timeout | undefined;
  let idleCloseTimer: NodeJS.Timeout | undefined;
  let cutoffAt = Number.POSITIVE_INFINITY;
  let listenerClosing: Promise<void> | undefined;

  /** Stops listening (new connections are refused); resolves once every connection is gone. */
  function closeListener(): Promise<void> {
    listenerClosed = true;
    listenerClosing ??= new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });
    // Idle keep-alive connections would otherwise hold close() open until they time out.
    server.closeIdleConnections();
    return listenerClosing;
  }

  function drain(drainOptions: RouterDrainOptions): void {
    const cutoffInMs = drainOptions.cutoffInMs;
    if (!Number.isFinite(cutoffInMs) || cutoffInMs < 0) {
      throw new SynktiError('E_ROUTER_OPTIONS', `router drain cutoffInMs must be a number of milliseconds >= 0, got ${cutoffInMs}`, {
        hint: 'pass the time left before the router must stop taking requests, e.g. budget minus the longest stream',
      });
    }
    const idleCloseMs = checkCount('idleCloseMs', drainOptions.idleCloseMs ?? 1000, 0);
    const idleCloseAfterMs = Math.min(checkCount('idleCloseAfterMs', drainOptions.idleCloseAfterMs ?? 0, 0), cutoffInMs);
    if (stopPromise !== undefined) return;
    draining = true;
    ctx.closeConnections = true;
    if (drainOptions.fallbackPeer !== undefined) fallbackPeer = drainOptions.fallbackPeer;
    if (idleCloseAfterMs === 0) {
      clients.closeWhenIdle(idleCloseMs);
    } else if (idleCloseTimer === undefined) {
      idleCloseTimer = setTimeout(() => clients.closeWhenIdle(idleCloseMs), idleCloseAfterMs);
      idleCloseTimer.unref();
    }
    // Waiting requests look again at once: the fallback may be their only option.
    queue.pump();
    const at = performance.now() + cutoffInMs;
    if (at >= cutoffAt) return;
    cutoffAt = at;
    clearTimeout(cutoffTimer);
    cutoffTimer = setTimeout(() => void closeListener(), cutoffInMs);
    cutoffTimer.unref();
  }

  function start(): Promise<{ port: number; url: string }> {
    startPromise ??= new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new SynktiError('E_ROUTER_LISTEN', `router could not listen on ${host}:${port}: ${error.message}`, {
            cause: error,
            hint: 'pick a free port (routerPort) or stop the process that holds it',
          }),
        );
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

  function stop(stopOptions: { graceMs?: number } = {}): Promise<number> {
    stopPromise ??= (async () => {
      const graceMs = stopOptions.graceMs ?? 10_000;
      ctx.closeConnections = true;
      if (sweepTimer !== undefined) clearInterval(sweepTimer);
      clearTimeout(cutoffTimer);
      clearTimeout(idleCloseTimer);
      const closed = closeListener();
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
      const cut = active;
      queue.expireAll();
      for (const node of deadlines.toArray()) (node as Exchange).kill();
      deadlines.close();
      server.closeAllConnections();
      clients.dispose();
      await closed;
      table.destroy();
      return cut;
    })();
    return stopPromise;
  }

  return {
    start,
    drain,
    stop,
    inFlight: () => active,
    idleForMs: () => (active > 0 ? 0 : performance.now() - lastBusyAt),
    connections: () => clients.size,
    peerLost(peerId) {
      table.hold(peerId, peerHoldMs);
      let touched = 0;
      for (const node of deadlines.toArray()) if ((node as Exchange).peerLost(peerId)) touched++;
      return touched;
    },
  };
}
