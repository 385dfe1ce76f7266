/**
 * runBatchCmaes's fleet for a run on this machine (`synkti batch cmaes --workers N`): the
 * run's state pools fetched once, checked, into the cache its workers read, then a
 * BatchWorkerFleet of agent nodes on the batch state's local cloud, opened for the run's
 * backend. How an instance boots and what its workload runs are the caller's (the CLI's
 * agent entry, cluster secret and `synkti batch worker`), as is the pool fetcher.
 */
import { join } from 'node:path';
import type { ChaosSettings } from '@synkti/cloud';
import { backendEnv } from './backend.ts';
import type { StatePoolFetcher } from './batch-worker.ts';
import { BatchWorkerFleet, openBatchCloud, type BatchCloudBoot } from './batch-worker-fleet.ts';
import type { BatchCmaesFleet, BatchFleetLaunch } from './run-batch-cmaes.ts';

/**
 * What a local worker needs to read state pools from S3 besides its backend's variables:
 * the SDK's credentials, region and endpoint (a local S3 server's too). They go into the
 * local cloud's boot environment, not the user data (HOME, for a profile's files, is
 * already one of the machine variables every local instance starts with).
 */
const STATE_POOL_ENV_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
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
async function prefetchStatePools(launch: BatchFleetLaunch, fetchStatePool: StatePoolFetcher): Promise<void> {
  const pools = launch.config.statePools;
  if (pools === undefined || launch.workers === 0) return;
  const cacheDir = pools.cacheDir ?? join(launch.config.stateDir, 'state-pools');
  for (const name of pools.names) {
    const pool = await fetchStatePool({
      bucket: pools.bucket,
      name,
      cacheDir,
      root: pools.root,
      region: launch.config.region ?? process.env.AWS_REGION,
    });
    launch.onEvent(
      `state pool ${name}: ${pool.files} file(s), ${pool.bytes} bytes, SHA-256 checked${pool.reused ? ' (from the cache)' : ''}, for the workers at ${pool.path}`,
    );
  }
}

export interface LocalBatchFleetOptions {
  /** The batch state directory (its local cloud: `<stateDir>`'s registry). */
  stateDir: string;
  /**
   * How the instances boot (the environment is added here: the backend's, and the SDK's
   * when the run has pools); called once per launch, so nothing is made for a run that never launches.
   */
  boot: () => Omit<BatchCloudBoot, 'env'>;
  /** What each node's workload runs (BatchWorkerSpecOptions.workerCommand). */
  workerCommand: string[];
  /** Reads one pool, checked (the CLI's: the agent's model fetcher). */
  fetchStatePool: StatePoolFetcher;
  /** Random spot interruptions of the local workers. @default none */
  chaos?: ChaosSettings | undefined;
}

/** runBatchCmaes's `launchFleet` for local workers. */
export function localBatchFleet(options: LocalBatchFleetOptions): (launch: BatchFleetLaunch) => Promise<BatchCmaesFleet> {
  return async (launch) => {
    await prefetchStatePools(launch, options.fetchStatePool);
    const pooled = launch.config.statePools !== undefined;
    const cloud = openBatchCloud(options.stateDir, {
      ...options.boot(),
      env: { ...(pooled ? statePoolEnv() : {}), ...backendEnv(launch.backend) },
    });
    try {
      if (options.chaos) cloud.instances.setChaos(options.chaos);
      const fleet = await BatchWorkerFleet.launch({
        cloud,
        run: launch.run,
        workers: launch.workers,
        config: launch.config,
        noticePollMs: launch.noticePollMs,
        onEvent: launch.onEvent,
        workerCommand: options.workerCommand,
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
