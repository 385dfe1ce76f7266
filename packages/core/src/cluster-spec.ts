import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './config-error.ts';
import { formatDuration, isDurationText, parseDuration } from './duration.ts';
import { SIZES, SIZE_TO_INSTANCE_TYPES } from './instance-sizes.ts';
import { TARGET_GROUP_ARN_EXAMPLE, loadBalancerInputSchema, resolveLoadBalancer, type LoadBalancerSpec } from './load-balancer-spec.ts';
import { MODEL_URI_EXAMPLE, modelUriProblem, parseModelUri, type ModelLocation } from './model-uri.ts';

const CLUSTER_NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;
const ROLE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const MAX_NODES = 10_000;

const duration = z
  .union([z.string(), z.number()])
  .refine((value) => (typeof value === 'number' ? Number.isFinite(value) && value >= 0 : isDurationText(value)), {
    message: 'not a duration',
  });
const port = z.number().int().min(1).max(65535);
const count = z.number().int().min(0).max(MAX_NODES);

/** Load-driven pool size (issue 21): off unless set; min ≤ count ≤ max checked in crossFieldIssues. */
export const autoscaleInputSchema = z.strictObject({
  min: count,
  max: count,
  /** In-flight requests (router, or the engine's running + waiting) per ready replica to aim for. */
  targetInFlightPerReplica: z.number().positive().max(1e6).optional(),
  /** Requests per second per ready replica to aim for. */
  targetRps: z.number().positive().max(1e6).optional(),
  upscaleDelay: duration.optional(),
  downscaleDelay: duration.optional(),
});

/**
 * The spot hedge of a pool (the agent's spot-hedge.ts, ADR 0009): when its replacements go
 * on-demand and when its on-demand fallbacks may move back to spot. Every field optional:
 * absent ones keep the agent's defaults (objective 0.99, launch delay 183 s, ratio 0.3).
 */
export const spotHedgeInputSchema = z.strictObject({
  /** false: every zone counts as settled (spot whenever there is capacity). */
  enabled: z.boolean().optional(),
  /** Share of time every replica must be ready; its complement is the budget losses are held to. */
  availabilityObjective: z.number().min(0.5).max(0.99999).optional(),
  /** Launch to serving (boot + model load): the outage one loss costs. */
  launchDelay: duration.optional(),
  /** Spot price / on-demand price of the pool's instance type. */
  priceRatio: z.number().gt(0).lt(1).optional(),
});

export const poolInputSchema = z.strictObject({
  count,
  size: z.enum(SIZES).optional(),
  instanceType: z.string().min(1).optional(),
  instanceTypes: z.array(z.string().min(1)).min(1).optional(),
  lifecycle: z.enum(['spot', 'on-demand']).optional(),
  onDemandBase: count.optional(),
  zones: z.array(z.string().min(1)).min(1).optional(),
  autoscale: autoscaleInputSchema.optional(),
  spotHedge: spotHedgeInputSchema.optional(),
});

export const workloadInputSchema = z.strictObject({
  // argv[0] is the program: an empty one would only fail later, at spawn, on every node.
  command: z.union([
    z.string().trim().min(1),
    z
      .array(z.string())
      .min(1)
      .refine((argv) => argv.length === 0 || argv[0]!.trim().length > 0, { message: 'empty program' }),
  ]),
  /** 'http' (default): a server on `port`, ready when `healthPath` answers 200. 'portless': no port (a batch worker): ready while its process runs, SIGTERM on a notice. */
  kind: z.enum(['http', 'portless']).optional(),
  port: port.optional(),
  healthPath: z.string().startsWith('/').optional(),
  env: z.record(z.string(), z.string()).optional(),
  startupTimeout: duration.optional(),
});

export const timeoutsInputSchema = z.strictObject({
  gossipInterval: duration.optional(),
  failureTimeout: duration.optional(),
  listInterval: duration.optional(),
  noticePollInterval: duration.optional(),
  drainMargin: duration.optional(),
  shutdownGrace: duration.optional(),
  requestTimeout: duration.optional(),
  maxStreamDuration: duration.optional(),
  balancerGrace: duration.optional(),
});

/**
 * How each router treats its peers (agent router, issue 23). Every field optional: absent
 * ones keep the router's defaults. Travels to nodes as tuning a node may ignore (see
 * cluster-serialization.ts), so a config that sets it still boots older agents.
 */
