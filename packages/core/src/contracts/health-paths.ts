/**
 * HTTP paths other processes depend on: load balancers, the CLI, the dashboard and the
 * Pulumi components all name these, so they live here once.
 */

/** The router's health path: 200 while serving, 503 from the first moment of a drain (load balancers health-check it). */
export const ROUTER_HEALTH_PATH = '/_synkti/router/health';

/** The agent API's routes (port 7946, behind `Authorization: Bearer <cluster secret>`). */
export const AGENT_API_PATHS = {
  /** 200 while the process runs. */
  live: '/live',
  /** 200 once the node serves (state `ready`), 503 otherwise. */
  ready: '/ready',
  /** The node's status, shaped as {@link agentStatusSchema} (./agent-status.ts). */
  status: '/status',
  /** Prometheus text: the agent's and its router's metrics. */
  metrics: '/metrics',
  /** SWIM messages between agents. */
  gossip: '/v1/gossip',
  /** PUT by `synkti deploy`: the config a pool's replacements boot with during and after a rollout. */
  desiredConfig: '/v1/desired-config',
  /** The fleet web page, behind a sign-in form that takes the cluster secret. */
  dashboard: '/dashboard/',
} as const;
