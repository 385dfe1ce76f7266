import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SynktiError } from '@synkti/core';
import { DashboardHandler, DASHBOARD_ASSETS_DIR } from './dashboard-handler.ts';
import type { FleetAggregator } from './fleet-aggregator.ts';

export { DASHBOARD_ASSETS_DIR };

const LOOPBACK = new Set(['127.0.0.1', '::1']);

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

/**
 * `synkti dashboard`'s server: the dashboard (DashboardHandler) at the root of its own
 * port on loopback. Access: a login link with a one-time token (sets an HttpOnly session
 * cookie) or the cluster secret as a Bearer token. The Host header must name this
 * loopback address (no DNS rebinding).
 */
export class DashboardServer {
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly handler: DashboardHandler;
  private server: Server | undefined;
  private port = 0;
  private stopping: Promise<void> | undefined;

  constructor(options: DashboardServerOptions) {
    const host = options.host ?? '127.0.0.1';
    if (!LOOPBACK.has(host)) {
      throw new SynktiError('E_DASHBOARD_HOST', `the dashboard listens on loopback only, not ${host}`, {
        hint: "reach a remote dashboard through an SSH or SSM port forward to 127.0.0.1, or open a node agent's /dashboard/",
      });
    }
    this.host = host;
    this.requestedPort = options.port ?? 0;
    this.handler = new DashboardHandler({
      aggregator: options.aggregator,
      secret: options.secret,
      pushIntervalMs: options.pushIntervalMs,
      heartbeatMs: options.heartbeatMs,
      loginTokenTtlMs: options.loginTokenTtlMs,
      assetsDir: options.assetsDir ?? DASHBOARD_ASSETS_DIR,
    });
  }

  /** Base URL once started, e.g. http://127.0.0.1:43121 */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}`;
  }

  async start(): Promise<{ url: string; loginUrl: string }> {
    if (this.server) return { url: this.url, loginUrl: this.loginUrl() };
    const server = createServer((req, res) => {
      const expectedHosts = [`127.0.0.1:${this.port}`, `localhost:${this.port}`, `[::1]:${this.port}`];
      if (!expectedHosts.includes(req.headers.host ?? '')) {
        res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong Host header\n');
        return;
      }
      this.handler.handle(req, res, new URL(req.url ?? '/', this.url)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${(error as Error).message}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new SynktiError('E_DASHBOARD_LISTEN', `cannot listen on ${this.host}:${this.requestedPort}: ${error.code ?? error.message}`, {
            cause: error,
            hint: error.code === 'EADDRINUSE' ? 'pick another --port, or --port 0 for a free one' : undefined,
          }),
        ),
      );
      server.listen(this.requestedPort, this.host, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return { url: this.url, loginUrl: this.loginUrl() };
  }

  /** A fresh login link: its token works once, within loginTokenTtlMs. */
  loginUrl(): string {
    return `${this.url}${this.handler.loginPath()}`;
  }

  /** Open SSE streams (tests check that a closed page releases its stream). */
  get streamCount(): number {
    return this.handler.streamCount;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.handler.close();
      const server = this.server;
      if (!server) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return this.stopping;
  }
}