export const routerInputSchema = z.strictObject({
  /** Longest wait for a TCP connection to a peer (a dead host drops the SYN: no refusal comes); then another peer. Default 2s. */
  connectTimeout: duration.optional(),
  /** Longest wait for a peer's response head once sent; then another peer (nothing reached the client). Above the longest non-streamed answer. Default 2 minutes. */
  firstByteTimeout: duration.optional(),
  /** Longest silence between two chunks of a peer's streamed response; the client's stream is then cut. Default 60s. */
  streamIdleTimeout: duration.optional(),
  /** After a timeout on a peer (or its loss from membership), how long it gets no new request. Default 10s; "0s" never holds. */
  peerHold: duration.optional(),
});

export const clusterInputSchema = z.strictObject({
  name: z.string().regex(CLUSTER_NAME),
  provider: z.enum(['local', 'aws']).optional(),
  region: z.string().min(1).optional(),
  pools: z.record(z.string().regex(ROLE_NAME), poolInputSchema).refine((pools) => Object.keys(pools).length > 0, { message: 'no pools' }),
  workload: workloadInputSchema.optional(),
  // The model every node fetches before its workload starts (checked in crossFieldIssues).
  model: z.strictObject({ uri: z.string() }).optional(),
  ports: z.strictObject({ agent: port.optional(), router: port.optional() }).optional(),
  timeouts: timeoutsInputSchema.optional(),
  router: routerInputSchema.optional(),
  membership: z.strictObject({ listers: z.number().int().min(1).max(16).optional() }).optional(),
  serve: z
    .strictObject({
      replaceOnRebalance: z.boolean().optional(),
      loadBalancer: loadBalancerInputSchema.optional(),
    })
    .optional(),
});

/** What a `synkti.config.ts` default-exports (through `defineCluster`). */
export type ClusterInput = z.input<typeof clusterInputSchema>;

export interface PoolSpec {
  count: number;
  size: (typeof SIZES)[number];
  /** The preferred instance type. */
  instanceType: string;
  /** Instance types in order of preference (spot fallback); the first is `instanceType`. */
  instanceTypes: string[];
  lifecycle: 'spot' | 'on-demand';
  /** How many of `count` always run on-demand. */
  onDemandBase: number;
  zones: string[] | undefined;
  /** Load-driven size between min and max (absent: the pool keeps `count`). */
  autoscale?: AutoscaleSpec | undefined;
  /** The pool's spot hedge settings, only those set (absent: the agent's defaults). */
  spotHedge?: SpotHedgeSpec | undefined;
}

/** A pool's `spotHedge`, resolved: the fields given, the launch delay in milliseconds. */
export interface SpotHedgeSpec {
  enabled?: boolean | undefined;
  availabilityObjective?: number | undefined;
  launchDelayMs?: number | undefined;
  priceRatio?: number | undefined;
}

/** A pool's autoscaling, resolved: one target metric, delays in milliseconds. */
export interface AutoscaleSpec {
  min: number;
  max: number;
  /** What `target` counts per ready replica: in-flight requests, or requests per second. */
  metric: 'inFlight' | 'rps';
  target: number;
  /** How long load must ask for more replicas, without a break, before the pool grows. */
  upscaleDelayMs: number;
  /** How long load must ask for fewer replicas, without a break, before the pool shrinks. */
  downscaleDelayMs: number;
}

/** Defaults of a pool's autoscale delays: grow fast, shrink slowly (a wrong shrink costs requests' latency, a wrong grow costs minutes of a node). */
export const AUTOSCALE_DEFAULTS = { upscaleDelay: '30s', downscaleDelay: '5 minutes' } as const;

export interface WorkloadSpec {
  /**
   * argv; a string command becomes ['sh', '-c', command]. `{port}` is replaced by the
   * workload port, `{modelPath}` by the local directory of the fetched model.
   */
  command: string[];
  /**
   * Absent: an HTTP server on `port`, ready once `healthPath` answers 200. 'portless' (a
   * batch worker): no port, no router; ready while its process runs; on a notice or
   * shutdown it gets SIGTERM and the drain budget to hand its work back and exit
   * (`port` and `healthPath` then keep their defaults, unused).
   */
  kind?: 'portless' | undefined;
  port: number;
  healthPath: string;
  env: Record<string, string>;
  startupTimeoutMs: number;
}

/** `router`, resolved: the fields given, in milliseconds (named as createRouter's options). */
export interface RouterTimeoutsSpec {
  connectTimeoutMs?: number | undefined;
  firstByteTimeoutMs?: number | undefined;
  streamIdleTimeoutMs?: number | undefined;
  peerHoldMs?: number | undefined;
}

const ROUTER_BLOCK_EXAMPLE = 'router: { connectTimeout: "2s", firstByteTimeout: "2 minutes", streamIdleTimeout: "60s", peerHold: "10s" }';

/** Longest router timeout a config may set: a day (timers past 2^31 ms would fire at once). */
const MAX_ROUTER_TIMEOUT_MS = 86_400_000;

