/**
 * What the dashboard server pushes to the page on every SSE `snapshot` event. The page
 * imports these types (type-only), so server and page cannot drift apart.
 */
export interface DashboardSnapshot {
  cluster: string;
  provider: string;
  /** Epoch ms when this snapshot was taken. */
  at: number;
  /** Live instances (pending, running, shutting down), oldest first. */
  nodes: DashboardNode[];
  /** Newest last; at most `timelineLimit` entries. */
  timeline: TimelineEvent[];
  traffic: TrafficStats;
  /** The newest batch run's last reported metrics, when a batch run exists. */
  batch: BatchStats | undefined;
  /** Pipeline jobs and open tasks by state, when a pipeline task database is configured. */
  pipelines: PipelineStats | undefined;
  cost: CostStats;
  /** Problems reaching the fleet (e.g. the cloud listing failed); empty when all is well. */
  warnings: string[];
  /** Autoscaled pools (the latest action any node reports); empty when no pool autoscales. */
  autoscale: DashboardAutoscalePool[];
}

/** One autoscaled pool: live and desired replicas, bounds, the decider, the last action. */
export interface DashboardAutoscalePool {
  pool: string;
  current: number;
  desired: number;
  min: number;
  max: number;
  decider?: string | undefined;
  last?: { epoch: number; action: string; from: number; desired: number; at: number; by: string; reason: string } | undefined;
}

export interface DashboardNode {
  id: string;
  role: string;
  zone: string;
  /** The agent's state (booting, joining, ready, draining, stopped), else the instance's state, or 'unreachable'. */
  state: string;
  instanceState: string;
  instanceType: string;
  lifecycle: string;
  address: string;
  /** In-flight requests the agent reports. */
  load: number | undefined;
  uptimeMs: number | undefined;
  /** Epoch ms of the spot interruption notice's deadline, when there is one. */
  noticeDeadline: number | undefined;
  /** The instance this one was launched to replace (SynktiReplaces tag). */
  replaces: string | undefined;
  /** How many members this node's agent sees. */
  members: number | undefined;
}

export type TimelineKind =
  'watch' | 'launch' | 'replacement' | 'ready' | 'notice' | 'drain' | 'preemption' | 'crash' | 'stopped' | 'unreachable';

export interface TimelineEvent {
  /** Increasing per server, so the page can key entries. */
  seq: number;
  at: number;
  kind: TimelineKind;
  node: string;
  text: string;
}

export interface TrafficStats {
  /** Routers that answered /metrics in this round. */
  routers: number;
  /** Requests per second through all routers over the window; undefined before two rounds. */
  requestsPerSecond: number | undefined;
  /** 5xx answers / all answers over the window; undefined with no requests. */
  errorRate: number | undefined;
  /** p99 request duration (seconds) over the window; undefined with no requests. */
  p99Seconds: number | undefined;
  windowMs: number;
  /** Requests per second, one point per round, oldest first (sparkline). */
  series: { at: number; rps: number }[];
}

export interface BatchStats {
  run: string;
  generation: number | undefined;
  queueDepth: number | undefined;
  queueInFlight: number | undefined;
  queueDeadLettered: number | undefined;
  workers: number | undefined;
  bestF: number | undefined;
  /** When the run last reported (epoch ms). */
  at: number | undefined;
}

/**
 * Pipeline jobs by state, counted cheaply (each count reads a partial index or a bounded
 * range, never the finished history): running jobs all, finished ones only among the jobs
 * created within `windowMs`.
 */
export interface PipelineStats {
  /** 'sqlite' or 'postgres'. */
  backend: string;
  jobs: { running: number; done: number; failed: number; cancelled: number };
  /** Unfinished tasks: waiting on dependencies, ready to claim, claimed by an agent. */
  tasks: { pending: number; ready: number; running: number };
  /** How far back done/failed/cancelled jobs are counted (by creation time). */
  windowMs: number;
}

export interface CostStats {
  usdPerHour: number;
  onDemandUsdPerHour: number;
  savings: number;
  unpriced: string[];
  /** Where the prices come from. */
  priceNote: string;
}
