/**
 * A per-instance metadata server for the local cloud that speaks IMDSv2 the way EC2 does
 * for the paths Synkti reads, so the one metadata client (metadata/imds-client.ts) runs
 * unchanged locally and on EC2 (docs/architecture.md "Providers").
 *
 * Behaviour copied from EC2 with tokens required (HttpTokens=required):
 * - `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` (an integer
 *   1..21600, else 400) and is refused (403) when it carries `X-Forwarded-For`, as EC2
 *   does to keep tokens away from reverse proxies.
 * - every GET needs a valid, unexpired `X-aws-ec2-metadata-token`, else 401 — checked
 *   before the path, so a token-less GET of any path is 401.
 * - absent data (no notice, no user data, unknown tag or path) is 404.
 * Tokens live in memory only: a restarted server rejects every earlier token, like an
 * IMDS after a host change, which is what a client's 401-recovery must handle.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InstanceIdentity, InterruptionNotice, RebalanceRecommendation } from '../../types.ts';

/** Where the server reads the instance's metadata from; read afresh on every request. */
export interface MetadataSource {
  identity(): Promise<InstanceIdentity>;
  /** `undefined`: tags are not in this instance's metadata (404, as EC2 with InstanceMetadataTags=disabled). */
  tags(): Promise<Record<string, string> | undefined>;
  userData(): Promise<string | undefined>;
  interruptionNotice(): Promise<InterruptionNotice | null>;
  rebalanceRecommendation(): Promise<RebalanceRecommendation | null>;
  /**
   * Any other path (the full path, e.g. `/latest/meta-data/ami-id` or
   * `/latest/dynamic/instance-identity/document`); `undefined` is a 404. Optional: the
   * local cloud serves only the paths above, the emulated EC2 serves more.
   */
  otherPath?(path: string): Promise<string | undefined>;
}

export interface MetadataServerOptions {
  /** Answers for the metadata paths; a throw or rejection becomes a 500 for that request. */
  source: MetadataSource;
  /**
   * Address to bind.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port to bind; 0 picks any free port.
   * @default 0
   */
  port?: number;
  /**
   * Epoch-milliseconds clock used for token expiry (injectable for tests).
   * @default Date.now
   */
  clock?: () => number;
}

export interface MetadataServer {
  /** Base URL, e.g. `http://127.0.0.1:40123` (what SYNKTI_IMDS_ENDPOINT should be set to). */
  url: string;
  port: number;
  /** Stops listening and drops open connections; idempotent. */
  stop(): Promise<void>;
}

export const IMDS_TOKEN_HEADER = 'x-aws-ec2-metadata-token';
export const IMDS_TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const IMDS_MAX_TOKEN_TTL_SECONDS = 21600;

/** Bound on remembered tokens so a client that PUTs in a loop cannot grow memory forever. */
const MAX_TOKENS = 10_000;

/** EC2 writes notice times in UTC with whole seconds and no milliseconds. */
export function formatImdsTime(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

class HttpStatus extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(status));
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
};