/** A validated cluster with every default filled and durations in milliseconds. */
export interface ClusterSpec {
  name: string;
  provider: 'local' | 'aws';
  region: string;
  pools: Record<string, PoolSpec>;
  workload: WorkloadSpec | undefined;
  /** The model each node fetches and verifies before its workload starts (absent: none). */
  model?: ModelLocation | undefined;
  ports: { agent: number; router: number };
  timeouts: {
    gossipIntervalMs: number;
    failureTimeoutMs: number;
    listIntervalMs: number;
    noticePollIntervalMs: number;
    drainMarginMs: number;
    shutdownGraceMs: number;
    requestTimeoutMs: number;
    /** The longest a response (stream) is expected to take: a draining node takes new requests until this long before the end of its budget. */
    maxStreamDurationMs: number;
    /**
     * After a notice the router keeps taking new requests for at least this long, even when
     * a maximum-length stream could then outlive the drain: the time a load balancer needs
     * to see the failing health check or the deregistration and stop sending. Refusing
     * sooner turns its in-flight picks into errors (an ALB answers a refused connection 502).
     */
    balancerGraceMs: number;
  };
  /** The router's peer timeouts, only those set (absent: the router's defaults). */
  router?: RouterTimeoutsSpec | undefined;
  membership: { listers: number };
  serve: { replaceOnRebalance: boolean; loadBalancer?: LoadBalancerSpec | undefined };
  /**
   * Where the pool launches on EC2: every subnet (one or more per zone) the workers may
   * place replacements in. Not written in synkti.config.ts: whoever renders the boot
   * script fills it from its launch subnets (`--subnet`, SpotServeFleet's subnetIds), so
   * a worker's replacements can go to any of the pool's zones, not only its own.
   * Absent: a worker launches only into its own subnet.
   */
  aws?: { subnets: { subnetId: string; zone: string }[] } | undefined;
}

const DEFAULT_TIMEOUTS = {
  gossipInterval: '1s',
  failureTimeout: '5s',
  listInterval: '15s',
  noticePollInterval: '5s',
  drainMargin: '5s',
  shutdownGrace: '30s',
  requestTimeout: '5 minutes',
  maxStreamDuration: '30s',
  balancerGrace: '5s',
} as const;

/** Allowed keys per object path, for "did you mean" suggestions. */
function allowedKeysAt(path: (string | number)[]): string[] {
  const shape = (schema: z.ZodType): string[] => Object.keys((schema as unknown as { shape: Record<string, unknown> }).shape);
  if (path.length === 0) return shape(clusterInputSchema);
  if (path[0] === 'pools' && path.length === 2) return shape(poolInputSchema);
  if (path[0] === 'pools' && path[2] === 'autoscale' && path.length === 3) return shape(autoscaleInputSchema);
  if (path[0] === 'pools' && path[2] === 'spotHedge' && path.length === 3) return shape(spotHedgeInputSchema);
  if (path[0] === 'workload' && path.length === 1) return shape(workloadInputSchema);
  if (path[0] === 'timeouts' && path.length === 1) return shape(timeoutsInputSchema);
  if (path[0] === 'router' && path.length === 1) return shape(routerInputSchema);
  if (path[0] === 'ports' && path.length === 1) return ['agent', 'router'];
  if (path[0] === 'membership' && path.length === 1) return ['listers'];
  if (path[0] === 'model' && path.length === 1) return ['uri'];
  if (path[0] === 'serve' && path.length === 1) return ['replaceOnRebalance', 'loadBalancer'];
  if (path[0] === 'serve' && path[1] === 'loadBalancer' && path.length === 2) return shape(loadBalancerInputSchema);
  return [];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function suggest(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

const EXAMPLES: Record<string, string> = {
  name: 'name: "my-fleet"',
  count: 'count: 3',
  onDemandBase: 'onDemandBase: 1',
  port: 'port: 8000',
  agent: 'agent: 7946',
  router: 'router: 8080',
  listers: 'listers: 2',
  command: 'command: ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--port", "{port}"]',
  healthPath: 'healthPath: "/health"',
  pools: 'pools: { worker: { count: 3 } }',
  region: 'region: "us-east-1"',
  size: 'size: "small"',
  instanceType: 'instanceType: "g5.xlarge"',
  instanceTypes: 'instanceTypes: ["g5.xlarge", "g6.xlarge"]',
  zones: 'zones: ["us-east-1a", "us-east-1b"]',
  env: 'env: { HF_HOME: "/data/hf" }',
  workload: 'workload: { command: ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--port", "{port}"] }',
  ports: 'ports: { agent: 7946, router: 8080 }',
  timeouts: 'timeouts: { failureTimeout: "5s" }',
  connectTimeout: 'connectTimeout: "2s"',
  firstByteTimeout: 'firstByteTimeout: "2 minutes"',
  streamIdleTimeout: 'streamIdleTimeout: "60s"',
  peerHold: 'peerHold: "10s"',
  membership: 'membership: { listers: 2 }',
  targetGroupArns: `targetGroupArns: ["${TARGET_GROUP_ARN_EXAMPLE}"]`,
  model: `model: { uri: "${MODEL_URI_EXAMPLE}" }`,
  uri: `uri: "${MODEL_URI_EXAMPLE}"`,
  autoscale: 'autoscale: { min: 1, max: 8, targetInFlightPerReplica: 4 }',
  min: 'min: 1',
  max: 'max: 8',
  targetInFlightPerReplica: 'targetInFlightPerReplica: 4',
  targetRps: 'targetRps: 20',
  upscaleDelay: 'upscaleDelay: "30s"',
  downscaleDelay: 'downscaleDelay: "5 minutes"',
  spotHedge: 'spotHedge: { availabilityObjective: 0.99, launchDelay: "183s", priceRatio: 0.3 }',
  availabilityObjective: 'availabilityObjective: 0.99 (all replicas ready 99 % of the time)',
  launchDelay: 'launchDelay: "183s" (boot + model load, as measured for the pool)',
  priceRatio: 'priceRatio: 0.3 (spot price / on-demand price)',
  enabled: 'enabled: false (spot whenever there is capacity)',
};

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 30 ? `${value.slice(0, 30)}…` : value)}`;
  return `${typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`}`;
}

