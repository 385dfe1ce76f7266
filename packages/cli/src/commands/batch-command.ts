import { InvalidArgumentError, type Command } from 'commander';
import { SynktiError } from '@synkti/core';
import { RESTART_STRATEGIES, validateRunId, type RestartStrategy, type UnscorablePolicy } from '@synkti/tasks';
import { metricsClusterOption } from '../metrics-cluster-option.ts';
import { chaosRateOption, durationOption, positiveNumber, wholeNumberOption } from '../option-parsers.ts';
import {
  BATCH_BACKENDS,
  BUILTIN_OBJECTIVE_NAMES,
  DEFAULT_BATCH_MAX_RECEIVES,
  DEFAULT_WORKER_LEASE_MS,
  normalizeObjective,
  parseStatePoolNames,
  parseWorkerConfig,
  resolveBatchStateDir,
  runBatchWorker,
  workerConfigFromStack,
  type BatchBackend,
  type BatchWorkerConfig,
  type StatePoolFetcher,
  type WorkerStatePools,
  DEFAULT_MAX_SAMPLES,
  NOISE_HANDLINGS,
  batchRunDeadLetters,
  listBatchRuns,
  redriveBatchRun,
  stackTargetFromEnv,
  type NoiseHandling,
  BATCH_WORKER_CONFIG_ENV,
  statePoolTarget,
} from '@synkti/tasks/batch';
import { batchCancel, batchPreempt, batchStatus, renderDeadLetters, renderRunList, renderRunStatus } from '../batch/batch-admin.ts';
import { renderBatchSummary, runBatchCmaesCommand } from '../batch/cmaes-run.ts';

const batchDuration = durationOption({ positive: true, examples: '"10s", "2 minutes" or "500ms"' });

