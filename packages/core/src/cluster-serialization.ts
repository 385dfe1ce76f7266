import { z } from 'zod';
import type { ClusterSpec } from './cluster-spec.ts';
import { SIZES } from './instance-sizes.ts';
import { resolvedLoadBalancerSchema } from './load-balancer-spec.ts';
import { SynktiError } from './errors.ts';
import { modelUriProblem, parseModelUri } from './model-uri.ts';

const ms = z.number().int().nonnegative();
const port = z.number().int().min(1).max(65535);

/** Most subnets a cluster config carries (operator input, bounded: one or a few per zone). */
export const MAX_CLUSTER_SUBNETS = 64;

/** EC2 subnet ids: `subnet-` and hex digits (8 or 17 on AWS; bounded). */
export const SUBNET_ID = /^subnet-[0-9a-f]{1,32}$/;
/** Availability zone names: `us-east-1a`, Local Zones `us-west-2-lax-1a`. */
export const ZONE_NAME = /^[a-z]{2}-[a-z0-9-]{1,60}[a-z0-9]$/;

const awsSubnetsSchema = z
  .array(
    z.strictObject({
      subnetId: z.string().regex(SUBNET_ID, { message: 'not an EC2 subnet id (subnet- and hex digits)' }),
      zone: z.string().regex(ZONE_NAME, { message: 'not an availability zone name (e.g. us-east-1a)' }),
    }),
  )
  .min(1)
  .max(MAX_CLUSTER_SUBNETS)
  .refine((subnets) => new Set(subnets.map((s) => s.subnetId)).size === subnets.length, { message: 'lists a subnet twice' });

/** The resolved spec as it travels to agents in user data: validated again on arrival. */
const resolvedSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/),
  provider: z.enum(['local', 'aws']),
  region: z.string().min(1),
  pools: z.record(
    z.string(),
    z.strictObject({
      count: z.number().int().nonnegative(),
      size: z.enum(SIZES),
      instanceType: z.string().min(1),
      instanceTypes: z.array(z.string().min(1)).min(1),
      lifecycle: z.enum(['spot', 'on-demand']),
      onDemandBase: z.number().int().nonnegative(),
      zones: z.array(z.string()).optional(),
      autoscale: z
        .strictObject({
          min: z.number().int().nonnegative(),
          max: z.number().int().positive(),
          metric: z.enum(['inFlight', 'rps']),
          target: z.number().positive(),
          upscaleDelayMs: ms,
          downscaleDelayMs: ms,
        })
        .refine((a) => a.min <= a.max, { message: 'min is more than max' })
        .optional(),
      spotHedge: z
        .strictObject({
          enabled: z.boolean().optional(),
          availabilityObjective: z.number().min(0.5).max(0.99999).optional(),
          launchDelayMs: z.number().int().positive().max(86_400_000).optional(),
          priceRatio: z.number().gt(0).lt(1).optional(),
        })
        .optional(),
    }),
  ),
  workload: z
    .strictObject({
      command: z.array(z.string()).min(1),
      kind: z.literal('portless').optional(),
      port,
      healthPath: z.string().startsWith('/'),
      env: z.record(z.string(), z.string()),
      startupTimeoutMs: ms,
    })
    .optional(),
  model: z
    .strictObject({
      uri: z.string().refine((uri) => modelUriProblem(uri) === undefined, { message: 'not an s3://<bucket>/<prefix>/ model URI' }),
      bucket: z.string(),
      prefix: z.string(),
      name: z.string(),
    })
    .optional(),
  ports: z.strictObject({ agent: port, router: port }),
  timeouts: z.strictObject({
    gossipIntervalMs: ms,
    failureTimeoutMs: ms,
    listIntervalMs: ms,
    noticePollIntervalMs: ms,
    drainMarginMs: ms,
    shutdownGraceMs: ms,
    requestTimeoutMs: ms,
    maxStreamDurationMs: ms,
    balancerGraceMs: ms,
  }),
  membership: z.strictObject({ listers: z.number().int().min(1).max(16) }),
  serve: z.strictObject({ replaceOnRebalance: z.boolean(), loadBalancer: resolvedLoadBalancerSchema.optional() }),
  aws: z.strictObject({ subnets: awsSubnetsSchema }).optional(),
});

/**
 * Settings a node may ignore and still do the right thing with its own defaults (router
 * timeouts). They travel beside `spec`, in `tuning`, because `spec` is strict everywhere
 * it has been read: an agent from before a key existed rejects a `spec` holding it, which
 * mid-rollout (a new CLI's config booting an older release) stops the node from booting.
 * Readers ignore envelope keys they do not know, so an older agent boots a config that
 * sets tuning with its defaults; this one checks the tuning it knows strictly and drops
 * tuning keys it does not know (a newer writer's). Keys that change what a node does
 * (workload, pools, ports) stay in the strict `spec`.
 */
const tuningSchema = z.object({
  router: z
    .object({
      connectTimeoutMs: ms.max(86_400_000).optional(),
      firstByteTimeoutMs: ms.max(86_400_000).optional(),
      streamIdleTimeoutMs: ms.max(86_400_000).optional(),
      peerHoldMs: ms.max(86_400_000).optional(),
    })
    .optional(),
});

const FORMAT = 'synkti-cluster/v1';

export function serializeCluster(spec: ClusterSpec): string {
  const { router, ...strict } = spec;
  // Without router settings the text is what it always was (byte for byte).
  return JSON.stringify({ format: FORMAT, spec: strict, ...(router && Object.keys(router).length > 0 ? { tuning: { router } } : {}) });
}

export function deserializeCluster(text: string): ClusterSpec {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch (error) {
    throw new SynktiError('E_CONFIG_DATA', 'the cluster config in user data is not JSON', {
      cause: error,
      hint: 'launch workers with synkti so their user data carries the cluster config',
    });
  }
  const format = (envelope as { format?: unknown } | null)?.format;
  if (format !== FORMAT) {
    throw new SynktiError('E_CONFIG_DATA', `the cluster config in user data has format ${JSON.stringify(format)}, expected ${FORMAT}`, {
      hint: 'the agent and the CLI that launched it are different versions; upgrade both',
    });
  }
  const parsed = resolvedSchema.safeParse((envelope as { spec?: unknown }).spec);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new SynktiError('E_CONFIG_DATA', `the cluster config in user data is invalid at ${first.path.join('.')}: ${first.message}`, {
      hint: 'launch workers with synkti so their user data carries the cluster config',
    });
  }
  const tuning = tuningSchema.safeParse((envelope as { tuning?: unknown }).tuning ?? {});
  if (!tuning.success) {
    const first = tuning.error.issues[0]!;
    throw new SynktiError(
      'E_CONFIG_DATA',
      `the cluster config in user data is invalid at tuning.${first.path.join('.')}: ${first.message}`,
      { hint: 'launch workers with synkti so their user data carries the cluster config' },
    );
  }
  const spec = parsed.data;
  const router = tuning.data.router;
  return {
    ...spec,
    ...(router && Object.keys(router).length > 0 ? { router } : {}),
    pools: Object.fromEntries(Object.entries(spec.pools).map(([role, pool]) => [role, { ...pool, zones: pool.zones }])),
    workload: spec.workload,
    // Bucket, prefix and name are derived again from the URI: they cannot disagree with it.
    ...(spec.model ? { model: parseModelUri(spec.model.uri) } : {}),
  };
}