function valueAt(input: unknown, path: (string | number)[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

function friendly(issue: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  const path = issue.path.map(String);
  const field = path[path.length - 1] ?? '';
  const where = path.join('.');
  // `router` names both a port (ports.router) and the top-level router block.
  const exampleText = where === 'router' ? ROUTER_BLOCK_EXAMPLE : EXAMPLES[field];
  const example = exampleText ? `e.g. ${exampleText}` : '';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(issue.path as (string | number)[]);
      return issue.keys.map((key) => {
        const guess = suggest(key, allowed);
        return {
          path: [...path, key].join('.'),
          message: `unknown field "${key}"`,
          hint: guess ? `did you mean "${guess}"?` : `allowed fields here: ${allowed.join(', ')}`,
        };
      });
    }
    case 'invalid_type': {
      const value = valueAt(input, issue.path as (string | number)[]);
      if (value === undefined) {
        return [{ path: where, message: 'is required', hint: example || `add ${field}` }];
      }
      if (path[0] === 'pools' && path.length === 2) {
        return [{ path: where, message: `expected an object, got ${describeType(value)}`, hint: `e.g. ${field}: { count: 3 }` }];
      }
      const expected =
        issue.expected === 'int'
          ? 'a whole number'
          : issue.expected === 'record' || issue.expected === 'object'
            ? 'an object'
            : `a ${issue.expected}`;
      return [
        { path: where, message: `expected ${expected}, got ${describeType(value)}`, hint: example || `write ${field} as ${expected}` },
      ];
    }
    case 'too_small': {
      if (issue.origin === 'array' || issue.origin === 'string') {
        return [{ path: where, message: 'must not be empty', hint: example || `give ${field} a value` }];
      }
      return [
        {
          path: where,
          message: `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}, got ${String(valueAt(input, issue.path as (string | number)[]))}`,
          hint: example || `use a value of ${String(issue.minimum)} or more`,
        },
      ];
    }
    case 'too_big':
      return [
        {
          path: where,
          message: `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}, got ${String(valueAt(input, issue.path as (string | number)[]))}`,
          hint: example || `use a value of ${String(issue.maximum)} or less`,
        },
      ];
    case 'invalid_value': {
      const got = valueAt(input, issue.path as (string | number)[]);
      return [
        {
          path: where,
          message: `${JSON.stringify(got)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          hint: `use one of: ${issue.values.map((v) => String(v)).join(', ')}`,
        },
      ];
    }
    case 'invalid_format': {
      if (field === 'name')
        return [
          {
            path: where,
            message: 'must be 2-40 lowercase letters, digits or dashes, starting with a letter',
            hint: 'e.g. name: "my-fleet" (it becomes part of tags, directories and bucket names)',
          },
        ];
      if (field === 'healthPath') return [{ path: where, message: 'must start with "/"', hint: 'e.g. healthPath: "/health"' }];
      if (path[0] === 'pools')
        return [
          {
            path: where,
            message: 'pool names must be lowercase letters, digits or dashes, starting with a letter',
            hint: 'e.g. pools: { worker: {...}, gpu: {...} }',
          },
        ];
      if (path.includes('targetGroupArns'))
        return [
          {
            path: where,
            message: `${describeType(valueAt(input, issue.path as (string | number)[]))} is not a target group ARN`,
            hint: `e.g. ${EXAMPLES.targetGroupArns!} (aws elbv2 describe-target-groups --names <name> --query 'TargetGroups[].TargetGroupArn')`,
          },
        ];
      return [{ path: where, message: 'has the wrong format', hint: example || 'check the value' }];
    }
    case 'invalid_key':
      return [
        {
          path: where,
          message: 'pool names must be lowercase letters, digits or dashes, starting with a letter',
          hint: 'e.g. pools: { worker: {...}, gpu: {...} }',
        },
      ];
    case 'invalid_union':
      if (field === 'command') {
        const missing = valueAt(input, issue.path as (string | number)[]) === undefined;
        return [
          {
            path: where,
            message: missing ? 'is required: the command every node runs' : 'must be a non-empty command line or argument list',
            hint: `e.g. ${EXAMPLES.command!}`,
          },
        ];
      }
      if (
        path[0] === 'timeouts' ||
        path[0] === 'router' ||
        field === 'startupTimeout' ||
        field === 'upscaleDelay' ||
        field === 'downscaleDelay' ||
        field === 'launchDelay'
      )
        return [
          {
            path: where,
            message: `${describeType(valueAt(input, issue.path as (string | number)[]))} is not a duration`,
            hint: 'write a duration like "30 seconds", "5s" or "250ms"',
          },
        ];
      return [{ path: where, message: 'has the wrong type', hint: example || 'check the value' }];
    case 'custom':
      if (issue.message === 'not a duration')
        return [
          {
            path: where,
            message: `${describeType(valueAt(input, issue.path as (string | number)[]))} is not a duration`,
            hint: 'write a duration like "30 seconds", "5s" or "250ms"',
          },
        ];
      if (issue.message === 'empty program')
        return [{ path: where, message: 'the first entry (the program to run) is empty', hint: `e.g. ${EXAMPLES.command!}` }];
      if (issue.message === 'no pools') return [{ path: where, message: 'the cluster has no pools', hint: EXAMPLES.pools! }];
      return [{ path: where, message: issue.message, hint: 'check the value' }];
    default:
      return [{ path: where, message: issue.message, hint: example || 'check the value' }];
  }
}

/** A field's value when it is well-typed, `fallback` when absent, undefined when bad (already reported). */
function portAt(value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535 ? value : undefined;
}

function countAt(value: unknown, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_NODES ? value : undefined;
}

function durationAt(value: unknown, fallback: string): number | undefined {
  if (value === undefined) return parseDuration(fallback);
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' && isDurationText(value) ? parseDuration(value) : undefined;
}

function objectAt(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A pool's autoscale against itself and the pool's count: min ≤ count ≤ max, one target. */
function autoscaleIssues(role: string, count: number | undefined, autoscale: Record<string, unknown> | undefined): ConfigIssue[] {
  if (!autoscale) return [];
  const issues: ConfigIssue[] = [];
  const at = `pools.${role}.autoscale`;
  const min = countAt(autoscale.min, undefined);
  const max = countAt(autoscale.max, undefined);
  if (min !== undefined && max !== undefined && min > max) {
    issues.push({ path: `${at}.min`, message: `${min} is more than max (${max})`, hint: `set min to ${max} or less, or raise max` });
  } else if (max === 0) {
    issues.push({ path: `${at}.max`, message: 'must be at least 1: a pool of 0 replicas sees no load to grow from', hint: 'e.g. max: 8' });
  } else if (min === 0) {
    // Scale from 0 needs something that takes requests while the pool has no replica (a
    // router-only node queueing them while one boots); nothing does yet (docs/serve.md).
    issues.push({
      path: `${at}.min`,
      message: "must be at least 1: the load is seen by the pool's own routers, so a pool scaled to 0 would see none and never grow back",
      hint: 'set min: 1 (one replica keeps seeing the load and the pool grows from it)',
    });
  } else if (count !== undefined && min !== undefined && max !== undefined && (count < min || count > max)) {
    issues.push({
      path: `pools.${role}.count`,
      message: `${count} is outside autoscale's ${min}..${max}`,
      hint: `the pool starts at count: set count between ${min} and ${max}`,
    });
  }
  const targets = ['targetInFlightPerReplica', 'targetRps'].filter((key) => autoscale[key] !== undefined);
  if (targets.length === 0)
    issues.push({
      path: at,
      message: 'names no target',
      hint: 'add targetInFlightPerReplica (e.g. 4 concurrent streams per replica) or targetRps (e.g. 20)',
    });
  if (targets.length === 2)
    issues.push({
      path: `${at}.targetRps`,
      message: 'is set beside targetInFlightPerReplica: a pool scales on one target',
      hint: 'keep one of targetInFlightPerReplica and targetRps',
    });
  return issues;
}

/**
 * Checks that need several fields at once. They run on the raw input, even when other
 * fields are bad, so one run reports every problem; a field that is itself malformed
 * (and so already reported) is left out of these checks.
 */
function crossFieldIssues(raw: Record<string, unknown>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const portsInput = objectAt(raw.ports) ?? {};
  const ports: [string, number | undefined][] = [
    ['ports.agent', portAt(portsInput.agent, 7946)],
    ['ports.router', portAt(portsInput.router, 8080)],
  ];
  const workload = objectAt(raw.workload);
  if (workload?.kind === 'portless') {
    // Nothing listens: a port or health path given is a config that believes otherwise.
    for (const field of ['port', 'healthPath'] as const) {
      if (workload[field] !== undefined)
        issues.push({
          path: `workload.${field}`,
          message: 'is set, but a portless workload listens on no port',
          hint: `remove ${field}, or drop kind: "portless" to serve HTTP`,
        });
    }
  } else if (workload) ports.push(['workload.port', portAt(workload.port, 8000)]);
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [firstPath, first] = ports[i]!;
      const [secondPath, second] = ports[j]!;
      if (first !== undefined && first === second) {
        issues.push({
          path: secondPath,
          message: `port ${second} is also ${firstPath}`,
          hint: 'give the agent, the router and the workload different ports (defaults: 7946, 8080, 8000)',
        });
      }
    }
  }
  let total = 0;
  for (const [role, value] of Object.entries(objectAt(raw.pools) ?? {})) {
    const pool = objectAt(value);
    if (!pool) continue;
    const count = countAt(pool.count, undefined);
    const onDemandBase = countAt(pool.onDemandBase, 0);
    total += count ?? 0;
    if (count !== undefined && onDemandBase !== undefined && onDemandBase > count) {
      issues.push({
        path: `pools.${role}.onDemandBase`,
        message: `${onDemandBase} on-demand nodes is more than the pool's count of ${count}`,
        hint: `set onDemandBase to ${count} or less`,
      });
    }
    issues.push(...autoscaleIssues(role, count, objectAt(pool.autoscale)));
    const hedgeDelay = objectAt(pool.spotHedge)?.launchDelay;
    // 0 would make every loss free (an unbounded loss budget); over a day is a typo.
    const hedgeDelayMs = hedgeDelay === undefined ? undefined : durationAt(hedgeDelay, '1s');
    if (hedgeDelayMs !== undefined && (hedgeDelayMs < 1000 || hedgeDelayMs > 86_400_000)) {
      issues.push({
        path: `pools.${role}.spotHedge.launchDelay`,
        message: `${formatDuration(hedgeDelayMs)} is not a launch delay between 1 second and 1 day`,
        hint: 'e.g. launchDelay: "183s" (boot + model load, as measured for the pool)',
      });
    }
    const types = pool.instanceTypes;
    if (typeof pool.instanceType === 'string' && Array.isArray(types) && typeof types[0] === 'string' && types[0] !== pool.instanceType) {
      issues.push({
        path: `pools.${role}.instanceTypes`,
        message: `starts with "${types[0]}", not instanceType "${pool.instanceType}"`,
        hint: 'list the preferred type first, or leave instanceType out (the first of instanceTypes is preferred)',
      });
    }
  }
  if (total > MAX_NODES)
    issues.push({
      path: 'pools',
      message: `${total} nodes in all is more than ${MAX_NODES}`,
      hint: 'split the fleet into several clusters',
    });
  const model = objectAt(raw.model);
  if (model && typeof model.uri === 'string') {
    const problem = modelUriProblem(model.uri);
    if (problem)
      issues.push({
        path: 'model.uri',
        message: problem,
        hint: `e.g. uri: "${MODEL_URI_EXAMPLE}" (where \`synkti model upload\` put the model)`,
      });
  }
  const argv = workload?.command;
  const usesModelPath =
    typeof argv === 'string'
      ? argv.includes('{modelPath}')
      : Array.isArray(argv) && argv.some((a) => typeof a === 'string' && a.includes('{modelPath}'));
  if (usesModelPath && raw.model === undefined) {
    issues.push({
      path: 'workload.command',
      message: 'uses {modelPath} but the cluster names no model',
      hint: `add model: { uri: "${MODEL_URI_EXAMPLE}" }, or write the model's path into the command`,
    });
  }
  const timeouts = objectAt(raw.timeouts) ?? {};
  const gossip = durationAt(timeouts.gossipInterval, DEFAULT_TIMEOUTS.gossipInterval);
  const failure = durationAt(timeouts.failureTimeout, DEFAULT_TIMEOUTS.failureTimeout);
  // Intervals of 0 would spin; a request or startup timeout of 0 would fail everything.
  const positive: [string, unknown, string][] = [
    ['timeouts.gossipInterval', timeouts.gossipInterval, 'gossipInterval: "1s"'],
    ['timeouts.listInterval', timeouts.listInterval, 'listInterval: "15s"'],
    ['timeouts.noticePollInterval', timeouts.noticePollInterval, 'noticePollInterval: "5s"'],
    ['timeouts.requestTimeout', timeouts.requestTimeout, 'requestTimeout: "5 minutes"'],
    ['workload.startupTimeout', workload?.startupTimeout, 'startupTimeout: "10 minutes"'],
  ];
  for (const [path, value, example] of positive) {
    if (durationAt(value, '1s') === 0) issues.push({ path, message: 'must be more than 0', hint: `e.g. ${example}` });
  }
  issues.push(...routerIssues(objectAt(raw.router) ?? {}, durationAt(timeouts.requestTimeout, DEFAULT_TIMEOUTS.requestTimeout)));
  if (gossip !== 0 && gossip !== undefined && failure !== undefined && failure <= gossip) {
    issues.push({
      path: 'timeouts.failureTimeout',
      message: `${formatDuration(failure)} is not longer than the gossip interval (${formatDuration(gossip)})`,
      hint: 'make failureTimeout at least 3 gossip intervals (default 5s with a 1s gossip interval), or live peers are dropped',
    });
  }
  return issues;
}

