import { InvalidArgumentError, type Command } from 'commander';
import { SynktiError } from '@synkti/core';
import { metricsClusterOption } from '../metrics-cluster-option.ts';
import { durationOption, repeatable, wholeNumberOption } from '../option-parsers.ts';
import {
  DEFAULT_PIPELINE_BUCKET,
  agentOptionsFromStack,
  cloudWatchQueueSink,
  pipelineSubmit,
  runPipelineAgentProcess,
} from '@synkti/tasks';
import { startPipelineApiServer } from '@synkti/tasks/pipelines-api';
import { pipelineJobsTable } from '../pipeline/pipeline-jobs-table.ts';

const pipelineDuration = durationOption({ positive: true, examples: '"2s", "500ms" or "1 minute"' });

function poolOption(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,60}$/.test(value)) throw new InvalidArgumentError('expected a pool name: 1..60 letters, digits, "_" or "-"');
  return value;
}

const DB_HELP =
  'task database: a PostgreSQL URL (postgres://user:pass@host/db) or an SQLite file path (default: $SYNKTI_PIPELINE_DB or ./.synkti/pipelines.db)';
const defaultDb = (): string => process.env.SYNKTI_PIPELINE_DB ?? '.synkti/pipelines.db';

/** Adds `synkti agent`, `synkti api` and `synkti pipeline submit|jobs`. */
export function registerPipelineCommands(program: Command): void {
  program
    .command('agent')
    .description(
      "run a pipeline agent of one pool: claims that pool's task types, heartbeats, hands its tasks back on a spot notice or SIGTERM, runs the requeuer",
    )
    .option(
      '--pool <name>',
      "the pool this agent serves (e.g. exec, gpu, snark); with no --pool, --pipeline or --db the agent is configured by its stack (PipelineCluster's variables)",
      poolOption,
    )
    .option('--pipeline <module>', 'module exporting definePipeline(...) results (repeatable)', repeatable, [])
    .option('--db <url|path>', DB_HELP)
    .option('--store <dir>', 'local object store directory for chunks and big results')
    .option('--bucket <name>', 'bucket in the store', DEFAULT_PIPELINE_BUCKET)
    .option('--concurrency <n>', 'tasks run at once', wholeNumberOption(1, 1000), 1)
    .option('--heartbeat <duration>', "heartbeat interval (well under the stages' timeouts)", pipelineDuration, 2000)
    .option('--poll <duration>', 'wait between claims when idle', pipelineDuration, 200)
    .option('--id <agentId>', 'agent id (default: <pool>-<random>)')
    .option('--no-requeuer', 'do not run the requeuer on this node (keep it on somewhere!)')
    .option('--requeuer-interval <duration>', 'requeuer tick', pipelineDuration, 2000)
    .option('--requeuer-lease <duration>', 'requeuer lease and membership TTL (takeover bound: this + the tick)', pipelineDuration, 10_000)
    .option(
      '--metrics-cluster <name>',
      'publish queue depth (Synkti/Pipelines ReadyTasks, ClaimedTasks by Cluster, Pool) to CloudWatch; one node publishes at a time',
      metricsClusterOption,
    )
    .option('--metrics-interval <duration>', 'how often queue depth is published', pipelineDuration, 60_000)
    .option('--json', 'log JSON lines', false)
    .action(
      async (options: {
        pool?: string;
        pipeline: string[];
        db?: string;
        store?: string;
        bucket: string;
        concurrency: number;
        heartbeat: number;
        poll: number;
        id?: string;
        requeuer: boolean;
        requeuerInterval: number;
        requeuerLease: number;
        json: boolean;
        metricsCluster?: string;
        metricsInterval: number;
      }) => {
        if (options.pool === undefined && options.pipeline.length === 0 && options.db === undefined) {
          // A stack's task (PipelineCluster's agent service): everything comes from its environment.
          process.exitCode = await runPipelineAgentProcess(
            { ...agentOptionsFromStack(process.env), concurrency: options.concurrency },
            { openMetricsSink: cloudWatchQueueSink },
          );
          return;
        }
        if (options.pool === undefined) {
          throw new SynktiError('E_USAGE', '--pool is required with --pipeline or --db', {
            hint: 'pass --pool NAME, or give none of them inside a PipelineCluster task (its variables configure the agent)',
          });
        }
        process.exitCode = await runPipelineAgentProcess(
          {
            pool: options.pool,
            pipelines: options.pipeline,
            db: options.db ?? defaultDb(),
            store: options.store,
            bucket: options.bucket,
            agentId: options.id,
            concurrency: options.concurrency,
            heartbeatMs: options.heartbeat,
            pollMs: options.poll,
            requeuer: options.requeuer,
            requeuerIntervalMs: options.requeuerInterval,
            requeuerLeaseMs: options.requeuerLease,
            json: options.json,
            metricsCluster: options.metricsCluster,
            metricsIntervalMs: options.metricsInterval,
          },
          { openMetricsSink: cloudWatchQueueSink },
        );
      },
    );

  program
    .command('api')
    .description('serve the pipelines REST API (submit/get/list/cancel jobs, results, /openapi.json, /metrics), authenticated by API keys')
    .option('--pipeline <module>', 'module exporting definePipeline(...) results (repeatable)', repeatable, [])
    .option('--db <url|path>', DB_HELP)
    .option('--api-keys <file>', 'JSON file [{ "key", "owner", "stream"?, "maxActiveJobs"?, "admin"? }] (default: $SYNKTI_API_KEYS)')
    .option('--store <dir>', 'local object store directory (serves results kept there)')
    .option('--bucket <name>', 'bucket in the store', DEFAULT_PIPELINE_BUCKET)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', wholeNumberOption(0, 65535), 8790)
    .option('--max-body <bytes>', 'largest request body', wholeNumberOption(1024, 64 * 1024 * 1024), 1024 * 1024)
    .option('--no-requeuer', 'do not run the requeuer on this node')
    .option('--metrics-cluster <name>', 'publish queue depth to CloudWatch (as synkti agent does)', metricsClusterOption)
    .option('--metrics-interval <duration>', 'how often queue depth is published', pipelineDuration, 60_000)
    .action(
      async (options: {
        pipeline: string[];
        db?: string;
        apiKeys?: string;
        store?: string;
        bucket: string;
        host: string;
        port: number;
        maxBody: number;
        requeuer: boolean;
        metricsCluster?: string;
        metricsInterval: number;
      }) => {
        const api = await startPipelineApiServer({
          db: options.db ?? defaultDb(),
          pipelines: options.pipeline,
          apiKeys: options.apiKeys,
          store: options.store,
          bucket: options.bucket,
          host: options.host,
          port: options.port,
          maxBodyBytes: options.maxBody,
          requeuer: options.requeuer,
          metricsCluster: options.metricsCluster,
          metricsIntervalMs: options.metricsInterval,
          openMetricsSink: cloudWatchQueueSink,
        });
        process.stdout.write(`${JSON.stringify({ event: 'listening', url: api.url, port: api.port })}\n`);
        await new Promise<void>((resolve) => {
          const done = (): void => {
            process.off('SIGTERM', done);
            process.off('SIGINT', done);
            resolve();
          };
          process.on('SIGTERM', done);
          process.on('SIGINT', done);
        });
        await api.stop();
      },
    );

  const pipeline = program.command('pipeline').description('pipeline jobs straight from the task database');
  pipeline
    .command('submit')
    .description('submit one job (input as JSON) and print its id')
    .requiredOption('--pipeline <module>', 'module exporting the pipeline', repeatable, [])
    .requiredOption('--name <pipeline>', 'pipeline name')
    .requiredOption('--input <json>', 'the job input as JSON')
    .option('--db <url|path>', DB_HELP)
    .option('--owner <owner>', 'owner recorded on the job', 'local')
    .option('--wait', 'wait for the job to finish and print it', false)
    .action(async (options: { pipeline: string[]; name: string; input: string; db?: string; owner: string; wait: boolean }) => {
      const job = await pipelineSubmit({ ...options, db: options.db ?? defaultDb() });
      console.log(JSON.stringify(job, null, 2));
      if (job.state === 'failed' || job.state === 'cancelled') process.exitCode = 1;
    });
  pipeline
    .command('jobs')
    .description('list jobs, newest first')
    .option('--db <url|path>', DB_HELP)
    .option('--limit <n>', 'most jobs', wholeNumberOption(1, 500), 20)
    .option('--json', 'print JSON', false)
    .action(async (options: { db?: string; limit: number; json: boolean }) => {
      console.log(await pipelineJobsTable({ db: options.db ?? defaultDb(), limit: options.limit, json: options.json }));
    });
}
