import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';

export interface ApiReply {
  status: number;
  /** JSON-serialised unless `text` is set. */
  body?: unknown;
  text?: string;
  contentType?: string;
}

export type ApiHandler = (request: { body: unknown; url: URL }) => ApiReply | Promise<ApiReply>;

export interface AgentApiOptions {
  /** Every request must carry `Authorization: Bearer <secret>`. */
  secret: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 7946 */
  port?: number;
  /** Routes keyed `METHOD /path`. */
  routes: Record<string, ApiHandler>;
  /** Largest accepted request body. @default 4 MiB (a 10,000-member gossip view fits). */
  maxBodyBytes?: number;
  logger: Logger;
  /**
   * Paths served ahead of the Bearer check by a handler that authenticates them itself
   * (the dashboard: a browser signs in once and then sends a session cookie).
   */
  mount?: { owns(pathname: string): boolean; handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> } | undefined;
}

/**
 * How long an idle kept-alive connection stays open on the server, and how long clients are
 * told it does (the `Keep-Alive: timeout=` hint). The hint is well below the truth: pools
 * that read it (Node's http.Agent, undici's fetch) drop an idle socket a second or two
 * before the hint, so with hint = truth a client that reuses a socket just as the server
 * closes it (a stalled event loop is enough) gets a reset, and fetch does not retry one.
 * A 25 s gap makes that need a 25 s stall.
 */
export const AGENT_API_KEEP_ALIVE_MS = 30_000;
export const AGENT_API_KEEP_ALIVE_HINT_S = 5;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * The agent API (port 7946, docs/architecture.md "Ports and endpoints"): authenticated by the cluster secret, bounded
 * bodies, JSON in and out. Bad input gets a 4xx, never a crash.
 */
export class AgentApi {
  private server: Server | undefined;
  private readonly secretDigest: Buffer;
  private readonly options: AgentApiOptions;

  constructor(options: AgentApiOptions) {
    this.options = options;
    this.secretDigest = digest(`Bearer ${options.secret}`);
  }

  async start(): Promise<{ port: number; url: string }> {
    const server = createServer((req, res) => {
      // Replaces the hint Node would derive from keepAliveTimeout (see AGENT_API_KEEP_ALIVE_MS).
      res.setHeader('keep-alive', `timeout=${AGENT_API_KEEP_ALIVE_HINT_S}`);
      this.handle(req, res).catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'agent API handler failed');
        if (!res.headersSent) send(res, { status: 500, body: { error: 'internal error' } });
        else res.destroy();
      });
    });
    // Slow or stuck clients must not pin the agent's sockets (an idle kept-alive one is let go after 30 s).
    server.headersTimeout = 5000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = AGENT_API_KEEP_ALIVE_MS;
    server.on('clientError', (_error, socket) => socket.destroy());
    this.server = server;
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 7946, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    return { port, url: `http://${host}:${port}` };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return false;
    return timingSafeEqual(digest(header), this.secretDigest);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const mount = this.options.mount;
    if (mount) {
      const url = parseTarget(req.url);
      if (url && mount.owns(url.pathname)) return mount.handle(req, res, url);
    }
    if (!this.authorized(req)) {
      req.resume();
      send(
        res,
        { status: 401, body: { error: 'missing or wrong cluster secret (Authorization: Bearer <secret>)' } },
        { 'www-authenticate': 'Bearer realm="synkti"' },
      );
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://agent');
    } catch {
      send(res, { status: 400, body: { error: 'bad request target' } });
      return;
    }
    const handler = this.options.routes[`${req.method} ${url.pathname}`];
    if (!handler) {
      req.resume();
      const pathKnown = Object.keys(this.options.routes).some((key) => key.endsWith(` ${url.pathname}`));
      send(
        res,
        pathKnown
          ? { status: 405, body: { error: `${req.method} not allowed on ${url.pathname}` } }
          : { status: 404, body: { error: `no such endpoint ${url.pathname}` } },
      );
      return;
    }
    const raw = await readBody(req, this.options.maxBodyBytes ?? 4 * 1024 * 1024);
    if (raw === 'too-large') {
      send(res, { status: 413, body: { error: 'request body too large' } }, { connection: 'close' });
      return;
    }
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        send(res, { status: 400, body: { error: 'request body is not valid JSON' } });
        return;
      }
    }
    send(res, await handler({ body, url }));
  }
}

function parseTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://agent');
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
  });
}

function send(res: ServerResponse, reply: ApiReply, headers: Record<string, string> = {}): void {
  const payload = reply.text ?? JSON.stringify(reply.body ?? {});
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? (reply.text === undefined ? 'application/json' : 'text/plain; charset=utf-8'),
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
