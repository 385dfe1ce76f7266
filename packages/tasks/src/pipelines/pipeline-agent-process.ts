/**
 * One pipeline agent process (`synkti agent --pool <name>`, or agent-main without the CLI). It serves its pool's stages
 * until SIGTERM/SIGINT (tasks handed back, exit 0) or a spot interruption notice (IMDSv2,
 * watched when an instance metadata endpoint is configured: tasks handed back at once so
 * peers take them within one claim interval, exit 0). It runs the requeuer too (unless
 * --no-requeuer); only one node of the fleet sweeps at a time.
 */
import { SynktiError } from '@synkti/core';
import { createProcessLog } from '@synkti/core/process-log';
import { PIPELINE_AGENT_ENV, readStackEnvironment } from '@synkti/core/contracts';
import { runPreemptible } from '../worker/run-preemptible.ts';
import { openTaskDatabase } from './open-task-database.ts';
import { PipelineAgent } from './pipeline-agent.ts';
import { loadPipelineModules } from './pipeline-modules.ts';
import { openQueueMetricsSink, type QueueMetricsSink } from './pipeline-queue-metrics.ts';
import { openPipelineStore, openS3PipelineStore } from './pipeline-store.ts';

export interface PipelineAgentProcessOptions {
  pool: string;
  /** Pipeline module paths. */
  pipelines: string[];
  /** Task database: PostgreSQL URL or SQLite path. */
  db: string;
  /** Local object store directory (chunks, big results). */
  store?: string | undefined;
  bucket?: string | undefined;
  /** Keep chunks and big results in this S3 bucket (the stack's) instead of a local store. */
  s3Bucket?: string | undefined;
  /** AWS region of `s3Bucket` (and CloudWatch). @default the SDK's */
  region?: string | undefined;
  agentId?: string | undefined;
  /** @default 1 */
  concurrency?: number | undefined;
  /** @default 2000 */
  heartbeatMs?: number | undefined;
  /** @default 200 */
  pollMs?: number | undefined;
  /** @default true */
  requeuer?: boolean | undefined;
  /** @default 2000 */
  requeuerIntervalMs?: number | undefined;
  /** Requeuer lease and membership TTL. @default 10000 */
  requeuerLeaseMs?: number | undefined;
  /** Publish queue depth to CloudWatch with this Cluster dimension (while this node holds the requeuer lease). */
  metricsCluster?: string | undefined;
  /** @default 60000 */
  metricsIntervalMs?: number | undefined;
  /** How often instance metadata is polled for a notice. @default 5000 */
  noticePollMs?: number | undefined;
  json?: boolean | undefined;
}

/**
 * The options of an agent started by its stack with no flags (a PipelineCluster ECS task):
 * everything from the variables the stack injects (PIPELINE_AGENT_ENV). A missing or
 * invalid variable throws E_CONFIG_STACK_ENV naming it and the stack output it comes from.
 * The database password comes from PGPASSWORD (an ECS secret), never from the URL.
 */
export function agentOptionsFromStack(env: Readonly<Record<string, string | undefined>> = process.env): PipelineAgentProcessOptions {
  const v = readStackEnvironment('synkti agent (no flags: configured by its stack)', PIPELINE_AGENT_ENV, env);
  const pipelines = v
    .SYNKTI_PIPELINES!.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (pipelines.length === 0 || pipelines.length > 64) {
    throw new SynktiError('E_CONFIG_STACK_ENV', `SYNKTI_PIPELINES names ${pipelines.length} modules`, {
      hint: `set it from ${PIPELINE_AGENT_ENV.SYNKTI_PIPELINES.from}: 1..64 comma-separated module paths`,
    });
  }
  return {
    pool: v.SYNKTI_POOL!,
    pipelines,
    db: v.SYNKTI_PIPELINE_DB!,
    s3Bucket: v.SYNKTI_BUCKET,
    region: v.AWS_REGION,
    // The stack scales the GPU pool from the queue depth this publishes (one node at a time).
    metricsCluster: v.SYNKTI_CLUSTER,
    json: true,
  };
}

/** What the process around the agent provides. */
export interface PipelineAgentProcessControl {
  /** Aborting stops the agent as SIGTERM does. */
  signal?: AbortSignal | undefined;
  /**
   * The queue-depth sink for `metricsCluster` (the CLI's CloudWatch client, loaded when
   * asked). Required when `metricsCluster` is set.
   */
  openMetricsSink?: ((cluster: string) => Promise<QueueMetricsSink>) | undefined;
}

/** Runs until stopped; resolves with the exit code. */
export async function runPipelineAgentProcess(
  options: PipelineAgentProcessOptions,
  control: PipelineAgentProcessControl = {},
): Promise<number> {
  const log = createProcessLog({ component: `agent ${options.pool}`, json: options.json });
  const pipelines = await loadPipelineModules(options.pipelines);
  const db = await openTaskDatabase(options.db, { poolSize: Math.min(10, (options.concurrency ?? 1) + 2) });
  if (options.s3Bucket && options.store) {
    throw new SynktiError('E_USAGE', "a pipeline agent keeps objects either in --store or in the stack's S3 bucket, not both", {
      hint: 'drop --store on AWS',
    });
  }
  const store = options.s3Bucket
    ? openS3PipelineStore(options.s3Bucket, options.region)
    : await openPipelineStore(options.store, options.bucket);
  const leaseMs = options.requeuerLeaseMs ?? 10_000;
  const queueMetrics = options.metricsCluster
    ? { sink: await openQueueMetricsSink(options.metricsCluster, control.openMetricsSink), intervalMs: options.metricsIntervalMs ?? 60_000 }
    : undefined;
  const agent = new PipelineAgent({
    db,
    pipelines,
    pool: options.pool,
    agentId: options.agentId,
    concurrency: options.concurrency,
    heartbeatMs: options.heartbeatMs,
    pollMs: options.pollMs,
    store,
    onLog: log,
    queueMetrics,
    requeuer:
      options.requeuer === false
        ? false
        : {
            intervalMs: options.requeuerIntervalMs ?? 2000,
            leaseMs,
            membershipTtlMs: leaseMs,
            onSweep: (r) => {
              if (r.requeued + r.failed + r.repaired + r.jobsRepaired > 0) log(`requeuer: ${JSON.stringify(r)}`);
            },
          },
  });
  // Signals, the spot notice, handing tasks back and the exit code belong to runPreemptible.
  const outcome = await runPreemptible(agent, {
    noticePollMs: options.noticePollMs ?? 5000,
    signal: control.signal,
    log,
    onStarted: () => {
      log(
        `agent ${agent.id} serving ${agent.types.join(', ')} (concurrency ${options.concurrency ?? 1}, ${db.backend}${store ? `, store ${options.s3Bucket ? `s3://${options.s3Bucket}` : options.store}` : ''}${agent.requeuer ? ', requeuer on' : ', requeuer OFF'})`,
      );
      // Tests and supervisors wait for this line on stdout.
      process.stdout.write(
        `${JSON.stringify({ event: 'ready', agentId: agent.id, pool: options.pool, types: agent.types, pid: process.pid })}\n`,
      );
    },
  });
  const code = outcome.code;
  const s = agent.stats();
  log(`stopped: ${s.completed} completed, ${s.duplicates} duplicates, ${s.failed} failed, ${s.released} released, ${s.lost} lost`);
  await db.close();
  return code;
}
