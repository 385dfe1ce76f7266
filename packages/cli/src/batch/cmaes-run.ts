/**
 * `synkti batch cmaes`: the CLI's wiring of a distributed CMA-ES run (the run itself is
 * @synkti/tasks/batch runBatchCmaes). The CLI process is the coordinator; its workers are a
 * local fleet of `--workers` agent nodes (@synkti/tasks/batch BatchWorkerFleet) launched at the start and taken
 * down at the end, its backlog goes to CloudWatch with `--metrics-cluster`, its progress to
 * the terminal, and Ctrl-C stops it with its last checkpoint kept. A run with state pools
 * (`--pool`) fetches each one here first, checked, into the cache its local workers read.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchWorkerFleet, backendEnv, openBatchCloud, runBatchCmaes, type BatchCmaesFleet, type BatchFleetLaunch, type BatchSummary, type RunBatchCmaesOptions,
} from '@synkti/tasks/batch';
import { formatDuration } from '@synkti/core';
import { createProgress } from '../output.ts';
import { renderPairs } from './render-pairs.ts';
import { agentBootCommand, ensureClusterSecret } from '../local-fleet.ts';
import { cloudWatchBatchMetrics } from './batch-metrics.ts';
import { fetchStatePoolFromS3 } from './state-pool-wiring.ts';

/** The CLI's entry: a node's worker is `synkti batch worker` (compiled: it starts ~3x faster than the sources through tsx). */
export const CLI_BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));

/**
 * What a local worker needs to read state pools from S3 besides its backend's variables:
 * the SDK's credentials, region and endpoint (a local S3 server's too). They go into the
 * local cloud's boot environment, not the user data (HOME, for a profile's files, is
 * already one of the machine variables every local instance starts with).
 */
const STATE_POOL_ENV_KEYS = [
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE',
  'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3',
];

function statePoolEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of STATE_POOL_ENV_KEYS) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/**
 * Fetches the run's pools once, each file checked, into the cache its workers read
 * (`<stateDir>/state-pools`, runBatchWorker's default): a missing pool stops the run before
 * any worker starts, and the workers, all on this machine, find them verified (no worker
 * downloads them again, and no two fetch into one directory at once).
 */
async function prefetchStatePools(launch: BatchFleetLaunch): Promise<void> {
  const pools = launch.config.statePools;
  if (pools === undefined || launch.workers === 0) return;
  const cacheDir = pools.cacheDir ?? join(launch.config.stateDir, 'state-pools');
  for (const name of pools.names) {
    const pool = await fetchStatePoolFromS3({ bucket: pools.bucket, name, cacheDir, root: pools.root, region: launch.config.region ?? process.env.AWS_REGION });
    launch.onEvent(`state pool ${name}: ${pool.files} file(s), ${pool.bytes} bytes, SHA-256 checked${pool.reused ? ' (from the cache)' : ''}, for the workers at ${pool.path}`);
  }
}

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

/** The local fleet of agent nodes, on the batch state's local cloud (opened for the run's backend). */
function localFleet(stateDir: string, chaos: BatchCmaesOptions['chaos']): (launch: BatchFleetLaunch) => Promise<BatchCmaesFleet> {
  return async (launch) => {
    await prefetchStatePools(launch);
    const pooled = launch.config.statePools !== undefined;
    const cloud = openBatchCloud(stateDir, {
      command: agentBootCommand(), clusterSecretFile: ensureClusterSecret(stateDir).file,
      env: { ...(pooled ? statePoolEnv() : {}), ...backendEnv(launch.backend) },
    });
    try {
      if (chaos) cloud.instances.setChaos(chaos);
      const fleet = await BatchWorkerFleet.launch({
        cloud, run: launch.run, workers: launch.workers, config: launch.config, noticePollMs: launch.noticePollMs, onEvent: launch.onEvent,
        // This machine's node and CLI: the workers of a local run are processes of this machine.
        workerCommand: [process.execPath, CLI_BIN, 'batch', 'worker'],
      });
      return {
        alive: () => fleet.alive(),
        observe: () => fleet.observe(),
        counts: () => fleet.counts(),
        takeDown: () => fleet.takeDown(),
        close: () => cloud.close(),
      };
    } catch (error) {
      cloud.close();
      throw error;
    }
  };
}

export async function runBatchCmaesCommand(options: BatchCmaesOptions): Promise<BatchSummary> {
  const { chaos, metricsCluster, metricsIntervalMs, ...run } = options;
  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new Error('interrupted (Ctrl-C)'));
  process.once('SIGINT', onSigint);
  try {
    return await runBatchCmaes({
      ...run,
      launchFleet: localFleet(options.stateDir, chaos),
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
    ['run', summary.run], ['status', summary.status], ['best f', sci(summary.best_f)], ['evaluations', String(summary.evaluations)],
    ['generations', String(summary.generations)], ['σ', sci(summary.sigma)],
    ['lost tasks', String(summary.lost_tasks)], ['duplicate results dropped', String(summary.duplicate_results_dropped)],
    ['stale results dropped', String(summary.stale_results_dropped)], ['dead-lettered', String(summary.dead_lettered)],
    ['tasks sent (re-sent)', `${summary.tasks_sent} (${summary.tasks_resent})`],
    ['workers launched / replaced / preempted', `${summary.workers_launched} / ${summary.workers_replaced} / ${summary.workers_preempted}`],
    ['time', formatDuration(summary.seconds * 1000)],
  ];
  if (summary.noise_samples !== null) rows.splice(3, 0, ['samples per candidate', `${summary.noise_samples} (best f is their mean)`]);
  if (summary.stop_reason) rows.push(['stopped early', summary.stop_reason]);
  return renderPairs(rows);
}
