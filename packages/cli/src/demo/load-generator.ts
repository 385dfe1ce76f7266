import { request, Agent as HttpAgent } from 'node:http';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';

export interface LoadGeneratorOptions {
  /** Router base URLs to send to (refreshed by the caller as the fleet changes). */
  endpoints: () => string[];
  /** Concurrent streams kept open. @default 8 */
  concurrency?: number;
  /** Tokens asked per completion. @default 24 */
  maxTokens?: number;
  /** A stream that has not finished in this long counts as failed (never a hang). @default 30000 */
  requestTimeoutMs?: number;
  /** How often router health is checked, as a load balancer would. @default 500 */
  healthIntervalMs?: number;
  /** Check router health and skip unhealthy routers; false when a load balancer in front does it. @default true */
  healthChecks?: boolean;
  /** Retry on another endpoint a request whose connection failed before any response; false counts it as failed. @default true */
  retryConnectionFailures?: boolean;
  /**
   * A connect that takes longer fails as a connection failure (nothing was sent: it is
   * retried like a refused one). For routers whose address may drop packets instead of
   * refusing (a cut link). @default none (the OS's SYN retries, minutes)
   */
  connectTimeoutMs?: number;
  /**
   * Reuse connections. false: a new connection per request, so a request to a router that
   * went silent fails at connect (safe to retry) instead of waiting on a reused one. @default true
   */
  keepAlive?: boolean;
}

export interface RequestOutcome {
  ok: boolean;
  ms: number;
  router: string;
  servedBy: string | undefined;
  error?: string;
  startedAt: number;
  /** The stream had begun (200 and headers received) and did not end with its final event. */
  cutMidStream?: boolean;
}

/**
 * A client of the fleet: keeps N chat-completion streams going through the routers, the
 * way users behind a load balancer would. Like a load balancer it stops sending to a
 * router whose health check fails. Like the official OpenAI clients (which retry
 * connection errors by default) it retries, on another router, a request whose
 * connection failed before any response arrived: refused, or reset by a router that
 * just died. A stream that failed after its response began is never retried: it counts.
 */