function backendOption(value: string): BatchBackend {
  if (!(BATCH_BACKENDS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${BATCH_BACKENDS.join(', ')}`);
  return value as BatchBackend;
}

function runOption(value: string): string {
  try {
    return validateRunId(value);
  } catch {
    throw new InvalidArgumentError('expected a run id: 1 to 40 letters, digits, "-" or "_"');
  }
}

function objectiveOption(value: string): string {
  try {
    return normalizeObjective(value);
  } catch (error) {
    throw new InvalidArgumentError(
      error instanceof SynktiError ? `${error.message.replace(/^--objective: /, '')} (${error.hint ?? ''})` : String(error),
    );
  }
}

function unscorableOption(value: string): UnscorablePolicy {
  if (value !== 'fail' && value !== 'worst')
    throw new InvalidArgumentError('expected "fail" (stop the run) or "worst" (score it +Infinity)');
  return value;
}

function urlOption(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    return value;
  } catch {
    throw new InvalidArgumentError('expected an http(s) URL, e.g. http://127.0.0.1:4566');
  }
}

function restartsOption(value: string): RestartStrategy {
  if (!(RESTART_STRATEGIES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${RESTART_STRATEGIES.join(', ')} (bipop solves multimodal objectives best)`);
  return value as RestartStrategy;
}

function noiseHandlingOption(value: string): NoiseHandling {
  if (!(NOISE_HANDLINGS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${NOISE_HANDLINGS.join(', ')} (reevaluate for a noisy objective, e.g. a win rate)`);
  return value as NoiseHandling;
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a finite number, e.g. 1e-8');
  return n;
}

/** `--x0 0.5` (every coordinate) or `--x0 1,2,3` (one per dimension). */
function x0Option(value: string): number[] {
  const parts = value.split(',').map((v) => v.trim());
  const numbers = parts.map(Number);
  if (parts.some((p) => p === '') || !numbers.every(Number.isFinite))
    throw new InvalidArgumentError('expected finite numbers separated by commas, e.g. 0.5 or 1,0,-2');
  return numbers;
}

/** `--population 12` or `--population auto` (the smallest multiple of --workers at least CMA-ES's default). */
function populationOption(value: string): number | 'auto' {
  if (value.trim() === 'auto') return 'auto';
  try {
    return wholeNumberOption(2, 100_000)(value);
  } catch {
    throw new InvalidArgumentError(
      'expected a whole number from 2 to 100000, or auto (the smallest multiple of --workers at least the default)',
    );
  }
}

/** The same setting given under two names (e.g. --population and --popsize) must agree. */
function oneOf<T>(a: T | undefined, b: T | undefined, names: string): T | undefined {
  if (a !== undefined && b !== undefined && a !== b)
    throw new SynktiError('E_USAGE', `${names} give different values (${String(a)}, ${String(b)})`, { hint: 'give only one of them' });
  return a ?? b;
}

/** `--pool` (repeatable, or a,b) with `--bucket` (default $SYNKTI_BUCKET): the pools a worker fetches; undefined for none. */
function statePoolsFromFlags(values: readonly string[], bucketFlag: string | undefined): WorkerStatePools | undefined {
  const names = parseStatePoolNames(values, '--pool');
  if (names.length === 0) return undefined;
  const bucket = bucketFlag ?? process.env.SYNKTI_BUCKET;
  if (!bucket)
    throw new SynktiError('E_USAGE', '--pool: no bucket to fetch it from', {
      hint: 'pass --bucket or set SYNKTI_BUCKET (the stack output bucketName)',
    });
  return { names, bucket, root: process.env.SYNKTI_STATE_POOLS_PREFIX || undefined };
}

const POOL_HELP =
  "a state pool to fetch (each file's SHA-256 checked) before taking tasks; the objective reads it at $SYNKTI_STATE_POOLS_DIR/<name>/ (repeatable)";
// No default array: commander would print "(default: [])" in --help.
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const STATE_DIR_HELP =
  'batch state directory: local queues, worker instances, checkpoints (default: $SYNKTI_STATE_DIR/batch or ./.synkti/batch)';

/** Adds `synkti batch cmaes | worker | status | cancel | dlq list | dlq redrive`. */
export function registerBatchCommands(program: Command): void {
  const batch = program
    .command('batch')
    .description(
      'batch optimisation on spot workers: a coordinator, a task queue with leases and dead letters, CMA-ES that resumes exactly',
    );

  batch
    .command('cmaes')
    .description('run CMA-ES with candidates evaluated by spot workers; checkpointed every generation (resume with --resume RUN)')
    .option(
      '--objective <module|builtin>',
      `what to minimise: ${BUILTIN_OBJECTIVE_NAMES.join(', ')}, or a module whose default export is (x: number[]) => number`,
      objectiveOption,
    )
    .option('--dim <n>', 'parameters per candidate', wholeNumberOption(1, 10_000))
    .option('--generations <n>', 'generations to run (default 100)', wholeNumberOption(1, 1_000_000))
    .option(
      '--population <n|auto>',
      "candidates per generation (default: 4 + ⌊3 ln dim⌋); auto: the smallest multiple of --workers at least that, so no worker idles in a generation's last round",
      populationOption,
    )
    .option('--seed <n>', 'random seed: the same seed gives the same run (default: random, printed)', wholeNumberOption(0, 2 ** 31 - 1))
    .option('--sigma <x>', "initial step size (default: CMA-ES's)", positiveNumber)
    .option('--popsize <n|auto>', 'same as --population', populationOption)
    .option('--sigma0 <x>', 'same as --sigma', positiveNumber)
    .option('--x0 <list>', 'start point: one number for every coordinate, or --dim comma-separated numbers (default 0)', x0Option)
    .option(
      '--restarts <strategy>',
      `when a CMA-ES run stops (Hansen's criteria), start again: ${RESTART_STRATEGIES.join(', ')} (default none; bipop for multimodal objectives)`,
      restartsOption,
    )
    .option(
      '--max-evals <n>',
      'evaluation budget over all runs (default with --restarts or --target-f: 100000 × dim)',
      wholeNumberOption(1, 1e12),
    )
    .option('--target-f <f>', 'stop once the best f is below this', finiteNumber)
    .option(
      '--noise-handling <how>',
      `a noisy objective (e.g. a win rate over games): ${NOISE_HANDLINGS.join(', ')}. reevaluate scores each candidate several times and ranks by the mean, doubling the samples whenever noise hides the differences (default none)`,
      noiseHandlingOption,
    )
    .option(
      '--max-samples <n>',
      `with --noise-handling reevaluate: most evaluations per candidate (default ${DEFAULT_MAX_SAMPLES})`,
      wholeNumberOption(1, 1_000_000),
    )
    .option(
      '--workers <n>',
      'local spot worker instances to keep running (0: workers started elsewhere with `synkti batch worker`)',
      wholeNumberOption(0, 256),
      2,
    )
    .option('--backend <name>', `queue backend: ${BATCH_BACKENDS.join(', ')} (postgres reads SYNKTI_POSTGRES_URL)`, backendOption)
    .option('--resume <run>', 'continue a run from its last checkpoint (other settings come from the run)', runOption)
    .option('--run <id>', 'id of a new run (default: cmaes-<time>-<random>)', runOption)
    .option('--lease <duration>', 'lease workers hold on a task, renewed while it runs', batchDuration, DEFAULT_WORKER_LEASE_MS)
    .option('--notice-poll <duration>', 'how often workers poll instance metadata for a spot notice', batchDuration, 5000)
    .option('--resend-after <duration>', 'send a candidate again when it has no result this long after its send', batchDuration, 300_000)
    .option(
      '--unscorable <policy>',
      'a candidate whose task is dead-lettered: fail (stop; redrive and resume) or worst (score +Infinity)',
      unscorableOption,
      'fail',
    )
    .option(
      '--max-receives <n>',
      `deliveries before a task is dead-lettered (default ${DEFAULT_BATCH_MAX_RECEIVES})`,
      wholeNumberOption(1, 1000),
    )
    .option('--sqs-endpoint <url>', 'SQS endpoint (e.g. a local SQS server); default AWS', urlOption)
    .option('--region <region>', 'AWS region for SQS (default $AWS_REGION)')
    .option('--chaos-rate <rate>', 'local cloud: random spot interruptions per worker, e.g. 6/h or 1/min', chaosRateOption)
    .option('--chaos-notice <duration>', 'warning each chaos interruption gives', batchDuration, 120_000)
    .option('--keep-workers', 'leave the worker instances running afterwards', false)
    .option(
      '--metrics-cluster <cluster>',
      "publish the backlog to CloudWatch for autoscaling: Synkti/Batch BacklogPerWorker and Backlog with dimension Cluster=<cluster>, what SpotBatchFleet <project>-<environment> scales its workers from (with --workers 0 the workers are its ECS service's running tasks)",
      metricsClusterOption,
    )
    .option('--metrics-interval <duration>', 'how often the backlog is published', batchDuration, 60_000)
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'print the summary as JSON', false)
    .option(
      '--stack',
      'coordinate a SpotBatchFleet: its queues, bucket (checkpoints under runs/) and region from its coordinatorEnv variables; its ECS service runs the workers (--workers 0)',
      false,
    )
    .option(
      '--pool <name>',
      `${POOL_HELP}: fetched once here (a missing pool stops the run before any worker starts), then by every local worker from that cache; saved with the run, so a resume needs no --pool. A SpotBatchFleet's workers take theirs from its statePools`,
      collect,
    )
    .option('--bucket <name>', "the bucket of the state pools (default: $SYNKTI_BUCKET, SpotBatchFleet's bucketName)")
    .action(
      async (o: {
        objective?: string;
        dim?: number;
        generations?: number;
        population?: number | 'auto';
        seed?: number;
        sigma?: number;
        workers: number;
        popsize?: number | 'auto';
        sigma0?: number;
        x0?: number[];
        restarts?: RestartStrategy;
        maxEvals?: number;
        targetF?: number;
        noiseHandling?: NoiseHandling;
        maxSamples?: number;
        backend?: BatchBackend;
        resume?: string;
        run?: string;
        lease: number;
        noticePoll: number;
        resendAfter: number;
        unscorable: UnscorablePolicy;
        maxReceives?: number;
        sqsEndpoint?: string;
        region?: string;
        chaosRate?: number;
        chaosNotice: number;
        keepWorkers: boolean;
        stateDir?: string;
        json: boolean;
        metricsCluster?: string;
        metricsInterval: number;
        stack: boolean;
        pool?: string[];
        bucket?: string;
      }) => {
        if (o.resume === undefined && o.objective === undefined)
          throw new SynktiError('E_USAGE', '--objective is required for a new run', {
            hint: 'e.g. --objective rosenbrock (or --resume RUN to continue one)',
          });
        if (o.resume === undefined && o.dim === undefined)
          throw new SynktiError('E_USAGE', '--dim is required for a new run', {
            hint: 'the number of parameters of a candidate, e.g. --dim 10',
          });
        if (o.metricsInterval < 1000) {
          throw new SynktiError('E_USAGE', `--metrics-interval ${o.metricsInterval}ms is below 1 second`, {
            hint: 'CloudWatch aggregates per minute; 1 minute (the default) is enough for autoscaling',
          });
        }
        if (o.backend === 'sqs' && !o.region && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION) {
          throw new SynktiError('E_USAGE', '--backend sqs needs a region', { hint: 'pass --region or set AWS_REGION' });
        }
        const statePools = statePoolsFromFlags(o.pool ?? [], o.bucket);
        if (statePools !== undefined && o.workers === 0) {
          throw new SynktiError('E_USAGE', '--pool: --workers 0 launches no workers to fetch it', {
            hint: "give the pools to the workers you start (`synkti batch worker --pool NAME`; a SpotBatchFleet's from its statePools), or launch local ones with --workers N",
          });
        }
        const summary = await runBatchCmaesCommand({
          objective: o.objective,
          dim: o.dim,
          generations: o.generations,
          seed: o.seed,
          workers: o.workers,
          population: oneOf(o.population, o.popsize, '--population and --popsize'),
          sigma: oneOf(o.sigma, o.sigma0, '--sigma and --sigma0'),
          // One --x0 number stands for every coordinate.
          x0: o.x0 !== undefined && o.x0.length === 1 && o.dim !== undefined ? new Array<number>(o.dim).fill(o.x0[0]!) : o.x0,
          restarts: o.restarts,
          maxEvals: o.maxEvals,
          targetF: o.targetF,
          noiseHandling: o.noiseHandling,
          maxSamples: o.maxSamples,
          backend: o.backend,
          resume: o.resume,
          run: o.run,
          stateDir: resolveBatchStateDir(o.stateDir),
          leaseMs: o.lease,
          noticePollMs: o.noticePoll,
          resendAfterMs: o.resendAfter,
          unscorable: o.unscorable,
          maxReceives: o.maxReceives,
          sqsEndpoint: o.sqsEndpoint,
          region: o.region,
          chaos: o.chaosRate === undefined ? undefined : { ratePerHour: o.chaosRate, noticeMs: o.chaosNotice },
          keepWorkers: o.keepWorkers,
          metricsCluster: o.metricsCluster,
          metricsIntervalMs: o.metricsInterval,
          stack: o.stack ? stackTargetFromEnv(process.env) : undefined,
          statePools,
        });
        console.log(o.json ? JSON.stringify(summary) : renderBatchSummary(summary));
        if (summary.lost_tasks !== 0) process.exitCode = 1;
      },
    );

  batch
    .command('worker')
    .description(
      "evaluate a run's tasks until stopped; on a spot notice hand the leases back at once and exit. On a local batch fleet's node with no flags, reads its config from SYNKTI_BATCH_WORKER_CONFIG; elsewhere with no flags, from the variables its stack (SpotBatchFleet) injects",
    )
    .option('--run <id>', 'the run whose tasks to evaluate', runOption)
    .option('--objective <module|builtin>', "the objective (must be the run's)", objectiveOption)
    .option('--backend <name>', `queue backend: ${BATCH_BACKENDS.join(', ')}`, backendOption, 'local')
    .option('--concurrency <n>', 'tasks evaluated at once', wholeNumberOption(1, 1000), 1)
    .option('--lease <duration>', 'lease on each task, renewed while it runs', batchDuration, DEFAULT_WORKER_LEASE_MS)
    .option(
      '--notice-poll <duration>',
      'how often to poll instance metadata for a spot notice (when SYNKTI_IMDS_ENDPOINT is set)',
      batchDuration,
      5000,
    )
    .option(
      '--max-receives <n>',
      `deliveries before a task is dead-lettered (default ${DEFAULT_BATCH_MAX_RECEIVES})`,
      wholeNumberOption(1, 1000),
    )
    .option('--sqs-endpoint <url>', 'SQS endpoint', urlOption)
    .option('--region <region>', 'AWS region for SQS')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--pool <name>', `${POOL_HELP}. With no flags: SYNKTI_STATE_POOLS=a,b (SpotBatchFleet's statePools)`, collect)
    .option('--bucket <name>', "the bucket of the state pools (default: $SYNKTI_BUCKET, SpotBatchFleet's bucketName)")
    .action(
      async (o: {
        run?: string;
        objective?: string;
        backend: BatchBackend;
        concurrency: number;
        lease: number;
        noticePoll: number;
        maxReceives?: number;
        sqsEndpoint?: string;
        region?: string;
        stateDir?: string;
        pool?: string[];
        bucket?: string;
      }) => {
        let config: BatchWorkerConfig;
        if (o.run === undefined && o.objective === undefined && process.env[BATCH_WORKER_CONFIG_ENV] !== undefined) {
          // No flags on a local batch fleet's node: its agent passes the config.
          config = parseWorkerConfig(process.env[BATCH_WORKER_CONFIG_ENV]);
        } else if (o.run === undefined && o.objective === undefined) {
          // No flags outside an instance: a stack's task (SpotBatchFleet's ECS service); everything comes from its environment.
          config = workerConfigFromStack(process.env);
        } else {
          if (o.run === undefined)
            throw new SynktiError('E_USAGE', '--run is required', { hint: 'the run id `synkti batch cmaes` printed' });
          if (o.objective === undefined)
            throw new SynktiError('E_USAGE', '--objective is required', { hint: "the same objective as the run's" });
          const statePools = statePoolsFromFlags(o.pool ?? [], o.bucket);
          config = {
            kind: 'synkti.batch.worker',
            run: o.run,
            objective: o.objective,
            backend: o.backend,
            stateDir: resolveBatchStateDir(o.stateDir),
            concurrency: o.concurrency,
            leaseMs: o.lease,
            noticePollMs: o.noticePoll,
            maxReceives: o.maxReceives,
            sqsEndpoint: o.sqsEndpoint,
            region: o.region,
            ...(statePools !== undefined ? { statePools } : {}),
          };
        }
        // Pools are read with the agent's model fetcher (state-pool-wiring.ts), loaded only when the config names one.
        const fetchStatePool: StatePoolFetcher = async (options) =>
          (await import('../batch/state-pool-wiring.ts')).fetchStatePoolFromS3(options);
        process.exitCode = await runBatchWorker(config, { fetchStatePool });
      },
    );

  batch
    .command('status')
    .description('show a run (generation, best f, counters, queue, workers), or list every run')
    .argument('[run]', 'run id')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'print JSON', false)
    .action(async (run: string | undefined, o: { stateDir?: string; json: boolean }) => {
      const stateDir = resolveBatchStateDir(o.stateDir);
      if (run === undefined) {
        const runs = await listBatchRuns(stateDir);
        console.log(o.json ? JSON.stringify(runs) : renderRunList(runs));
        return;
      }
      const status = await batchStatus(stateDir, run);
      console.log(o.json ? JSON.stringify(status) : renderRunStatus(status));
    });

  batch
    .command('cancel')
    .description('cancel a run: its coordinator stops at its next check, its workers are terminated; the checkpoint is kept')
    .argument('<run>', 'run id')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'print JSON', false)
    .action(async (run: string, o: { stateDir?: string; json: boolean }) => {
      const result = await batchCancel(resolveBatchStateDir(o.stateDir), run);
      console.log(o.json ? JSON.stringify(result) : `run ${run} cancelled (${result.workersTerminated} worker(s) terminated)`);
    });

  batch
    .command('preempt')
    .description(
      'interrupt a local batch worker as AWS would: an IMDSv2 spot notice now, SIGKILL when it expires (`batch status RUN` lists workers)',
    )
    .argument('<instance>', 'worker instance id (a unique prefix is enough)')
    .option('--in <duration>', 'warning before the worker is reclaimed (AWS gives 2 minutes)', batchDuration, 120_000)
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .action(async (id: string, o: { in: number; stateDir?: string }) => {
      const notice = await batchPreempt(resolveBatchStateDir(o.stateDir), id, o.in);
      console.log(`${notice.id}: spot interruption notice raised; reclaimed at ${new Date(notice.time).toISOString()}`);
    });

  const pool = batch
    .command('pool')
    .description(
      "state pools: named read-only inputs in the batch bucket (state-pools/<name>/), read by every worker with each file's SHA-256 checked",
    );
  pool
    .command('upload')
    .description(
      'upload a directory as a state pool: each file with its SHA-256, the manifest last; files already there are not sent again',
    )
    .argument('<name>', 'pool name (lower-case letters, digits, ".", "_", "-")')
    .argument('<dir>', "local directory holding the pool's files")
    .option('--bucket <name>', "the batch bucket (default: $SYNKTI_BUCKET, SpotBatchFleet's bucketName)")
    .option('--region <region>', 'AWS region (default: $AWS_REGION)')
    .option('--json', 'print JSON', false)
    .action(async (name: string, dir: string, o: { bucket?: string; region?: string; json: boolean }) => {
      const { uploadStatePoolToS3 } = await import('../batch/state-pool-wiring.ts');
      const target = statePoolTarget(o, process.env);
      const { createS3ObjectStore } = await import('@synkti/cloud');
      const store = createS3ObjectStore({
        region: target.region,
        ...(target.endpoint ? { endpoint: target.endpoint, forcePathStyle: true } : {}),
      });
      try {
        const report = await uploadStatePoolToS3({ store, bucket: target.bucket, name, dir, root: target.root });
        console.log(
          o.json
            ? JSON.stringify(report)
            : `state pool ${name}: s3://${report.bucket}/${report.prefix} (${report.files.length} files, ${report.uploadedFiles} uploaded, ${report.presentFiles} already there; manifest ${report.manifest})`,
        );
      } finally {
        store.client.destroy();
      }
    });
  pool
    .command('fetch')
    .description('read a state pool as a worker does: into a local cache, every file checked against the manifest; again from the cache')
    .argument('<name>', 'pool name')
    .option('--cache-dir <dir>', 'where pools are cached (the pool goes to <dir>/<name>)', '.synkti/state-pools')
    .option('--bucket <name>', 'the batch bucket (default: $SYNKTI_BUCKET)')
    .option('--region <region>', 'AWS region (default: $AWS_REGION)')
    .option('--json', 'print JSON', false)
    .action(async (name: string, o: { cacheDir: string; bucket?: string; region?: string; json: boolean }) => {
      const { fetchStatePoolFromS3 } = await import('../batch/state-pool-wiring.ts');
      const target = statePoolTarget(o, process.env);
      const pool = await fetchStatePoolFromS3({
        bucket: target.bucket,
        name,
        cacheDir: o.cacheDir,
        root: target.root,
        region: target.region,
      });
      console.log(
        o.json
          ? JSON.stringify(pool)
          : `state pool ${name}: ${pool.path} (${pool.files} files, ${pool.bytes} bytes${pool.reused ? ', from the cache' : `, ${pool.bytesFetched} bytes fetched`})`,
      );
    });

  const dlq = batch.command('dlq').description("a run's dead-lettered tasks");
  dlq
    .command('list')
    .description("list the run's dead-lettered tasks with their last error")
    .argument('<run>', 'run id')
    .option('--limit <n>', 'most to list', wholeNumberOption(1, 10_000), 100)
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'print JSON', false)
    .action(async (run: string, o: { limit: number; stateDir?: string; json: boolean }) => {
      const rows = await batchRunDeadLetters(resolveBatchStateDir(o.stateDir), run, o.limit);
      console.log(o.json ? JSON.stringify(rows) : renderDeadLetters(rows));
    });
  dlq
    .command('redrive')
    .description('send dead-lettered tasks back to the queue with a fresh delivery count (then resume the run)')
    .argument('<run>', 'run id')
    .option('--id <id...>', 'only these dead letters (default: all)')
    .option('--state-dir <dir>', STATE_DIR_HELP)
    .option('--json', 'print JSON', false)
    .action(async (run: string, o: { id?: string[]; stateDir?: string; json: boolean }) => {
      const moved = await redriveBatchRun(resolveBatchStateDir(o.stateDir), run, o.id);
      console.log(o.json ? JSON.stringify({ run, redriven: moved }) : `${moved} task(s) back in run ${run}'s queue`);
    });
}
