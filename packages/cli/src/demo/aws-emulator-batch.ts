/**
 * `synkti demo --on aws-emulator --shape batch`: the batch shape on the emulated AWS, set
 * up as SpotBatchFleet sets it up and checked against its IAM roles:
 *   1. moto on loopback; the fleet's roles exactly as SpotBatchFleet builds them
 *      (synthesized under Pulumi mocks) behind the IAM-checking proxy;
 *   2. what the stack creates: the tasks and results queues with their dead-letter queues,
 *      the batch bucket, an ECS cluster, the worker task definition (command
 *      `synkti batch worker`, no flags: the BATCH_WORKER_ENV variables) and its service of 4;
 *   3. the ECS task emulator runs the service: 4 worker processes with the task role;
 *   4. `synkti batch cmaes --stack` coordinates (coordinator role): distributed CMA-ES on
 *      rosenbrock 10-D with checkpoints in the bucket; two worker tasks are preempted
 *      (SIGTERM, as Fargate Spot does; the service replaces them) and the coordinator is
 *      kill -9'd, then resumed with --resume from the checkpoint in S3;
 *   5. the result is compared with an undisturbed run of the same seed, the checkpoints are
 *      listed under the declared prefix, and the IAM proxy reports every call and denial.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynktiError } from '@synkti/core';
import { BATCH_PREFIXES, batchCheckpointKeys, batchQueueNames } from '@synkti/core/contracts';

export const CLI_BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));

export interface AwsEmulatorBatchOptions {
  /** @default 10 */
  dimension?: number | undefined;
  /** @default 8 */
  population?: number | undefined;
  /** @default 8 (enough for two preemptions and a kill between checkpoints; exactness does not depend on it) */
  generations?: number | undefined;
  /** @default 20261207 */
  seed?: number | undefined;
  /** Worker tasks of the ECS service. @default 4 */
  workers?: number | undefined;
  /** Keep the emulator's directory. @default false */
  keepState?: boolean | undefined;
  /** Progress lines (not with --json). @default ignore */
  onProgress?: ((line: string) => void) | undefined;
}

export interface AwsEmulatorBatchSummary {
  provider: 'aws-emulator';
  shape: 'batch';
  run: string;
  objective: 'rosenbrock';
  dimension: number;
  generations: number;
  best_f: number;
  /** Same best f, mean and best x as the undisturbed run of the same seed. */
  exact: boolean;
  lost_tasks: number;
  preemptions: number;
  coordinatorKills: number;
  resumed: boolean;
  /** Worker tasks the service started (the first 4 and the replacements). */
  tasksStarted: number;
  checkpoints: { prefix: string; objects: number; pointer: string; pointerNamesOne: boolean };
  awsCalls: number;
  iamDenied: number;
  denials: Array<{ action: string; principal: string; resource?: string | undefined }>;
  seconds: number;
  stateDir?: string | undefined;
}

const CLUSTER = 'synkti-dev';