export async function startMetadataServer(options: MetadataServerOptions): Promise<MetadataServer> {
  const { source } = options;
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? Date.now;
  /** token -> expiry (epoch ms). Map keeps insertion order, used to evict the oldest. */
  const tokens = new Map<string, number>();

  function issueToken(req: IncomingMessage): { token: string; ttl: number } {
    if (req.headers['x-forwarded-for'] !== undefined) throw new HttpStatus(403);
    const raw = req.headers[IMDS_TOKEN_TTL_HEADER];
    const text = Array.isArray(raw) ? raw[0] : raw;
    if (text === undefined || !/^\d{1,6}$/.test(text.trim())) throw new HttpStatus(400);
    const ttl = Number(text.trim());
    if (ttl < 1 || ttl > IMDS_MAX_TOKEN_TTL_SECONDS) throw new HttpStatus(400);
    const now = clock();
    for (const [t, expiresAt] of tokens) if (expiresAt <= now) tokens.delete(t);
    while (tokens.size >= MAX_TOKENS) {
      const oldest = tokens.keys().next().value;
      if (oldest === undefined) break;
      tokens.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    tokens.set(token, now + ttl * 1000);
    return { token, ttl };
  }

  /** Remaining whole seconds of a valid token; throws 401 for a missing, unknown or expired one. */
  function checkToken(req: IncomingMessage): number {
    const raw = req.headers[IMDS_TOKEN_HEADER];
    const token = Array.isArray(raw) ? raw[0] : raw;
    if (!token) throw new HttpStatus(401);
    const expiresAt = tokens.get(token);
    const now = clock();
    if (expiresAt === undefined) throw new HttpStatus(401);
    if (expiresAt <= now) {
      tokens.delete(token);
      throw new HttpStatus(401);
    }
    return Math.max(1, Math.floor((expiresAt - now) / 1000));
  }

  /** The body for a metadata path; 404 when the path or its data does not exist. */
  async function read(path: string): Promise<string> {
    switch (path) {
      case '/latest/meta-data/instance-id':
        return (await source.identity()).instanceId;
      case '/latest/meta-data/instance-type':
        return (await source.identity()).instanceType;
      case '/latest/meta-data/placement/availability-zone':
        return (await source.identity()).zone;
      case '/latest/meta-data/placement/region':
        return (await source.identity()).region;
      case '/latest/meta-data/local-ipv4':
        return (await source.identity()).privateIp;
      case '/latest/meta-data/tags/instance':
      case '/latest/meta-data/tags/instance/': {
        const tags = await source.tags();
        if (!tags) throw new HttpStatus(404);
        return Object.keys(tags).sort().join('\n');
      }
      case '/latest/user-data': {
        const data = await source.userData();
        if (data === undefined) throw new HttpStatus(404);
        return data;
      }
      case '/latest/meta-data/spot/instance-action': {
        const notice = await source.interruptionNotice();
        if (!notice) throw new HttpStatus(404);
        return JSON.stringify({ action: notice.action, time: formatImdsTime(notice.time) });
      }
      case '/latest/meta-data/events/recommendations/rebalance': {
        const rec = await source.rebalanceRecommendation();
        if (!rec) throw new HttpStatus(404);
        return JSON.stringify({ noticeTime: formatImdsTime(rec.noticeTime) });
      }
    }
    const tagPrefix = '/latest/meta-data/tags/instance/';
    if (path.startsWith(tagPrefix)) {
      let key: string;
      try {
        key = decodeURIComponent(path.slice(tagPrefix.length));
      } catch {
        throw new HttpStatus(404);
      }
      const tags = await source.tags();
      if (!tags || !Object.hasOwn(tags, key)) throw new HttpStatus(404);
      return tags[key] ?? '';
    }
    if (source.otherPath) {
      const body = await source.otherPath(path);
      if (body !== undefined) return body;
    }
    throw new HttpStatus(404);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://imds').pathname;
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') throw new HttpStatus(405, { allow: 'PUT' });
      const { token, ttl } = issueToken(req);
      send(res, 200, token, { [IMDS_TOKEN_TTL_HEADER]: String(ttl) });
      return;
    }
    if (req.method !== 'GET') throw new HttpStatus(405, { allow: 'GET' });
    const remaining = checkToken(req);
    const body = await read(path);
    send(res, 200, body, { [IMDS_TOKEN_TTL_HEADER]: String(remaining) });
  }

  const server = createServer((req, res) => {
    // Drain any request body; IMDS requests carry none that matters.
    req.resume();
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpStatus ? error.status : 500;
      const headers = error instanceof HttpStatus ? error.headers : {};
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(res, status, errorPage(status), { ...headers, 'content-type': 'text/html' });
    });
  });
  // Keep-alive sockets must not hold stop() open.
  server.keepAliveTimeout = 2000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        tokens.clear();
      });
      return stopping;
    },
  };
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'content-type': 'text/plain',
    ...headers,
    'content-length': String(buf.length),
  });
  res.end(buf);
}

/** EC2 answers errors with a small XHTML page naming the status. */
function errorPage(status: number): string {
  const title = `${status} - ${REASONS[status] ?? 'Error'}`;
  return (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n' +
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n' +
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n' +
    ` <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n </body>\n</html>\n`
  );
}
