import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynktiError } from '@synkti/core';
import type { FleetAggregator } from './fleet-aggregator.ts';
import type { DashboardSnapshot } from './snapshot.ts';

/** The prebuilt page (Vite output, committed so `npm install -g` needs no build). */
export const DASHBOARD_ASSETS_DIR = fileURLToPath(new URL('../dist/', import.meta.url));

const SESSION_COOKIE = 'synkti_dashboard';
const LOOPBACK = new Set(['127.0.0.1', '::1']);
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

export interface DashboardServerOptions {
  aggregator: FleetAggregator;
  /** The cluster secret: `Authorization: Bearer <secret>` is accepted (never logged). */
  secret: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Loopback only: 127.0.0.1 or ::1. @default '127.0.0.1' */
  host?: string;
  /** Least time between two snapshots pushed on one stream. @default 500 */
  pushIntervalMs?: number;
  /** SSE comment sent on an idle stream so proxies keep it open. @default 15000 */
  heartbeatMs?: number;
  /** How long a login link stays valid if unused. @default 900000 (15 minutes) */
  loginTokenTtlMs?: number;
  /** Where index.html and assets/ are. @default DASHBOARD_ASSETS_DIR */
  assetsDir?: string;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * Serves the dashboard page and its one SSE stream on loopback. Access: a login link with
 * a one-time token (sets an HttpOnly session cookie) or the cluster secret as a Bearer
 * token. The Host header must name this loopback address (no DNS rebinding).
 */
export class DashboardServer {
  private readonly options: Required<Omit<DashboardServerOptions, 'aggregator' | 'secret'>>;
  private readonly aggregator: FleetAggregator;
  private readonly secret: string;
  private readonly sessions = new Set<string>();
  private readonly loginTokens = new Map<string, number>();
  private readonly streams = new Set<ServerResponse>();
  private server: Server | undefined;
  private port = 0;
  private stopping: Promise<void> | undefined;

  constructor(options: DashboardServerOptions) {
    const host = options.host ?? '127.0.0.1';
    if (!LOOPBACK.has(host)) {
      throw new SynktiError('E_DASHBOARD_HOST', `the dashboard listens on loopback only, not ${host}`, {
        hint: 'reach a remote dashboard through an SSH or SSM port forward to 127.0.0.1',
      });
    }
    this.aggregator = options.aggregator;
    this.secret = options.secret;
    this.options = {
      port: options.port ?? 0,
      host,
      pushIntervalMs: options.pushIntervalMs ?? 500,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      loginTokenTtlMs: options.loginTokenTtlMs ?? 900_000,
      assetsDir: options.assetsDir ?? DASHBOARD_ASSETS_DIR,
    };
  }

  /** Base URL once started, e.g. http://127.0.0.1:43121 */
  get url(): string {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    return `http://${host}:${this.port}`;
  }

  async start(): Promise<{ url: string; loginUrl: string }> {
    if (this.server) return { url: this.url, loginUrl: this.loginUrl() };
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${(error as Error).message}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new SynktiError('E_DASHBOARD_LISTEN', `cannot listen on ${this.options.host}:${this.options.port}: ${error.code ?? error.message}`, {
        cause: error, hint: error.code === 'EADDRINUSE' ? 'pick another --port, or --port 0 for a free one' : undefined,
      })));
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return { url: this.url, loginUrl: this.loginUrl() };
  }

  /** A fresh login link: its token works once, within loginTokenTtlMs. */
  loginUrl(): string {
    const token = randomBytes(24).toString('base64url');
    this.loginTokens.set(token, Date.now() + this.options.loginTokenTtlMs);
    return `${this.url}/login?token=${token}`;
  }

  /** Open SSE streams (tests check that a closed page releases its stream). */
  get streamCount(): number {
    return this.streams.size;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const res of this.streams) res.end();
      this.streams.clear();
      const server = this.server;
      if (!server) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return this.stopping;
  }

  private authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && sameSecret(auth.slice(7).trim(), this.secret)) return true;
    const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
    return session !== undefined && this.sessions.has(session);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    const expectedHosts = [`127.0.0.1:${this.port}`, `localhost:${this.port}`, `[::1]:${this.port}`];
    if (!expectedHosts.includes(req.headers.host ?? '')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong Host header\n');
      return;
    }
    const url = new URL(req.url ?? '/', this.url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (url.pathname === '/login') return this.login(url, res);
    if (!this.authorized(req)) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer' })
        .end('not signed in: open the link `synkti dashboard` printed (each link works once), or send the cluster secret as a Bearer token\n');
      return;
    }
    if (url.pathname === '/events') return this.events(req, res);
    if (url.pathname === '/api/snapshot') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(this.aggregator.snapshot() ?? null));
      return;
    }
    return this.asset(url.pathname === '/' ? '/index.html' : url.pathname, res);
  }

  private login(url: URL, res: ServerResponse): void {
    const token = url.searchParams.get('token') ?? '';
    const expires = this.loginTokens.get(token);
    this.loginTokens.delete(token);
    for (const [t, exp] of this.loginTokens) if (exp < Date.now()) this.loginTokens.delete(t);
    if (expires === undefined || expires < Date.now()) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' })
        .end('this login link was already used or has expired: run `synkti dashboard` again for a new one\n');
      return;
    }
    const session = randomBytes(32).toString('base64url');
    this.sessions.add(session);
    res.writeHead(303, {
      location: '/',
      'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      'cache-control': 'no-store',
    }).end();
  }

  private async asset(pathname: string, res: ServerResponse): Promise<void> {
    const root = normalize(this.options.assetsDir + sep);
    const file = normalize(join(root, decodeURIComponent(pathname)));
    if (!file.startsWith(root)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      const missingBuild = pathname === '/index.html';
      res.writeHead(missingBuild ? 500 : 404, { 'content-type': 'text/plain' })
        .end(missingBuild ? `the dashboard page is not built (${file} is missing): run \`npm run build -w @synkti/dashboard\`\n` : 'not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      // Vite names assets by content hash: they never change; the page itself always may.
      'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    }).end(body);
  }

  /** One SSE stream: the current snapshot at once, then at most one per pushIntervalMs. */
  private events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.streams.add(res);
    let lastSent = 0;
    let pending: NodeJS.Timeout | undefined;
    const send = (snapshot: DashboardSnapshot): void => {
      lastSent = Date.now();
      res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
    };
    const onSnapshot = (): void => {
      if (pending) return;
      const wait = lastSent + this.options.pushIntervalMs - Date.now();
      if (wait <= 0) {
        const s = this.aggregator.snapshot();
        if (s) send(s);
        return;
      }
      // Trailing push: the newest snapshot once the interval allows.
      pending = setTimeout(() => {
        pending = undefined;
        const s = this.aggregator.snapshot();
        if (s) send(s);
      }, wait).unref();
    };
    const heartbeat = setInterval(() => res.write(': ping\n\n'), this.options.heartbeatMs).unref();
    this.aggregator.on('snapshot', onSnapshot);
    const current = this.aggregator.snapshot();
    if (current) send(current);
    const close = (): void => {
      this.aggregator.off('snapshot', onSnapshot);
      clearInterval(heartbeat);
      if (pending) clearTimeout(pending);
      this.streams.delete(res);
    };
    req.on('close', close);
    res.on('close', close);
  }
}
