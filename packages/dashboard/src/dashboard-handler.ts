import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetAggregator } from './fleet-aggregator.ts';
import type { DashboardSnapshot } from './snapshot.ts';

/** The prebuilt page (Vite output, committed so `npm install -g` needs no build). */
export const DASHBOARD_ASSETS_DIR = fileURLToPath(new URL('../dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};
const PAGE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'";
/** The sign-in form is plain HTML: nothing to load, nothing to run. */
const FORM_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";
const MAX_FORM_BYTES = 4096;

export interface DashboardHandlerOptions {
  aggregator: FleetAggregator;
  /** The cluster secret: `Authorization: Bearer <secret>` is accepted (never logged). */
  secret: string;
  /** Path prefix the dashboard is mounted under, e.g. '/dashboard'; '' for the root. @default '' */
  basePath?: string;
  /** Least time between two snapshots pushed on one stream. @default 500 */
  pushIntervalMs?: number;
  /** SSE comment sent on an idle stream so proxies keep it open. @default 15000 */
  heartbeatMs?: number;
  /** How long a login link stays valid if unused. @default 900000 (15 minutes) */
  loginTokenTtlMs?: number;
  /**
   * Offer a sign-in form (401 page) where the cluster secret is pasted and POSTed (in the
   * body, never in a URL). Agents use it: no CLI needed to open a node's dashboard.
   * @default false
   */
  secretForm?: boolean;
  /** Sessions kept at most (the oldest are dropped). @default 1000 */
  maxSessions?: number;
  /** What a 401 tells the reader to do. @default 'open the link `synkti dashboard` printed ...' */
  signInHint?: string;
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

function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_FORM_BYTES ? undefined : new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/**
 * The dashboard's requests — page, assets, one SSE stream (`<base>/events`),
 * `<base>/api/snapshot`, sign-in — for whichever server mounts it: `synkti dashboard`'s
 * loopback server, or an agent's API port under /dashboard.
 *
 * Access: a session cookie (HttpOnly, SameSite=Strict, named per handler so two
 * dashboards on one host do not overwrite each other's) obtained from a one-time login
 * link or, with `secretForm`, by posting the cluster secret; or the cluster secret as a
 * Bearer token. `POST <base>/login-link` with the Bearer secret mints a login link.
 */
export class DashboardHandler {
  readonly basePath: string;
  private readonly options: Required<Omit<DashboardHandlerOptions, 'aggregator' | 'secret' | 'basePath'>>;
  private readonly aggregator: FleetAggregator;
  private readonly secret: string;
  private readonly cookieName = `synkti_dashboard_${randomBytes(4).toString('hex')}`;
  private readonly sessions = new Set<string>();
  private readonly loginTokens = new Map<string, number>();
  private readonly streams = new Set<ServerResponse>();

  constructor(options: DashboardHandlerOptions) {
    this.aggregator = options.aggregator;
    this.secret = options.secret;
    this.basePath = (options.basePath ?? '').replace(/\/+$/, '');
    this.options = {
      pushIntervalMs: options.pushIntervalMs ?? 500,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      loginTokenTtlMs: options.loginTokenTtlMs ?? 900_000,
      secretForm: options.secretForm ?? false,
      maxSessions: options.maxSessions ?? 1000,
      signInHint:
        options.signInHint ??
        'open the link `synkti dashboard` printed (each link works once), or send the cluster secret as a Bearer token',
      assetsDir: options.assetsDir ?? DASHBOARD_ASSETS_DIR,
    };
  }

  /** Does this request path belong to the dashboard? */
  owns(pathname: string): boolean {
    return this.basePath === '' || pathname === this.basePath || pathname.startsWith(`${this.basePath}/`);
  }

  /** A fresh login path (`<base>/login?token=…`): its token works once, within loginTokenTtlMs. */
  loginPath(): string {
    const token = randomBytes(24).toString('base64url');
    this.loginTokens.set(token, Date.now() + this.options.loginTokenTtlMs);
    return `${this.basePath}/login?token=${token}`;
  }

  /** Open SSE streams (tests check that a closed page releases its stream). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Ends every open stream (the server is stopping). */
  close(): void {
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  /** Serves one request whose path `owns()` accepted. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    const path = url.pathname.slice(this.basePath.length) || '';
    if (path === '') {
      // Relative asset and stream URLs need the trailing slash.
      req.resume();
      res.writeHead(308, { location: `${this.basePath}/` }).end();
      return;
    }
    if (req.method === 'POST' && path === '/login' && this.options.secretForm) return this.formLogin(req, res);
    if (req.method === 'POST' && path === '/login-link') {
      req.resume();
      if (!this.bearer(req)) return this.unauthorized(res);
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify({ loginPath: this.loginPath() }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/login') return this.linkLogin(url, res);
    if (!this.authorized(req)) return this.unauthorized(res);
    if (path === '/events') return this.events(req, res);
    if (path === '/api/snapshot') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(this.aggregator.snapshot() ?? null));
      return;
    }
    return this.asset(path === '/' ? '/index.html' : path, res);
  }

  private bearer(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    return auth?.startsWith('Bearer ') === true && sameSecret(auth.slice(7).trim(), this.secret);
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.bearer(req)) return true;
    const session = cookieValue(req.headers.cookie, this.cookieName);
    return session !== undefined && this.sessions.has(session);
  }

  private unauthorized(res: ServerResponse, message?: string): void {
    if (this.options.secretForm) {
      res
        .writeHead(401, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy': FORM_CSP,
          'www-authenticate': 'Bearer realm="synkti"',
        })
        .end(signInPage(this.basePath, message));
      return;
    }
    res
      .writeHead(401, { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Bearer realm="synkti"' })
      .end(`not signed in: ${this.options.signInHint}\n`);
  }

  private startSession(res: ServerResponse): void {
    const session = randomBytes(32).toString('base64url');
    this.sessions.add(session);
    // A Set iterates in insertion order: drop the oldest beyond the cap.
    for (const old of this.sessions) {
      if (this.sessions.size <= this.options.maxSessions) break;
      this.sessions.delete(old);
    }
    res
      .writeHead(303, {
        location: `${this.basePath}/`,
        'set-cookie': `${this.cookieName}=${session}; HttpOnly; SameSite=Strict; Path=${this.basePath}/`,
        'cache-control': 'no-store',
      })
      .end();
  }

  private linkLogin(url: URL, res: ServerResponse): void {
    const token = url.searchParams.get('token') ?? '';
    const expires = this.loginTokens.get(token);
    this.loginTokens.delete(token);
    for (const [t, exp] of this.loginTokens) if (exp < Date.now()) this.loginTokens.delete(t);
    if (expires === undefined || expires < Date.now()) {
      res
        .writeHead(401, { 'content-type': 'text/plain; charset=utf-8' })
        .end(
          `this login link was already used or has expired: ${this.options.secretForm ? `sign in at ${this.basePath}/ with the cluster secret` : 'run `synkti dashboard` again for a new one'}\n`,
        );
      return;
    }
    this.startSession(res);
  }

  private async formLogin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    const given = form?.get('secret')?.trim() ?? '';
    if (given === '' || !sameSecret(given, this.secret)) return this.unauthorized(res, 'wrong cluster secret');
    this.startSession(res);
  }

  private async asset(pathname: string, res: ServerResponse): Promise<void> {
    const root = normalize(this.options.assetsDir + sep);
    let file: string;
    try {
      file = normalize(join(root, decodeURIComponent(pathname)));
    } catch {
      file = '';
    }
    if (!file.startsWith(root)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      const missingBuild = pathname === '/index.html';
      res
        .writeHead(missingBuild ? 500 : 404, { 'content-type': 'text/plain' })
        .end(
          missingBuild
            ? `the dashboard page is not built (${file} is missing): run \`npm run build -w @synkti/dashboard\`\n`
            : 'not found\n',
        );
      return;
    }
    res
      .writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        // Vite names assets by content hash: they never change; the page itself always may.
        'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
        'content-security-policy': PAGE_CSP,
      })
      .end(body);
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

function signInPage(basePath: string, message: string | undefined): string {
  const note = message ? `<p><strong>${message}</strong></p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Synkti dashboard: sign in</title></head>
<body><h1>Synkti dashboard</h1>${note}
<form method="post" action="${basePath}/login">
<p><label>Cluster secret <input type="password" name="secret" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button></p></form>
<p>The secret is the cluster's (locally <code>.synkti/&lt;cluster&gt;/cluster-secret</code>); it is sent in the request body and never stored in the browser: a session cookie is.</p>
</body></html>
`;
}
