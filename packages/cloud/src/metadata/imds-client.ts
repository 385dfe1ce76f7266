/**
 * IMDSv2 client: the one InstanceMetadata implementation, used on EC2 (169.254.169.254)
 * and locally (the per-instance metadata server, found through SYNKTI_IMDS_ENDPOINT).
 *
 * The failure rule that matters (docs/field-notes.md "Spot interruption on AWS"): only a 404 means
 * "no notice". A timeout, refused connection, 5xx, a 401 that a fresh token does not cure,
 * or a body that does not parse throws E_IMDS_UNAVAILABLE, so a caller can never mistake
 * an outage for "no notice" (and miss the 2-minute warning) or for a notice.
 */
import { SynktiError } from '@synkti/core';
import type { InstanceIdentity, InstanceMetadata, InterruptionNotice, RebalanceRecommendation } from '../types.ts';
import { readIdentityProof } from './identity-document.ts';
import { backoffCeilingMs } from '@synkti/core/backoff';

export interface ImdsClientOptions {
  /**
   * Base URL of the metadata service.
   * @default process.env.SYNKTI_IMDS_ENDPOINT ?? 'http://169.254.169.254'
   */
  endpoint?: string;
  /**
   * Lifetime requested for each session token, 1..21600 seconds. The token is refreshed
   * shortly before it expires.
   * @default 21600
   */
  tokenTtlSeconds?: number;
  /**
   * Time limit for each HTTP call (token PUT or GET).
   * @default 1000
   */
  timeoutMs?: number;
  /**
   * Extra attempts after a timeout, connection error or 5xx, with a short backoff
   * (50 ms, then doubling).
   * @default 2
   */
  retries?: number;
  /**
   * Epoch-milliseconds clock used to decide when the cached token needs refreshing.
   * @default Date.now
   */
  clock?: () => number;
}

export const IMDS_DEFAULT_ENDPOINT = 'http://169.254.169.254';
export const IMDS_ENDPOINT_ENV = 'SYNKTI_IMDS_ENDPOINT';

const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';
const BACKOFF_BASE_MS = 50;
/** Instance-action and rebalance times: ISO 8601 with an explicit zone (never local time). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ACTIONS = new Set<InterruptionNotice['action']>(['terminate', 'stop', 'hibernate']);

const UNAVAILABLE_HINT =
  'On EC2, check the instance metadata options: HttpEndpoint=enabled, ' +
  'and HttpPutResponseHopLimit >= 2 when running in a container (else the token PUT times out). ' +
  `Locally, set ${IMDS_ENDPOINT_ENV} to the instance's metadata server URL.`;

/** A response we may retry (timeouts, connection errors, 5xx). */
class Transient extends Error {}

/** The metadata client: the provider-neutral interface plus raw reads of any IMDS path. */
export interface ImdsClient extends InstanceMetadata {
  /** GET `/latest/meta-data/<path>` (trimmed); `undefined` when the service answers 404. */
  read(path: string): Promise<string | undefined>;
}