/** Bounds of `router`'s durations (their types are checked by the schema). */
function routerIssues(router: Record<string, unknown>, requestTimeoutMs: number | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const fields = [
    ['connectTimeout', 'connectTimeout: "2s"', 'with no limit a connect to a host that drops packets never ends'],
    ['firstByteTimeout', 'firstByteTimeout: "2 minutes"', 'with no limit a peer that accepted and went silent holds the request forever'],
    ['streamIdleTimeout', 'streamIdleTimeout: "60s"', 'with no limit a stream from a peer that went silent never ends'],
    ['peerHold', 'peerHold: "10s"', ''],
  ] as const;
  for (const [field, example, whyPositive] of fields) {
    if (router[field] === undefined) continue;
    const ms = durationAt(router[field], '1s');
    if (ms === undefined) continue;
    if (ms === 0 && whyPositive)
      issues.push({ path: `router.${field}`, message: `must be more than 0: ${whyPositive}`, hint: `e.g. ${example}` });
    if (ms > MAX_ROUTER_TIMEOUT_MS)
      issues.push({ path: `router.${field}`, message: `${formatDuration(ms)} is more than a day`, hint: `e.g. ${example}` });
  }
  const firstByte = router.firstByteTimeout === undefined ? undefined : durationAt(router.firstByteTimeout, '1s');
  if (firstByte !== undefined && requestTimeoutMs !== undefined && firstByte > requestTimeoutMs) {
    issues.push({
      path: 'router.firstByteTimeout',
      message: `${formatDuration(firstByte)} is longer than timeouts.requestTimeout (${formatDuration(requestTimeoutMs)}): the request ends first`,
      hint: 'make firstByteTimeout shorter than requestTimeout, or raise requestTimeout',
    });
  }
  return issues;
}