/** Runs the demo; throws E_TOOL_MISSING without moto_server. */
export async function runAwsEmulatorBatchDemo(options: AwsEmulatorBatchOptions = {}): Promise<AwsEmulatorBatchSummary> {
  const started = Date.now();
  const dimension = options.dimension ?? 10;
  const population = options.population ?? 8;
  const generations = options.generations ?? 8;
  const seed = options.seed ?? 20261207;
  const workerCount = options.workers ?? 4;
  const progress = options.onProgress ?? (() => {});
  // Heavy modules on use only.
  const emulator = await import('@synkti/aws-emulator');
  const { synthesizeRoles } = await import('@synkti/infra/testing');
  const { SpotBatchFleet } = await import('@synkti/infra');
  const { SQSClient, GetQueueUrlCommand } = await import('@aws-sdk/client-sqs');
  const { S3Client, CreateBucketCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const { ECSClient, CreateClusterCommand, RegisterTaskDefinitionCommand, CreateServiceCommand } = await import('@aws-sdk/client-ecs');
  const { createS3ObjectStore } = await import('@synkti/cloud');
  const { CmaEs, builtinObjectives, openSqsQueue, readCheckpoint } = await import('@synkti/tasks');
  const { withCheckpointPointers } = await import('@synkti/tasks/batch');

  const stateDir = mkdtempSync(join(tmpdir(), 'synkti-batch-demo-'));
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const children: ChildProcess[] = [];
  try {
    const moto = await emulator.startMotoServer({ env: { ...emulator.MOTO_IAM_ENV }, logFile: join(stateDir, 'moto.log') });
    cleanups.push(() => moto.stop());
    progress(`moto on ${moto.endpoint}`);
    // The fleet's roles as SpotBatchFleet builds them (stack 'dev': cluster synkti-dev, account = moto's).
    // The workers' image is this checkout (the demo runs it as local processes), so the
    // stack is given one: without it, SpotBatchFleet warns a deploy that its tasks cannot start.
    const roles = await synthesizeRoles(
      (opts) => new SpotBatchFleet('batch', { projectName: 'synkti', image: 'synkti-demo:this-checkout' }, opts),
      { stack: 'dev' },
    );
    const truth = await emulator.startIamTruth({ moto, roles });
    cleanups.push(() => truth.stop());
    const taskRole = truth.roles.find((r) => r.name === `${CLUSTER}-task`);
    const coordinatorRole = truth.roles.find((r) => r.name === `${CLUSTER}-coordinator`);
    if (!taskRole || !coordinatorRole)
      throw new SynktiError(
        'E_DEMO',
        `the synthesized SpotBatchFleet has no ${CLUSTER}-task / ${CLUSTER}-coordinator role (got ${truth.roles.map((r) => r.name).join(', ')})`,
      );

    // What the stack creates (as the administrator, like `pulumi up`).
    const admin = moto.clientConfig();
    const sqs = new SQSClient(admin);
    const s3 = new S3Client(admin);
    const ecs = new ECSClient(admin);
    cleanups.push(() => {
      sqs.destroy();
      s3.destroy();
      ecs.destroy();
    });
    const names = batchQueueNames(CLUSTER);
    for (const [name, dlq] of [
      [names.tasks, names.tasksDeadLetter],
      [names.results, names.resultsDeadLetter],
    ] as const) {
      await (await openSqsQueue({ client: sqs, name, deadLetterQueueName: dlq, maxReceives: 10 })).close();
    }
    const url = async (name: string): Promise<string> => (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    const bucket = `${CLUSTER}-batch-${moto.accountId}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const stackEnv: Record<string, string> = {
      SYNKTI_CLUSTER: CLUSTER,
      SYNKTI_TASK_QUEUE_URL: await url(names.tasks),
      SYNKTI_RESULT_QUEUE_URL: await url(names.results),
      SYNKTI_DEAD_LETTER_QUEUE_URL: await url(names.tasksDeadLetter),
      SYNKTI_BUCKET: bucket,
      SYNKTI_RUNS_PREFIX: BATCH_PREFIXES.runs,
      SYNKTI_STATE_POOLS_PREFIX: BATCH_PREFIXES.statePools,
      SYNKTI_OBJECTIVE: 'rosenbrock',
      AWS_REGION: moto.region,
    };
    await ecs.send(new CreateClusterCommand({ clusterName: CLUSTER }));
    const def = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: `${CLUSTER}-worker`,
        taskRoleArn: taskRole.arn,
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '512',
        containerDefinitions: [
          {
            name: 'worker',
            image: 'node:20',
            essential: true,
            command: ['synkti', 'batch', 'worker'],
            stopTimeout: 120,
            environment: Object.entries(stackEnv).map(([name, value]) => ({ name, value })),
          },
        ],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: `${CLUSTER}-worker`,
        taskDefinition: def.taskDefinition!.taskDefinitionArn!,
        desiredCount: workerCount,
        launchType: 'FARGATE',
      }),
    );

    // Every AWS call of the tasks and the coordinator goes through the IAM proxy.
    const baseEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? stateDir,
      AWS_ENDPOINT_URL: truth.endpoint,
      AWS_REGION: moto.region,
      AWS_EC2_METADATA_DISABLED: 'true',
      SYNKTI_IMDS_ENDPOINT: '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
    };
    const ecsTasks = new emulator.EcsTaskEmulator({
      ecs,
      cluster: CLUSTER,
      cwd: stateDir,
      baseEnv,
      maxStopTimeoutMs: 10_000,
      credentialsFor: async (arn) => {
        const role = truth.roles.find((r) => r.arn === arn);
        if (!role) throw new SynktiError('E_DEMO', `no role ${arn}`);
        return truth.credentialsForRole(role.name);
      },
      resolveCommand: (command) => (command[0] === 'synkti' ? [process.execPath, CLI_BIN, ...command.slice(1)] : undefined),
      onEvent: (e) => {
        if (e.type !== 'error') progress(`ecs: ${e.type} ${e.taskId.slice(0, 8)} ${'reason' in e ? e.reason : ''}`);
      },
    });
    await ecsTasks.start();
    cleanups.push(() => ecsTasks.stop());

    const coordinatorCreds = await truth.credentialsForRole(coordinatorRole.name);
    const coordinatorEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      SYNKTI_CLUSTER: CLUSTER,
      SYNKTI_TASK_QUEUE_URL: stackEnv.SYNKTI_TASK_QUEUE_URL,
      SYNKTI_RESULT_QUEUE_URL: stackEnv.SYNKTI_RESULT_QUEUE_URL,
      SYNKTI_BUCKET: bucket,
      AWS_ACCESS_KEY_ID: coordinatorCreds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: coordinatorCreds.secretAccessKey,
      AWS_SESSION_TOKEN: coordinatorCreds.sessionToken,
    };
    const run = 'demo-batch';
    const flags = [
      'batch',
      'cmaes',
      '--stack',
      '--workers',
      '0',
      '--state-dir',
      join(stateDir, 'coordinator'),
      '--json',
      '--resend-after',
      '10s',
    ];
    const startCoordinator = (
      args: string[],
    ): { child: ChildProcess; exited: Promise<number | null>; stdout: () => string; stderr: () => string } => {
      const child = spawn(process.execPath, [CLI_BIN, ...flags, ...args], {
        cwd: stateDir,
        env: coordinatorEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        err = (err + d.toString()).slice(-8000);
      });
      return { child, exited: new Promise((resolve) => child.once('close', resolve)), stdout: () => out, stderr: () => err };
    };
    const checkpoints = withCheckpointPointers(createS3ObjectStore(admin));
    const keys = batchCheckpointKeys(run);
    const generation = async (): Promise<number> =>
      (await readCheckpoint(checkpoints, bucket, keys.pointer).catch(() => undefined))?.generation ?? -1;
    const waitGeneration = async (n: number, what: { stderr: () => string }): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while ((await generation()) < n) {
        if (Date.now() > deadline)
          throw new SynktiError('E_DEMO', `no checkpoint of generation ${n} within 120 s`, { hint: what.stderr().slice(-2000) });
        await sleep(100);
      }
    };

    const first = startCoordinator([
      '--objective',
      'rosenbrock',
      '--dim',
      String(dimension),
      '--population',
      String(population),
      '--generations',
      String(generations),
      '--seed',
      String(seed),
      '--run',
      run,
    ]);
    let preemptions = 0;
    const preemptOne = async (): Promise<void> => {
      const victim = ecsTasks.running(`${CLUSTER}-worker`)[0];
      if (!victim) throw new SynktiError('E_DEMO', 'no worker task to preempt');
      progress(`preempting worker task ${victim.id.slice(0, 8)} (SIGTERM, as Fargate Spot)`);
      await ecsTasks.preemptTask(victim.id);
      preemptions += 1;
    };
    await waitGeneration(2, first);
    await preemptOne();
    await waitGeneration(Math.min(4, generations - 3), first);
    progress('kill -9 of the coordinator');
    first.child.kill('SIGKILL');
    await first.exited;
    const resumed = startCoordinator(['--resume', run]);
    await waitGeneration(Math.min(6, generations - 2), resumed);
    await preemptOne();
    // The bound's timer is cancelled once the coordinator ends (a pending one would hold the process for minutes).
    const bound = new AbortController();
    const code = await Promise.race([
      resumed.exited,
      sleep(180_000, undefined, { signal: bound.signal }).then(
        () => 'timeout' as const,
        () => 'timeout' as const,
      ),
    ]);
    bound.abort();
    if (code !== 0)
      throw new SynktiError('E_DEMO', `the resumed coordinator ended with ${String(code)}`, { hint: resumed.stderr().slice(-3000) });
    const summary = JSON.parse(resumed.stdout().trim().split('\n').pop()!) as {
      best_f: number;
      mean: number[];
      best_x: number[];
      lost_tasks: number;
      resumed: boolean;
      generations: number;
    };

    const reference = CmaEs.create({ dimension, seed, populationSize: population });
    for (let g = 0; g < generations; g += 1) reference.tell(reference.ask().map((x: number[]) => builtinObjectives.rosenbrock(x)));
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    const exact =
      summary.best_f === reference.bestF && same(summary.mean, [...reference.mean]) && same(summary.best_x, [...reference.bestX]);

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keys.versionsPrefix }));
    const pointerBytes = await createS3ObjectStore(admin).get(bucket, keys.pointer);
    const pointerKey = pointerBytes ? (JSON.parse(Buffer.from(pointerBytes).toString('utf8')) as { key?: string }).key : undefined;
    const report = truth.report();
    return {
      provider: 'aws-emulator',
      shape: 'batch',
      run,
      objective: 'rosenbrock',
      dimension,
      generations: summary.generations,
      best_f: summary.best_f,
      exact,
      lost_tasks: summary.lost_tasks,
      preemptions,
      coordinatorKills: 1,
      resumed: summary.resumed,
      tasksStarted: ecsTasks.startedCount(),
      checkpoints: {
        prefix: keys.versionsPrefix,
        objects: listed.KeyCount ?? 0,
        pointer: keys.pointer,
        pointerNamesOne: !!pointerKey && (listed.Contents ?? []).some((o) => o.Key === pointerKey),
      },
      awsCalls: report.awsCalls,
      iamDenied: report.iamDenied,
      denials: report.denials.map((d) => ({ action: d.action, principal: d.principal, resource: d.resource })),
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ...(options.keepState ? { stateDir } : {}),
    };
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    if (!options.keepState) rmSync(stateDir, { recursive: true, force: true });
  }
}

export function renderAwsEmulatorBatchSummary(s: AwsEmulatorBatchSummary): string {
  return [
    `batch on the emulated AWS: CMA-ES ${s.objective} ${s.dimension}-D, ${s.generations} generations, run ${s.run}`,
    `  result         best f ${s.best_f.toExponential(3)}, ${s.exact ? 'exactly' : 'NOT'} the undisturbed run's`,
    `  chaos          ${s.preemptions} worker preemptions, ${s.coordinatorKills} coordinator kill -9 (resumed: ${s.resumed}), ${s.tasksStarted} worker tasks started`,
    `  lost tasks     ${s.lost_tasks}`,
    `  checkpoints    ${s.checkpoints.objects} under ${s.checkpoints.prefix}, pointer ${s.checkpoints.pointer}${s.checkpoints.pointerNamesOne ? '' : ' (names none!)'}`,
    `  AWS calls      ${s.awsCalls}, ${s.iamDenied} denied by IAM${s.denials.length ? `: ${s.denials.map((d) => `${d.action} (${d.principal})`).join(', ')}` : ''}`,
    `  time           ${s.seconds} s`,
  ].join('\n');
}
