/**
 * The HAProxy configuration Synkti's load-balancer stand-in runs with, and the checks on
 * every value that goes into it or into a runtime API command (names and addresses come
 * from the fleet's tags: treated as hostile, a `;` or a newline would inject a command).
 */
import { SynktiError } from '@synkti/core';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';

/** The router's health path (@synkti/core/contracts ROUTER_HEALTH_PATH: no Pulumi, no agent loaded). */
export const DEFAULT_HEALTH_PATH = ROUTER_HEALTH_PATH;
/** The backend the routers are servers of. */
export const BACKEND = 'routers';
/** The frontend clients connect to. */
export const FRONTEND = 'clients';

export interface HaproxyConfigOptions {
  /** Loopback address the frontend listens on. @default '127.0.0.1' */
  host?: string | undefined;
  /** Frontend port (a free one is picked by the caller when 0). */
  port: number;
  /** Unix socket of the runtime API (admin level, mode 0600, in a private directory). */
  socketPath: string;
  /** Health-check request path. @default DEFAULT_HEALTH_PATH */
  healthPath?: string | undefined;
  /** Time between health checks of a server. @default 500 */
  checkIntervalMs?: number | undefined;
  /** Failed checks that mark a server down. @default 1 */
  fall?: number | undefined;
  /** Passed checks that bring a down server back. @default 2 */
  rise?: number | undefined;
  /** Connection attempts again (redispatched to another server) when a connection to a server fails. @default 2 */
  retries?: number | undefined;
  /** Idle limit on either side of a request; a stream that sends nothing for this long is cut. @default 60000 */
  idleTimeoutMs?: number | undefined;
}

/** The resolved health-check settings, also used for each server added at run time. */
export interface CheckSettings {
  intervalMs: number;
  fall: number;
  rise: number;
}

export function isLoopbackIPv4(host: string): boolean {
  const match = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return match !== null && match.slice(1).every((octet) => Number(octet) <= 255);
}

function wholeNumber(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SynktiError('E_HAPROXY_OPTIONS', `haproxy option ${name} must be a whole number from ${min} to ${max}, got ${value}`, {
      hint: `set ${name} within ${min}..${max} or leave it out for the default`,
    });
  }
  return value;
}

export function checkSettings(options: Pick<HaproxyConfigOptions, 'checkIntervalMs' | 'fall' | 'rise'>): CheckSettings {
  return {
    intervalMs: wholeNumber('checkIntervalMs', options.checkIntervalMs ?? 500, 100, 60_000),
    fall: wholeNumber('fall', options.fall ?? 1, 1, 100),
    rise: wholeNumber('rise', options.rise ?? 2, 1, 100),
  };
}

/** A server name HAProxy accepts and that cannot carry a second runtime command (instance ids qualify). */
export function checkServerName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) {
    throw new SynktiError('E_HAPROXY_TARGET', `load balancer target name ${JSON.stringify(name.slice(0, 80))} is not allowed`, {
      hint: 'use 1 to 63 letters, digits, ".", "_" or "-" (an instance id such as i-0abc...)',
    });
  }
  return name;
}

/** Targets are IPv4 literals on loopback or a private range (the fleet's own addresses), never names to resolve. */
export function checkTargetAddress(host: string, port: number, name: string): void {
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)?.slice(1).map(Number);
  const valid = octets !== undefined && octets.every((o) => o <= 255);
  const [a, b] = octets ?? [];
  const privateOrLoopback = valid && (a === 127 || a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168));
  if (!privateOrLoopback) {
    throw new SynktiError(
      'E_HAPROXY_TARGET',
      `load balancer target ${name}: address ${JSON.stringify(host.slice(0, 80))} is not a loopback or private IPv4 address`,
      {
        hint: "register routers by their private IPv4 address (the instance's privateIp)",
      },
    );
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new SynktiError('E_HAPROXY_TARGET', `load balancer target ${name}: port must be 1..65535, got ${port}`, {
      hint: "use the router port from the instance's SynktiPortRouter tag",
    });
  }
}

/** The `server` keywords of each router: its health check (dynamic servers inherit no default-server). */
export function serverCheckArgs(check: CheckSettings): string {
  return `check inter ${check.intervalMs}ms fastinter ${check.intervalMs}ms downinter ${check.intervalMs}ms fall ${check.fall} rise ${check.rise}`;
}

/**
 * The whole configuration. The backend starts empty; routers are added and removed at
 * run time through the runtime API (no reload, so no stream is ever cut by a change).
 */
export function renderHaproxyConfig(options: HaproxyConfigOptions): string {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackIPv4(host)) {
    throw new SynktiError('E_HAPROXY_OPTIONS', `haproxy host must be a loopback IPv4 address, got ${JSON.stringify(host)}`, {
      hint: 'use 127.0.0.1: the stand-in load balancer is for this machine only',
    });
  }
  wholeNumber('port', options.port, 1, 65_535);
  const healthPath = options.healthPath ?? DEFAULT_HEALTH_PATH;
  if (!/^\/[A-Za-z0-9._~/-]{0,200}$/.test(healthPath)) {
    throw new SynktiError(
      'E_HAPROXY_OPTIONS',
      `haproxy healthPath must be a plain absolute path, got ${JSON.stringify(healthPath.slice(0, 80))}`,
      {
        hint: `e.g. ${DEFAULT_HEALTH_PATH}`,
      },
    );
  }
  if (/[\s"'\\]/.test(options.socketPath) || options.socketPath.length > 100) {
    throw new SynktiError(
      'E_HAPROXY_OPTIONS',
      `haproxy socket path must be under 100 characters without spaces or quotes, got ${options.socketPath}`,
      {
        hint: 'use a short directory such as one made by mkdtemp in /tmp',
      },
    );
  }
  checkSettings(options); // validates the check settings up front (each server line carries them)
  const retries = wholeNumber('retries', options.retries ?? 2, 0, 10);
  const idle = wholeNumber('idleTimeoutMs', options.idleTimeoutMs ?? 60_000, 1000, 3_600_000);
  return [
    '# Written by synkti: the load balancer in front of the routers (a stand-in for an ALB).',
    'global',
    `  stats socket ${options.socketPath} mode 600 level admin`,
    '  stats timeout 10s',
    // One thread: it is a test balancer on a shared machine, and it keeps the stats exact.
    '  nbthread 1',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 2s',
    // Streams send a token every few ms; these bound silence, not a stream's length.
    `  timeout client ${idle}ms`,
    `  timeout server ${idle}ms`,
    '  timeout http-request 10s',
    '  timeout http-keep-alive 10s',
    '  timeout queue 10s',
    '  timeout check 2s',
    '',
    `frontend ${FRONTEND}`,
    `  bind ${host}:${options.port}`,
    // Only requests that did not end normally are logged, with HAProxy's termination state
    // (e.g. SD: the server closed mid-response), next to the server state changes.
    '  log stderr format raw daemon',
    '  option httplog',
    '  option dontlog-normal',
    `  default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    // Long-lived streams: send each new one to the router with the fewest open, as ALB's
    // least-outstanding-requests algorithm does. leastconn also allows servers added at run time.
    '  balance leastconn',
    `  option httpchk GET ${healthPath}`,
    '  http-check expect status 200',
    // Only a failed connection is retried (on another router): a request that reached a
    // router may have been acted on, and a response that began can never be replayed.
    `  retries ${retries}`,
    '  retry-on conn-failure',
    '  option redispatch 1',
    '',
  ].join('\n');
}