function resolveRouter(input: z.output<typeof routerInputSchema>): RouterTimeoutsSpec {
  return {
    ...(input.connectTimeout !== undefined ? { connectTimeoutMs: parseDuration(input.connectTimeout) } : {}),
    ...(input.firstByteTimeout !== undefined ? { firstByteTimeoutMs: parseDuration(input.firstByteTimeout) } : {}),
    ...(input.streamIdleTimeout !== undefined ? { streamIdleTimeoutMs: parseDuration(input.streamIdleTimeout) } : {}),
    ...(input.peerHold !== undefined ? { peerHoldMs: parseDuration(input.peerHold) } : {}),
  };
}

function resolveAutoscale(input: z.output<typeof autoscaleInputSchema>): AutoscaleSpec {
  const rps = input.targetRps !== undefined;
  return {
    min: input.min,
    max: input.max,
    metric: rps ? 'rps' : 'inFlight',
    target: rps ? input.targetRps! : input.targetInFlightPerReplica!,
    upscaleDelayMs: parseDuration(input.upscaleDelay ?? AUTOSCALE_DEFAULTS.upscaleDelay),
    downscaleDelayMs: parseDuration(input.downscaleDelay ?? AUTOSCALE_DEFAULTS.downscaleDelay),
  };
}

function resolveSpotHedge(input: z.output<typeof spotHedgeInputSchema>): SpotHedgeSpec {
  return {
    ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
    ...(input.availabilityObjective !== undefined ? { availabilityObjective: input.availabilityObjective } : {}),
    ...(input.launchDelay !== undefined ? { launchDelayMs: parseDuration(input.launchDelay) } : {}),
    ...(input.priceRatio !== undefined ? { priceRatio: input.priceRatio } : {}),
  };
}