export function createImdsClient(options: ImdsClientOptions = {}): ImdsClient {
  const endpoint = parseEndpoint(options.endpoint ?? process.env[IMDS_ENDPOINT_ENV] ?? IMDS_DEFAULT_ENDPOINT);
  const ttlSeconds = options.tokenTtlSeconds ?? 21600;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 21600) {
    throw new SynktiError('E_INVALID_OPTION', `tokenTtlSeconds must be an integer from 1 to 21600, got ${ttlSeconds}`, {
      hint: 'IMDSv2 refuses token lifetimes outside 1..21600 seconds; leave it unset for 6 hours.',
    });
  }
  const timeoutMs = options.timeoutMs ?? 1000;
  const retries = options.retries ?? 2;
  if (!(timeoutMs > 0) || !Number.isInteger(retries) || retries < 0) {
    throw new SynktiError('E_INVALID_OPTION', `timeoutMs must be > 0 and retries an integer >= 0 (got ${timeoutMs}, ${retries})`);
  }
  const clock = options.clock ?? Date.now;
  // Refresh ahead of expiry so a token never lapses between our check and the server's.
  const refreshMarginMs = Math.min(60_000, (ttlSeconds * 1000) / 4);

  let cached: { token: string; refreshAt: number } | undefined;
  let pending: Promise<string> | undefined;

  function unavailable(what: string, cause?: unknown): SynktiError {
    return new SynktiError('E_IMDS_UNAVAILABLE', `instance metadata at ${endpoint} is unavailable: ${what}`, {
      cause,
      hint: UNAVAILABLE_HINT,
    });
  }

  /** One HTTP call with retries on transient failures. */
  async function call(method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(backoffCeilingMs(attempt - 1, { baseMs: BACKOFF_BASE_MS, capMs: Infinity }));
      try {
        const res = await fetch(`${endpoint}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
        const body = await res.text();
        if (res.status >= 500) throw new Transient(`${method} ${path} answered ${res.status}`);
        return { status: res.status, body };
      } catch (error) {
        lastError = error;
      }
    }
    const reason = lastError instanceof Transient ? lastError.message : `${method} ${path} failed after ${retries + 1} attempts`;
    throw unavailable(reason, lastError);
  }

  async function fetchToken(): Promise<string> {
    const startedAt = clock();
    const { status, body } = await call('PUT', '/latest/api/token', { [TOKEN_TTL_HEADER]: String(ttlSeconds) });
    if (status !== 200 || body.length === 0) {
      throw unavailable(
        status === 403
          ? 'the token request was refused (403: metadata endpoint disabled, or the request carried X-Forwarded-For)'
          : `the token request answered ${status}`,
      );
    }
    cached = { token: body, refreshAt: startedAt + ttlSeconds * 1000 - refreshMarginMs };
    return body;
  }

  /** The cached token, or one fresh token shared by every concurrent caller. */
  function token(): Promise<string> {
    if (cached && clock() < cached.refreshAt) return Promise.resolve(cached.token);
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    return pending;
  }

  /** GET a metadata path; `undefined` for 404. */
  async function get(path: string): Promise<string | undefined> {
    let used = await token();
    let res = await call('GET', path, { [TOKEN_HEADER]: used });
    if (res.status === 401) {
      // Token expired early or the service restarted and forgot it: one fresh token, one retry.
      if (cached?.token === used) cached = undefined;
      used = await token();
      res = await call('GET', path, { [TOKEN_HEADER]: used });
      if (res.status === 401) throw unavailable(`GET ${path} answered 401 even with a fresh token`);
    }
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw unavailable(`GET ${path} answered ${res.status}`);
    return res.body;
  }

  async function getRequired(path: string): Promise<string> {
    const body = await get(path);
    if (body === undefined) throw unavailable(`GET ${path} answered 404`);
    return body.trim();
  }

  function parseJson(path: string, body: string): Record<string, unknown> {
    try {
      const value: unknown = JSON.parse(body);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch (error) {
      throw unavailable(`GET ${path} returned a body that is not JSON`, error);
    }
    throw unavailable(`GET ${path} returned JSON that is not an object`);
  }

  function parseTime(path: string, field: string, value: unknown): number {
    const ms = typeof value === 'string' && ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(ms)) throw unavailable(`GET ${path} returned an unreadable ${field}: ${JSON.stringify(value)}`);
    return ms;
  }

  return {
    async read(path: string): Promise<string | undefined> {
      return (await get(`/latest/meta-data/${path.replace(/^\/+/, '')}`))?.trim();
    },

    async identity(): Promise<InstanceIdentity> {
      const [instanceId, instanceType, zone, region, privateIp] = await Promise.all([
        getRequired('/latest/meta-data/instance-id'),
        getRequired('/latest/meta-data/instance-type'),
        getRequired('/latest/meta-data/placement/availability-zone'),
        getRequired('/latest/meta-data/placement/region'),
        getRequired('/latest/meta-data/local-ipv4'),
      ]);
      return { instanceId, instanceType, region, zone, privateIp };
    },

    async tags(): Promise<Record<string, string>> {
      const listing = await get('/latest/meta-data/tags/instance');
      if (listing === undefined) {
        throw new SynktiError('E_IMDS_TAGS_DISABLED', `instance tags are not available from instance metadata at ${endpoint}`, {
          hint: 'Launch the instance with MetadataOptions InstanceMetadataTags=enabled so it can read its own tags.',
        });
      }
      const keys = listing
        .split('\n')
        .map((k) => k.trim())
        .filter((k) => k.length > 0);
      const values = await Promise.all(keys.map((k) => get(`/latest/meta-data/tags/instance/${encodeURIComponent(k)}`)));
      const tags: Record<string, string> = {};
      keys.forEach((k, i) => {
        const v = values[i];
        // A key listed then gone (tag removed between the two calls) is simply absent.
        if (v !== undefined) tags[k] = v;
      });
      return tags;
    },

    async userData(): Promise<string | undefined> {
      return get('/latest/user-data');
    },

    async identityProof() {
      const region = await getRequired('/latest/meta-data/placement/region');
      return readIdentityProof(get, region);
    },

    async interruptionNotice(): Promise<InterruptionNotice | null> {
      const path = '/latest/meta-data/spot/instance-action';
      const body = await get(path);
      if (body === undefined) return null;
      const json = parseJson(path, body);
      const action = json.action;
      if (typeof action !== 'string') {
        throw unavailable(`GET ${path} returned no action: ${JSON.stringify(action)}`);
      }
      // An action we do not know yet still means the instance is going away: treat it as
      // terminate so the node drains, rather than missing the notice.
      const known = ACTIONS.has(action as InterruptionNotice['action']) ? (action as InterruptionNotice['action']) : 'terminate';
      return { action: known, time: parseTime(path, 'time', json.time) };
    },

    async rebalanceRecommendation(): Promise<RebalanceRecommendation | null> {
      const path = '/latest/meta-data/events/recommendations/rebalance';
      const body = await get(path);
      if (body === undefined) return null;
      const json = parseJson(path, body);
      return { noticeTime: parseTime(path, 'noticeTime', json.noticeTime) };
    },
  };
}

function parseEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new SynktiError('E_INVALID_OPTION', `metadata endpoint is not a URL: ${JSON.stringify(value)}`, {
      cause: error,
      hint: `Set ${IMDS_ENDPOINT_ENV} (or the endpoint option) to e.g. http://127.0.0.1:40123.`,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SynktiError('E_INVALID_OPTION', `metadata endpoint must be http(s): ${value}`, {
      hint: `Set ${IMDS_ENDPOINT_ENV} (or the endpoint option) to e.g. http://127.0.0.1:40123.`,
    });
  }
  return value.replace(/\/+$/, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
