/**
 * The workers of one local batch run: a fleet of agent nodes on the batch state's local
 * cloud, each running one batch worker as its portless workload. No loop here keeps the
 * count (issue 20 item 5): the nodes do, as serve nodes do. A node's agent launches its
 * own replacement at a spot notice, then SIGTERMs its worker, which hands its tasks back
 * (runPreemptible) and exits; a node killed without a notice is replaced by the survivor
 * rendezvous hashing picks once SWIM has lost it and the cloud's record shows it gone.
 *
 * The coordinator only launches the fleet at the start (what is missing of `workers`),
 * reads the cloud's record for its report (read-only: launched, replaced, preempted,
 * alive), and takes the fleet down at the run's end. On AWS nothing of this runs
 * (`--stack`: the ECS service keeps the workers).
 *
 * How an instance boots (the agent's entry, the cluster secret) and what its workload runs
 * (the CLI's `synkti batch worker`) are the caller's: this module imports no agent and no CLI.
 */
import { createHash } from 'node:crypto';
import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE, serializeCluster, validateCluster, type ClusterSpec } from '@synkti/core';
import { REASON_SPOT, createLocalCloud, listAllInstances, type InstanceRecord, type LocalCloud } from '@synkti/cloud';
import type { BatchWorkerConfig } from './batch-worker.ts';
import type { BatchFleetCounts } from './run-batch-cmaes.ts';

export const BATCH_ROLE = 'batch-worker';
/** The variable a node's workload reads its worker config from (JSON of BatchWorkerConfig). */
export const BATCH_WORKER_CONFIG_ENV = 'SYNKTI_BATCH_WORKER_CONFIG';

/**
 * The cluster name of a run's worker fleet: run ids allow upper case and "_" (cluster names
 * do not), so a digest of the id, which also keeps two runs' fleets apart in one state dir.
 */
export function batchClusterName(run: string): string {
  return `batch-${createHash('sha256').update(run).digest('hex').slice(0, 16)}`;
}

/** How the batch state's local instances boot: the agent, authenticated by the state dir's cluster secret. */
export interface BatchCloudBoot {
  /** The agent's entry each instance runs (the CLI's agentBootCommand()). */
  command: string[];
  /** The cluster secret's file (0600; the CLI's ensureClusterSecret(stateDir).file). */
  clusterSecretFile: string;
  /** The backend's environment and the SDK's (credentials stay out of user data). @default {} */
  env?: Record<string, string> | undefined;
}

/**
 * Opens the batch state's local cloud; with `boot`, also (re)sets how its instances boot:
 * the agent, with the cluster secret of the state dir and the backend's environment
 * (credentials stay out of user data).
 */
export function openBatchCloud(stateDir: string, boot?: BatchCloudBoot): LocalCloud {
  if (boot === undefined) return createLocalCloud({ stateDir });
  return createLocalCloud({
    stateDir,
    bootCommand: boot.command,
    env: {
      SYNKTI_CLUSTER_SECRET_FILE: boot.clusterSecretFile,
      SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'info',
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
      ...boot.env,
    },
  });
}

/** The run's worker nodes (by their cluster tag; a terminated instance keeps no tags). */
export function runInstances(cloud: LocalCloud, run: string): Promise<InstanceRecord[]> {
  return listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: batchClusterName(run) }, states: ['pending', 'running'] });
}

export interface BatchWorkerSpecOptions {
  run: string;
  workers: number;
  /**
   * What each node's workload runs: a batch worker that reads its config from
   * BATCH_WORKER_CONFIG_ENV (the CLI's `[node, synkti.mjs, 'batch', 'worker']`: this machine's
   * node and CLI, since the workers of a local run are processes of this machine).
   */
  workerCommand: string[];
  /** The worker's config; its notices are its agent's (`watchNotices` is set false). */
  config: BatchWorkerConfig;
  /**
   * How often each node polls instance metadata for a spot notice.
   * @default 5000
   */
  noticePollMs?: number | undefined;
}

/** The cluster config every node of the run boots with (its user data). */
export function batchWorkerSpec(options: BatchWorkerSpecOptions): ClusterSpec {
  const config: BatchWorkerConfig = { ...options.config, watchNotices: false };
  return validateCluster(
    {
      name: batchClusterName(options.run),
      provider: 'local',
      pools: { [BATCH_ROLE]: { count: options.workers, lifecycle: 'spot' } },
      workload: {
        kind: 'portless',
        command: options.workerCommand,
        env: { [BATCH_WORKER_CONFIG_ENV]: JSON.stringify(config) },
      },
      timeouts: {
        noticePollInterval: options.noticePollMs ?? 5000,
        // The worker's hand-back takes milliseconds: a short margin leaves it most of a short notice.
        drainMargin: '500ms',
        shutdownGrace: '10s',
      },
    },
    `batch run ${options.run}`,
  );
}

