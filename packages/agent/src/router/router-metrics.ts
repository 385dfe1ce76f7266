import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why the router failed or gave up on a request: the `reason` label of `synkti_router_errors_total`. */
export type RouterErrorReason =
  | 'upstream_connect' // connection refused/reset/failed before a response
  | 'upstream_status' // upstream answered 502/503
  | 'handback' // upstream handed the request back with x-synkti-retry: 1
  | 'upstream_aborted' // upstream died after the response had started
  | 'timeout' // per-request timeout
  | 'queue_full' // every peer saturated and the wait queue full
  | 'queue_timeout' // waited queueTimeoutMs for a peer slot
  | 'body_too_large' // request body over the limit
  | 'bad_request' // request body could not be read
  | 'client_abort' // client went away before the response was complete
  | 'stopping'; // router shutting down

const REASONS: readonly RouterErrorReason[] = [
  'upstream_connect',
  'upstream_status',
  'handback',
  'upstream_aborted',
  'timeout',
  'queue_full',
  'queue_timeout',
  'body_too_large',
  'bad_request',
  'client_abort',
  'stopping',
];

const NAMES = [
  'synkti_router_requests_total',
  'synkti_router_errors_total',
  'synkti_router_request_duration_seconds',
  'synkti_router_peer_in_flight',
  'synkti_router_queue_length',
  'synkti_router_retries_total',
] as const;

/** Where the gauges read their values at scrape time (nothing is updated per request). */
export interface RouterMetricSources {
  peerLoads(): Iterable<[string, number]>;
  queueLength(): number;
}

/**
 * The router's Prometheus metrics. Label children are resolved once and cached, so the
 * per-request cost is a few additions; the gauges are computed when scraped.
 */
export class RouterMetrics {
  readonly #requests: Counter<'code'>;
  readonly #errors = new Map<RouterErrorReason, Counter.Internal>();
  readonly #duration: Histogram;
  readonly #retries: Counter;
  readonly #codes = new Map<number, Counter.Internal>();

  constructor(registry: Registry, sources: RouterMetricSources) {
    // A router re-created on the same registry (agent restart in-process) replaces the old series.
    for (const name of NAMES) if (registry.getSingleMetric(name) !== undefined) registry.removeSingleMetric(name);
    const registers = [registry];
    this.#requests = new Counter({
      name: 'synkti_router_requests_total',
      help: 'Requests answered by the router, by HTTP status code (499: client went away).',
      labelNames: ['code'],
      registers,
    });
    const errors = new Counter({
      name: 'synkti_router_errors_total',
      help: 'Failed upstream attempts and rejected requests, by reason.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of REASONS) this.#errors.set(reason, errors.labels(reason));
    this.#duration = new Histogram({
      name: 'synkti_router_request_duration_seconds',
      help: 'Time from request arrival to the end of the response, queueing and retries included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    new Gauge({
      name: 'synkti_router_peer_in_flight',
      help: 'Requests this router has in flight on each peer.',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const [peer, n] of sources.peerLoads()) this.set({ peer }, n);
      },
    });
    new Gauge({
      name: 'synkti_router_queue_length',
      help: 'Requests waiting for a peer slot.',
      registers,
      collect() {
        this.set(sources.queueLength());
      },
    });
    this.#retries = new Counter({
      name: 'synkti_router_retries_total',
      help: 'Requests sent again to another peer after a failed attempt.',
      registers,
    });
  }

  /** One answered request: its status code and how long it took in seconds. */
  request(code: number, seconds: number): void {
    let child = this.#codes.get(code);
    if (child === undefined) {
      child = this.#requests.labels(String(code));
      this.#codes.set(code, child);
    }
    child.inc();
    this.#duration.observe(seconds);
  }

  error(reason: RouterErrorReason): void {
    this.#errors.get(reason)!.inc();
  }

  retry(): void {
    this.#retries.inc();
  }
}