export class LoadGenerator {
  readonly outcomes: RequestOutcome[] = [];
  private readonly options: LoadGeneratorOptions;
  private readonly unhealthy = new Set<string>();
  private readonly agent: HttpAgent;
  private running = false;
  private workers: Promise<void>[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private rotation = 0;
  inFlight = 0;
  /** Streams open now: their router, and the peer serving them once their head arrived. */
  readonly open = new Set<{ router: string; servedBy: string | undefined }>();

  constructor(options: LoadGeneratorOptions) {
    this.options = options;
    this.agent = new HttpAgent({ keepAlive: options.keepAlive ?? true, maxSockets: 256 });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const checkHealth = (): void => {
      void this.checkHealth().finally(() => {
        if (this.running) this.healthTimer = setTimeout(checkHealth, this.options.healthIntervalMs ?? 500).unref();
      });
    };
    if (this.options.healthChecks !== false) checkHealth();
    for (let i = 0; i < (this.options.concurrency ?? 8); i++) this.workers.push(this.loop());
  }

  /** Stop starting requests and wait for those in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.healthTimer) clearTimeout(this.healthTimer);
    await Promise.all(this.workers);
    this.agent.destroy();
  }

  private healthyEndpoints(): string[] {
    const all = this.options.endpoints();
    const healthy = all.filter((e) => !this.unhealthy.has(e));
    return healthy.length > 0 ? healthy : all;
  }

  private async checkHealth(): Promise<void> {
    await Promise.all(
      this.options.endpoints().map(async (endpoint) => {
        try {
          const response = await fetch(`${endpoint}${ROUTER_HEALTH_PATH}`, { signal: AbortSignal.timeout(1000) });
          await response.arrayBuffer();
          if (response.ok) this.unhealthy.delete(endpoint);
          else this.unhealthy.add(endpoint);
        } catch {
          this.unhealthy.add(endpoint);
        }
      }),
    );
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const endpoints = this.healthyEndpoints();
      if (endpoints.length === 0) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const startedAt = Date.now();
      let outcome: RequestOutcome | undefined;
      // A refused connection never reached the fleet: try the next router (bounded).
      const attempts = this.options.retryConnectionFailures === false ? 1 : endpoints.length + 2;
      for (let attempt = 0; attempt < attempts && !outcome; attempt++) {
        const router = endpoints[this.rotation++ % endpoints.length]!;
        this.inFlight += 1;
        const result = await this.streamOnce(router);
        this.inFlight -= 1;
        if ('connectionFailed' in result) {
          this.unhealthy.add(router);
          // Without client retries it counts: the balancer in front should have handled it.
          if (this.options.retryConnectionFailures === false) {
            outcome = {
              ok: false,
              router,
              servedBy: undefined,
              error: `connection failed before any response (${result.connectionFailed})`,
              startedAt,
              ms: Date.now() - startedAt,
            };
          }
          continue;
        }
        outcome = { ...result, router, startedAt, ms: Date.now() - startedAt };
      }
      this.outcomes.push(
        outcome ?? {
          ok: false,
          ms: Date.now() - startedAt,
          router: '-',
          servedBy: undefined,
          error: 'no router accepted the connection',
          startedAt,
        },
      );
    }
  }

  /** The stream's result, or `connectionFailed` (the error code) when no response arrived on a refused or reset connection. */
  private streamOnce(
    router: string,
  ): Promise<{ ok: boolean; servedBy: string | undefined; error?: string; cutMidStream?: boolean } | { connectionFailed: string }> {
    const body = JSON.stringify({
      model: 'synkti-stand-in',
      stream: true,
      max_tokens: this.options.maxTokens ?? 24,
      messages: [{ role: 'user', content: 'Tell me about spot instances.' }],
    });
    const url = new URL('/v1/chat/completions', router);
    return new Promise((resolve) => {
      let settled = false;
      let responded = false;
      let streaming = false;
      const entry: { router: string; servedBy: string | undefined } = { router, servedBy: undefined };
      this.open.add(entry);
      const finish = (value: { ok: boolean; servedBy: string | undefined; error?: string } | { connectionFailed: string }): void => {
        if (settled) return;
        settled = true;
        this.open.delete(entry);
        clearTimeout(timer);
        // A stream that began and did not reach [DONE]: the client saw a partial answer.
        resolve(!('connectionFailed' in value) && !value.ok && streaming ? { ...value, cutMidStream: true } : value);
      };
      const req = request(
        url,
        { method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          responded = true;
          streaming = res.statusCode === 200;
          const servedBy = (res.headers['x-synkti-peer'] as string | undefined) ?? (res.headers['x-served-by'] as string | undefined);
          entry.servedBy = servedBy;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => {
            if (res.statusCode !== 200) finish({ ok: false, servedBy, error: `HTTP ${res.statusCode}` });
            else if (!text.includes('data: [DONE]')) finish({ ok: false, servedBy, error: 'stream ended without [DONE]' });
            else finish({ ok: true, servedBy });
          });
          res.on('error', (error) => finish({ ok: false, servedBy, error: `stream broken: ${error.message}` }));
          res.on('aborted', () => finish({ ok: false, servedBy, error: 'stream aborted' }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error('timeout'));
        // The serving peer stays known (its head arrived): a stream timed out on a cut peer is counted against that peer.
        finish({ ok: false, servedBy: entry.servedBy, error: 'timed out' });
      }, this.options.requestTimeoutMs ?? 30_000);
      let connectTimedOut = false;
      const connectTimeoutMs = this.options.connectTimeoutMs;
      if (connectTimeoutMs !== undefined) {
        req.once('socket', (socket) => {
          if (!socket.connecting) return;
          const connectTimer = setTimeout(() => {
            connectTimedOut = true;
            req.destroy(Object.assign(new Error(`connect timed out after ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
          }, connectTimeoutMs);
          socket.once('connect', () => clearTimeout(connectTimer));
          socket.once('close', () => clearTimeout(connectTimer));
        });
      }
      req.on('error', (error: NodeJS.ErrnoException) => {
        // No response at all: the router is gone (refused, reset as it died, or silent at connect).
        const connectionLevel =
          ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(error.code ?? '') || error.message === 'socket hang up' || connectTimedOut;
        if (!responded && connectionLevel)
          finish({
            connectionFailed: `${error.code ?? error.message}${(req as { reusedSocket?: boolean }).reusedSocket ? ' on a reused keep-alive connection' : ''}`,
          });
        else finish({ ok: false, servedBy: undefined, error: error.code ?? error.message });
      });
      req.end(body);
    });
  }
}

/** What every demo reports of its traffic: counts, latency of the complete streams, failures by what the client saw. */
export function summarizeOutcomes(outcomes: readonly RequestOutcome[]): {
  requests: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  failures: Record<string, number>;
} {
  const latencies = outcomes.filter((o) => o.ok).map((o) => o.ms);
  const failures: Record<string, number> = {};
  let failed = 0;
  for (const o of outcomes) {
    if (o.ok) continue;
    failed += 1;
    failures[o.error ?? 'unknown'] = (failures[o.error ?? 'unknown'] ?? 0) + 1;
  }
  return { requests: outcomes.length, failed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), failures };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
