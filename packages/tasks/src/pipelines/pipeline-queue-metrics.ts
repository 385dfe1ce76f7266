/**
 * Queue depth per agent pool, for autoscaling: tasks ready to be claimed and tasks
 * claimed (running), per pool, published every `intervalMs` by exactly one node: the one
 * holding the requeuer lease (rendezvous over the live nodes, guarded by the lease row),
 * so the fleet publishes one series however many agents run. Every pool the pipelines
 * name is published, zeros included: a missing point is not a zero to an autoscaler.
 * The sink is pluggable (CloudWatch PutMetricData in the CLI, memory in tests).
 */
import { SynktiError } from '@synkti/core';
import type { Pipeline } from './define-pipeline.ts';
import type { PipelineRequeuer } from './pipeline-requeuer.ts';
import type { TaskDatabase } from './types.ts';

export interface PoolQueueDepth {
  pool: string;
  /** Ready tasks of the pool's stages. */
  ready: number;
  /** Claimed (running) tasks of the pool's stages. */
  claimed: number;
}

export type QueueMetricsSink = (points: PoolQueueDepth[], at: number) => Promise<void>;

export interface PipelineQueueMetricsOptions {
  db: TaskDatabase;
  pipelines: Pipeline[];
  /** Publishes only while this requeuer holds the lease. */
  requeuer: PipelineRequeuer;
  sink: QueueMetricsSink;
  /**
   * How often to publish.
   * @default 60000
   */
  intervalMs?: number | undefined;
  onError?: ((error: unknown) => void) | undefined;
}

/** Sums queue depth by type into depth by pool (every pool of the pipelines, zeros included). */
export function queueDepthByPool(pipelines: Pipeline[], byType: Record<string, { ready: number; running: number }>): PoolQueueDepth[] {
  const pools = new Map<string, PoolQueueDepth>();
  for (const pipeline of pipelines) {
    for (const stage of pipeline.stages.values()) {
      const entry = pools.get(stage.pool) ?? { pool: stage.pool, ready: 0, claimed: 0 };
      pools.set(stage.pool, entry);
      entry.ready += byType[stage.type]?.ready ?? 0;
      entry.claimed += byType[stage.type]?.running ?? 0;
    }
  }
  return [...pools.values()].sort((a, b) => a.pool.localeCompare(b.pool));
}

export class PipelineQueueMetrics {
  private readonly options: PipelineQueueMetricsOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private published = 0;

  constructor(options: PipelineQueueMetricsOptions) {
    this.options = options;
  }

  /** Publishes now if this node holds the requeuer lease; returns what it published. */
  async publishOnce(): Promise<PoolQueueDepth[] | undefined> {
    if (!this.options.requeuer.status().holder) return undefined;
    const points = queueDepthByPool(this.options.pipelines, await this.options.db.queueDepth());
    await this.options.sink(points, Date.now());
    this.published += 1;
    return points;
  }

  /** How many times this node published. */
  publishCount(): number {
    return this.published;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      this.publishOnce().catch((error: unknown) => this.options.onError?.(error));
    }, this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }
}

/** The sink for `--metrics-cluster`, from whoever runs the process (a sink needs a cloud client this package does not load). */
export async function openQueueMetricsSink(
  cluster: string,
  open: ((cluster: string) => Promise<QueueMetricsSink>) | undefined,
): Promise<QueueMetricsSink> {
  if (!open) {
    throw new SynktiError('E_USAGE', `metricsCluster ${cluster}: this process has no metrics sink to publish queue depth with`, {
      hint: 'run the agent with `synkti agent` (it publishes to CloudWatch), or drop metricsCluster',
    });
  }
  return open(cluster);
}