function resolve(input: z.output<typeof clusterInputSchema>): ClusterSpec {
  const provider = input.provider ?? 'local';
  const timeouts = { ...DEFAULT_TIMEOUTS, ...input.timeouts };
  const pools: Record<string, PoolSpec> = {};
  for (const [role, pool] of Object.entries(input.pools)) {
    const size = pool.size ?? 'small';
    const instanceTypes = pool.instanceTypes ?? (pool.instanceType ? [pool.instanceType] : [...SIZE_TO_INSTANCE_TYPES[provider][size]]);
    pools[role] = {
      count: pool.count,
      size,
      instanceType: pool.instanceType ?? instanceTypes[0]!,
      instanceTypes,
      lifecycle: pool.lifecycle ?? 'spot',
      onDemandBase: pool.onDemandBase ?? 0,
      zones: pool.zones,
      ...(pool.autoscale ? { autoscale: resolveAutoscale(pool.autoscale) } : {}),
      // Only when set: other pools' resolved specs (and config generations) are unchanged.
      ...(pool.spotHedge ? { spotHedge: resolveSpotHedge(pool.spotHedge) } : {}),
    };
  }
  const workload = input.workload;
  return {
    name: input.name,
    provider,
    region: input.region ?? (provider === 'local' ? 'local' : 'us-east-1'),
    pools,
    workload: workload && {
      command: typeof workload.command === 'string' ? ['sh', '-c', workload.command] : workload.command,
      // Only when set: the resolved spec (and so every config generation) of an HTTP workload is unchanged.
      ...(workload.kind === 'portless' ? { kind: 'portless' as const } : {}),
      port: workload.port ?? 8000,
      healthPath: workload.healthPath ?? '/health',
      env: workload.env ?? {},
      startupTimeoutMs: parseDuration(workload.startupTimeout ?? '10 minutes'),
    },
    ...(input.model ? { model: parseModelUri(input.model.uri) } : {}),
    ports: { agent: input.ports?.agent ?? 7946, router: input.ports?.router ?? 8080 },
    timeouts: {
      gossipIntervalMs: parseDuration(timeouts.gossipInterval),
      failureTimeoutMs: parseDuration(timeouts.failureTimeout),
      listIntervalMs: parseDuration(timeouts.listInterval),
      noticePollIntervalMs: parseDuration(timeouts.noticePollInterval),
      drainMarginMs: parseDuration(timeouts.drainMargin),
      shutdownGraceMs: parseDuration(timeouts.shutdownGrace),
      requestTimeoutMs: parseDuration(timeouts.requestTimeout),
      maxStreamDurationMs: parseDuration(timeouts.maxStreamDuration),
      balancerGraceMs: parseDuration(timeouts.balancerGrace),
    },
    // Only when set: a config without it resolves (and serializes) exactly as before.
    ...(input.router && Object.keys(input.router).length > 0 ? { router: resolveRouter(input.router) } : {}),
    membership: { listers: input.membership?.listers ?? 2 },
    serve: {
      replaceOnRebalance: input.serve?.replaceOnRebalance ?? true,
      ...(input.serve?.loadBalancer ? { loadBalancer: resolveLoadBalancer(input.serve.loadBalancer) } : {}),
    },
  };
}

/**
 * Validates a cluster config and fills its defaults. Throws a ConfigError that lists
 * every bad field with a hint; never a bare zod error.
 */
export function validateCluster(input: unknown, source = 'synkti.config.ts'): ClusterSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(source, [
      {
        path: '',
        message: `the config must be an object, got ${describeType(input)}`,
        hint: 'export default defineCluster({ name: "my-fleet", pools: { worker: { count: 3 } } })',
      },
    ]);
  }
  const parsed = clusterInputSchema.safeParse(input);
  const issues = parsed.success ? [] : parsed.error.issues.flatMap((issue) => friendly(issue, input));
  issues.push(...crossFieldIssues(input as Record<string, unknown>));
  if (issues.length > 0 || !parsed.success) throw new ConfigError(source, issues);
  return resolve(parsed.data);
}
