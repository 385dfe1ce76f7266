/**
 * The worker instances of one batch run on the local cloud. Each is a real local
 * instance (detached process tree with its own IMDSv2 server), booted into
 * worker-main.ts with its config as user data, so `preempt`, chaos and kills behave as
 * on EC2. The keeper holds the count at `workers`: an instance with a spot notice no
 * longer counts, so its replacement is launched at the notice, not after the kill.
 *
 * Why this loop is still here (issue 20 item 5), local cloud only: on AWS nothing of it
 * runs (`--stack`: the ECS service replaces workers, as the emulated-AWS batch and
 * pipelines demos show). Serve nodes replace each other without it because each runs the
 * agent: its notice watcher launches its own replacement, and SWIM membership lets the
 * rendezvous-chosen survivor replace a peer that died without a notice. A local batch
 * worker is a bare process (worker-main.ts) with no agent and no membership, so when one is
 * kill -9'd nothing else sees it. Deleting this loop needs the workers to be the workload of
 * agent nodes in a membership-keeping local fleet, which needs the agent's supervisor to run
 * a workload with no HTTP port or health path (a batch worker has neither), and the run's
 * end to take that fleet down.
 */
import { fileURLToPath } from 'node:url';
import { SynktiError, TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { createImdsClient, createLocalCloud, listAllInstances, type InstanceMetadata, type InstanceRecord, type LocalCloud } from '@synkti/cloud';
import { tsxLoader } from '../local-fleet.ts';
import type { BatchWorkerConfig } from './batch-worker.ts';

export const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
export const BATCH_CLUSTER = 'synkti-batch';
export const BATCH_ROLE = 'batch-worker';
export const TAG_BATCH_RUN = 'SynktiBatchRun';

/** Opens the batch state's local cloud; with `env`, also (re)sets how worker instances boot. */
export function openBatchCloud(stateDir: string, env?: Record<string, string>): LocalCloud {
  return createLocalCloud({
    stateDir,
    portTags: [],
    ...(env === undefined ? {} : {
      bootCommand: [process.execPath, '--import', tsxLoader(), WORKER_MAIN],
      env: { SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'info', ...(process.env.PATH ? { PATH: process.env.PATH } : {}), ...env },
    }),
  });
}

export function runInstances(cloud: LocalCloud, run: string, includeTerminated = false): Promise<InstanceRecord[]> {
  return listAllInstances(cloud.instances, {
    tags: { [TAG_BATCH_RUN]: run },
    states: includeTerminated ? ['pending', 'running', 'shutting-down', 'terminated'] : ['pending', 'running'],
  });
}

export interface BatchFleetOptions {
  cloud: LocalCloud;
  run: string;
  /** Workers to keep alive. */
  workers: number;
  config: BatchWorkerConfig;
  /**
   * How often the fleet is checked.
   * @default 1000
   */
  keepEveryMs?: number | undefined;
  /** Told about launches and notices. */
  onEvent?: ((text: string) => void) | undefined;
}

export class BatchFleet {
  private readonly options: BatchFleetOptions;
  private readonly noticed = new Set<string>();
  private readonly metadata = new Map<string, InstanceMetadata>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private aliveCount = 0;
  /** The first check launches the initial workers; later launches are replacements. */
  private ticked = false;
  launched = 0;
  replaced = 0;
  preempted = 0;

  constructor(options: BatchFleetOptions) {
    this.options = options;
  }

  /** Launches what is missing now, then keeps the count. */
  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  /** Workers alive at the last check (a worker with a notice is not). */
  alive(): number {
    return this.aliveCount;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /** Stops keeping and terminates every instance of the run. */
  async terminateAll(): Promise<number> {
    await this.stop();
    const ids = (await runInstances(this.options.cloud, this.options.run)).map((r) => r.id);
    if (ids.length > 0) await this.options.cloud.instances.terminate(ids);
    return ids.length;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().catch((error: unknown) => this.options.onEvent?.(`fleet check failed: ${(error as Error)?.message ?? String(error)}`))
        .finally(() => { this.ticking = undefined; this.schedule(); });
    }, this.options.keepEveryMs ?? 1000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { cloud, run, workers } = this.options;
    const instances = await runInstances(cloud, run);
    await Promise.all(instances.map(async (instance) => {
      if (this.noticed.has(instance.id) || instance.state !== 'running') return;
      const endpoint = cloud.metadataEndpointOf(instance.id);
      if (!endpoint) return;
      let metadata = this.metadata.get(instance.id);
      if (!metadata) {
        metadata = createImdsClient({ endpoint, timeoutMs: 500, retries: 0 });
        this.metadata.set(instance.id, metadata);
      }
      try {
        if (await metadata.interruptionNotice()) {
          this.noticed.add(instance.id);
          this.preempted += 1;
          this.options.onEvent?.(`worker ${instance.id} got a spot interruption notice: launching its replacement now`);
        }
      } catch {
        // Metadata unreachable: the instance may be dying; the next list tells.
      }
    }));
    const alive = instances.filter((i) => !this.noticed.has(i.id)).length;
    this.aliveCount = alive;
    const replacing = this.ticked;
    this.ticked = true;
    if (this.stopped || alive >= workers) return;
    // A runaway (workers that die at boot) must not launch forever.
    if (this.launched >= workers * 10 + 20) {
      throw new SynktiError('E_BATCH_FLEET', `launched ${this.launched} workers for run ${run}; they keep dying`, { hint: `see the instance logs under ${cloud.instances.stateDir}/instances/` });
    }
    const missing = workers - alive;
    for (let i = 0; i < missing; i += 1) {
      const record = await cloud.instances.launch({
        tags: { [TAG_CLUSTER]: BATCH_CLUSTER, [TAG_ROLE]: BATCH_ROLE, [TAG_BATCH_RUN]: run },
        instanceType: 'local',
        lifecycle: 'spot',
        userData: JSON.stringify(this.options.config),
      });
      this.launched += 1;
      if (replacing) {
        this.replaced += 1;
        this.options.onEvent?.(`launched worker ${record.id} (replacement)`);
      }
    }
    this.aliveCount = workers;
  }
}
