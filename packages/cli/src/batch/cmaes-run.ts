/**
 * `synkti batch cmaes`: the CLI's wiring of a distributed CMA-ES run (the run itself is
 * @synkti/tasks/batch runBatchCmaes). The CLI process is the coordinator; its workers are a
 * local fleet of `--workers` agent nodes (@synkti/tasks/batch localBatchFleet: how they boot,
 * the worker command and the pool fetcher are given here) launched at the start and taken
 * down at the end, its backlog goes to CloudWatch with `--metrics-cluster`, its progress to
 * the terminal, and Ctrl-C stops it with its last checkpoint kept. A run with state pools
 * (`--pool`) fetches each one first, checked, into the cache its local workers read.
 */
import { fileURLToPath } from 'node:url';
import { localBatchFleet, runBatchCmaes, type BatchSummary, type RunBatchCmaesOptions } from '@synkti/tasks/batch';
import { formatDuration } from '@synkti/core';
import { createProgress } from '../output.ts';
import { renderPairs } from './render-pairs.ts';
import { agentBootCommand, ensureClusterSecret } from '../local-fleet.ts';
import { cloudWatchBatchMetrics } from './batch-metrics.ts';
import { fetchStatePoolFromS3 } from './state-pool-wiring.ts';

/** The CLI's entry: a node's worker is `synkti batch worker` (compiled: it starts ~3x faster than the sources through tsx). */
export const CLI_BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));

export interface BatchCmaesOptions extends Omit<RunBatchCmaesOptions, 'launchFleet' | 'metrics' | 'progress' | 'signal'> {
  /** `--chaos-rate` / `--chaos-notice`: random spot interruptions of the local workers. */
  chaos?: { ratePerHour: number; noticeMs: number } | undefined;
  /**
   * Publish Synkti/Batch Backlog and BacklogPerWorker with dimension Cluster=<this> to
   * CloudWatch (what SpotBatchFleet scales from). With `workers` 0 the workers are counted
   * as the running tasks of ECS service `<this>-worker`. @default not published
   */
  metricsCluster?: string | undefined;
  /** How often they are published. @default 60000 */
  metricsIntervalMs?: number | undefined;
}

export async function runBatchCmaesCommand(options: BatchCmaesOptions): Promise<BatchSummary> {
  const { chaos, metricsCluster, metricsIntervalMs, ...run } = options;
  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new Error('interrupted (Ctrl-C)'));
  process.once('SIGINT', onSigint);
  try {
    return await runBatchCmaes({
      ...run,
      // The local fleet of agent nodes, on the batch state's local cloud (opened for the run's backend).
      launchFleet: localBatchFleet({
        stateDir: options.stateDir,
        chaos,
        fetchStatePool: fetchStatePoolFromS3,
        boot: () => ({ clusterSecretFile: ensureClusterSecret(options.stateDir).file, command: agentBootCommand() }),
        // This machine's node and CLI: the workers of a local run are processes of this machine.
        workerCommand: [process.execPath, CLI_BIN, 'batch', 'worker'],
      }),
      metrics: metricsCluster === undefined ? undefined : cloudWatchBatchMetrics(metricsCluster, metricsIntervalMs),
      progress: createProgress(process.stderr, false),
      signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function sci(value: number): string {
  return Number.isFinite(value) ? value.toExponential(3) : String(value);
}

export function renderBatchSummary(summary: BatchSummary): string {
  const rows: Array<[string, string]> = [
    ['run', summary.run],
    ['status', summary.status],
    ['best f', sci(summary.best_f)],
    ['evaluations', String(summary.evaluations)],
    ['generations', String(summary.generations)],
    ['σ', sci(summary.sigma)],
    ['lost tasks', String(summary.lost_tasks)],
    ['duplicate results dropped', String(summary.duplicate_results_dropped)],
    ['stale results dropped', String(summary.stale_results_dropped)],
    ['dead-lettered', String(summary.dead_lettered)],
    ['tasks sent (re-sent)', `${summary.tasks_sent} (${summary.tasks_resent})`],
    ['workers launched / replaced / preempted', `${summary.workers_launched} / ${summary.workers_replaced} / ${summary.workers_preempted}`],
    ['time', formatDuration(summary.seconds * 1000)],
  ];
  if (summary.noise_samples !== null) rows.splice(3, 0, ['samples per candidate', `${summary.noise_samples} (best f is their mean)`]);
  if (summary.stop_reason) rows.push(['stopped early', summary.stop_reason]);
  return renderPairs(rows);
}