export interface BatchWorkerFleetOptions extends BatchWorkerSpecOptions {
  cloud: LocalCloud;
  /** Told about replacements the nodes launched and workers that left. */
  onEvent?: ((text: string) => void) | undefined;
}

export class BatchWorkerFleet {
  private readonly options: BatchWorkerFleetOptions;
  readonly spec: ClusterSpec;
  /** Every node seen, with whom it replaces (tags are gone once it is terminated). */
  private readonly seen = new Map<string, { replaces: string | undefined }>();
  private aliveCount = 0;
  private observing: Promise<number> | undefined;
  private lastObservedAt = Number.NEGATIVE_INFINITY;

  private constructor(options: BatchWorkerFleetOptions) {
    this.options = options;
    this.spec = batchWorkerSpec(options);
  }

  /** Launches what is missing of `workers` (a resumed run keeps the nodes still running). */
  static async launch(options: BatchWorkerFleetOptions): Promise<BatchWorkerFleet> {
    const fleet = new BatchWorkerFleet(options);
    const existing = await runInstances(options.cloud, options.run);
    const userData = serializeCluster(fleet.spec);
    for (const record of existing) fleet.seen.set(record.id, { replaces: record.tags[TAG_REPLACES] });
    for (let i = existing.length; i < options.workers; i += 1) {
      const record = await options.cloud.instances.launch({
        tags: { [TAG_CLUSTER]: fleet.spec.name, [TAG_ROLE]: BATCH_ROLE },
        instanceType: fleet.spec.pools[BATCH_ROLE]!.instanceType,
        lifecycle: 'spot',
        userData,
      });
      fleet.seen.set(record.id, { replaces: undefined });
    }
    fleet.aliveCount = Math.max(existing.length, options.workers);
    return fleet;
  }

  /** Worker nodes running at the last look. */
  alive(): number {
    return this.aliveCount;
  }

  /**
   * Looks at the cloud's record once (at most every `maxAgeMs`; one list of a local
   * SQLite registry): the nodes alive now, and replacements that appeared since.
   */
  observe(maxAgeMs = 1000): Promise<number> {
    if (this.observing) return this.observing;
    if (Date.now() - this.lastObservedAt < maxAgeMs) return Promise.resolve(this.aliveCount);
    this.observing = (async () => {
      try {
        const records = await runInstances(this.options.cloud, this.options.run);
        for (const record of records) {
          if (this.seen.has(record.id)) continue;
          const replaces = record.tags[TAG_REPLACES];
          this.seen.set(record.id, { replaces });
          if (replaces !== undefined) this.options.onEvent?.(`worker ${record.id} launched by the fleet, replacing ${replaces}`);
        }
        this.aliveCount = records.length;
      } finally {
        this.lastObservedAt = Date.now();
        this.observing = undefined;
      }
      return this.aliveCount;
    })();
    return this.observing;
  }

  /** The report's numbers, from a last look at the record (terminated nodes included). */
  async counts(): Promise<BatchFleetCounts> {
    await this.observe(0).catch(() => undefined);
    const ids = new Set(this.seen.keys());
    const all = await listAllInstances(this.options.cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
    const preempted = all.filter((r) => ids.has(r.id) && r.stateReason === REASON_SPOT).length;
    const replaced = [...this.seen.values()].filter((s) => s.replaces !== undefined).length;
    return { launched: ids.size, replaced, preempted };
  }

  /**
   * The run's end: every node drains (its worker hands back and exits), leaves and is
   * terminated. Waits until none of them runs any more, since a node that was replacing a
   * lost peer when told to stop may still launch that replacement: it is ended too.
   * Resolves with the number of nodes terminated.
   */
  async takeDown(options: { timeoutMs?: number } = {}): Promise<number> {
    const { cloud, run } = this.options;
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const ended = new Set<string>();
    for (;;) {
      // Looked at before the list below: a node gone now made its last launch before it.
      const live = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down'] });
      const endedAllGone = !live.some((r) => ended.has(r.id));
      const fresh = (await runInstances(cloud, run)).filter((r) => !ended.has(r.id)).map((r) => r.id);
      if (fresh.length > 0) {
        await cloud.instances.terminate(fresh);
        for (const id of fresh) ended.add(id);
      } else if (endedAllGone || Date.now() >= deadline) {
        // Every node told to stop is gone: none is left to launch another.
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.aliveCount = 0;
    return ended.size;
  }
}
