import type { InstanceRecord, InterruptionNotice } from '@synkti/cloud';
import type { AgentStatus, AgentStatusMember } from '@synkti/core/contracts';
import type { PipelineStats } from './snapshot.ts';

/**
 * What the dashboard reads of an agent's GET /status: a part of @synkti/core/contracts
 * AgentStatus (sources parse the body with parseAgentStatus, never cast it).
 */
export type AgentStatusView = Pick<AgentStatus, 'id' | 'role' | 'zone' | 'state' | 'uptimeMs' | 'load'> &
  Partial<Pick<AgentStatus, 'generation' | 'autoscale'>> & {
    members: Pick<AgentStatusMember, 'id' | 'state'>[];
  };

/** When an instance launched, got its spot notice and ended, as the provider keeps it. */
export interface InstanceLifeTimes {
  id: string;
  launchedAt: number;
  /** When the cloud reclaims it, for an instance that got a spot notice; null otherwise. */
  noticeTime: number | null;
  /** When it ended; null while it lives. */
  terminatedAt: number | null;
}

/** The latest line of a batch run's metrics.jsonl, with its run name. */
export interface BatchReport {
  run: string;
  metrics: Record<string, unknown>;
}

/**
 * Where the dashboard reads a fleet from. The CLI implements it over the local cloud
 * (packages/cli/src/dashboard); tests implement it with fakes.
 */
export interface FleetSource {
  cluster: string;
  provider: string;
  /**
   * The cluster's instances in every state, terminated ones included when the provider
   * still lists them (their reason says preempted, crashed or stopped).
   */
  instances(): Promise<InstanceRecord[]>;
  /** GET /status of the instance's agent; undefined when it does not answer. */
  status(record: InstanceRecord): Promise<AgentStatusView | undefined>;
  /** GET /metrics (Prometheus text) of the instance's agent; undefined when it does not answer. */
  metrics(record: InstanceRecord): Promise<string | undefined>;
  /** The instance's spot interruption notice, where the provider lets us read it (locally: its IMDS). */
  notice?(record: InstanceRecord): Promise<InterruptionNotice | null | undefined>;
  /**
   * Launch, notice and end times of the cluster's instances, ended ones included, where
   * the provider keeps them (the local cloud's registry): read once, when the dashboard
   * opens, so its timeline starts with what happened before it (a preemption, its
   * replacement), not empty.
   */
  lifeTimes?(): Promise<InstanceLifeTimes[]>;
  /** The newest batch run's latest metrics, if any batch run exists. */
  batch?(): Promise<BatchReport | undefined>;
  /** Pipeline jobs by state, when a pipeline task database is configured. */
  pipelines?(): Promise<PipelineStats | undefined>;
  close?(): void;
}
