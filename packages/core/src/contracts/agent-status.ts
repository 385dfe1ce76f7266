/**
 * The shape of an agent's `GET /status`: the agent builds it, the CLI and the dashboard read
 * it through {@link parseAgentStatus} instead of casting. A status comes from another
 * process (a peer, possibly hostile): every string and list is bounded, and readers keep
 * only the fields named here.
 */
import { z } from 'zod';

const text = z.string().max(512);
const count = z.number().finite().nonnegative();
const port = z.number().int().min(0).max(65_535);

/** A member of the node's view, as the status lists it. */
export const agentStatusMemberSchema = z.object({
  id: text,
  role: text,
  state: text,
  address: text,
  agentPort: port,
  routerPort: port,
  zone: text.optional(),
  load: count.optional(),
  /** The config generation the member runs (configGeneration), as it gossips it. */
  generation: text.optional(),
});

/** The model fetch (absent when the cluster names no model); the agent's ModelProgress. */
export const agentModelStatusSchema = z.object({
  uri: z.string().max(2048),
  state: text,
  path: z.string().max(4096).optional(),
  files: count,
  filesDone: count,
  bytes: count,
  bytesDone: count,
  bytesFetched: count.optional(),
  reused: z.boolean().optional(),
  error: z
    .object({
      code: text,
      message: z.string().max(2048),
      hint: z.string().max(2048).optional(),
      file: z.string().max(4096).optional(),
    })
    .optional(),
});

/** The last drain of this node (NodeRuntime's DrainReport). */
export const agentDrainStatusSchema = z.object({
  reason: z.enum(['interruption', 'shutdown', 'spot-return']),
  startedAt: z.number(),
  deadline: z.number(),
  budgetMs: z.number(),
  cutoffAt: z.number(),
  leftInFlight: count,
  tookMs: z.number(),
  replacement: text.optional(),
  /** Drain steps that threw (the drain went on and the node still left). */
  failedSteps: z.array(text).max(32).optional(),
});

/** One autoscaled pool in a node's status (the agent's AutoscalePoolStatus). */
export const agentAutoscaleStatusSchema = z.object({
  pool: text,
  current: count,
  desired: count,
  min: count,
  max: count,
  decider: text.optional(),
  last: z
    .object({
      epoch: count,
      desired: count,
      at: z.number(),
      action: z.enum(['scale-out', 'scale-in']),
      from: count,
      by: text,
      reason: text,
    })
    .optional(),
});

/** The most members a status may list: far above any fleet, bounds what a hostile peer can make a reader hold. */
export const MAX_STATUS_MEMBERS = 10_000;

/** `GET /status` of an agent. */
export const agentStatusSchema = z.object({
  /** The instance id (the API answers only once the agent has read its identity). */
  id: text,
  cluster: text,
  role: text,
  zone: text,
  state: text,
  pid: z.number().int().nonnegative(),
  /** The node's private IP. */
  address: text,
  ports: z.object({ agent: port, router: port, workload: port }),
  startedAt: z.number(),
  uptimeMs: count,
  load: count,
  members: z.array(agentStatusMemberSchema).max(MAX_STATUS_MEMBERS),
  cloudListCalls: count,
  workload: z.object({ state: text, restarts: count.optional() }).optional(),
  router: z.object({ inFlight: count }).optional(),
  drain: agentDrainStatusSchema.optional(),
  model: agentModelStatusSchema.optional(),
  /** Per autoscaled pool, as this node sees it: live and desired counts, bounds, the decider and the last scale action. */
  autoscale: z.array(agentAutoscaleStatusSchema).max(64).optional(),
  /** The config generation this node runs (configGeneration of its boot config). */
  generation: text.optional(),
  /** Per pool, the generation replacements launched by this node boot with, when a rollout set one (`synkti deploy`). */
  desiredGenerations: z
    .record(z.string().max(64), text)
    .refine((pools) => Object.keys(pools).length <= 64, { message: 'more than 64 pools' })
    .optional(),
});

export type AgentStatus = z.infer<typeof agentStatusSchema>;
export type AgentStatusMember = z.infer<typeof agentStatusMemberSchema>;
export type AgentModelStatus = z.infer<typeof agentModelStatusSchema>;
export type AgentDrainStatus = z.infer<typeof agentDrainStatusSchema>;
export type AgentAutoscaleStatus = z.infer<typeof agentAutoscaleStatusSchema>;

/**
 * An agent's `/status` body checked against {@link agentStatusSchema}; undefined when it is
 * not one (an older or foreign agent, a truncated body): readers show "no answer" rather
 * than trusting a cast.
 */
export function parseAgentStatus(body: unknown): AgentStatus | undefined {
  const parsed = agentStatusSchema.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}
