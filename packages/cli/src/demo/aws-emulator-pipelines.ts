/**
 * `synkti demo --on aws-emulator --shape pipelines`: the pipelines shape on the emulated
 * AWS, deployed as PipelineCluster declares it and checked against its IAM roles:
 *   1. moto on loopback; PipelineCluster run under Pulumi mocks gives its roles, task
 *      definitions (command, environment, secrets, task role), ECS services and bucket;
 *      the roles go into moto behind the IAM-checking proxy;
 *   2. a real PostgreSQL stands in for RDS (its `synkti` database, the master password
 *      injected as the PGPASSWORD secret, as RDS's managed secret would be);
 *   3. what the stack creates: the data bucket, the ECS cluster, the API's and each agent
 *      pool's task definition exactly as synthesized and a service per pool; the ECS task
 *      emulator runs them (the API with `synkti api ...` as declared, agents with
 *      `synkti agent` and no flags), every AWS call with the task role, through the proxy;
 *   4. 6 hash jobs (split → 8 hash → merge → verify: 11 tasks each) are submitted through
 *      the API with the stack's API key; meanwhile one gpu agent is kill -9'd (its tasks
 *      come back after the stage timeout) and the other gets a spot interruption (SIGTERM:
 *      it hands its tasks back); the gpu service replaces both;
 *   5. every job's result is checked against a recomputation, every chunk object in S3 is
 *      checked byte for byte against the job's input, every task must be done, and the
 *      services are scaled to 0 (nothing may be left running).
 *
 * One difference from AWS, named: RDS Proxy requires TLS and the stand-in server has no
 * certificate, so PGHOST/PGPORT/SYNKTI_PIPELINE_DB point at it without `sslmode=require`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynktiError, freeLoopbackPort } from '@synkti/core';
import type { EmulatedTask } from '@synkti/aws-emulator';
import type { SynthesizedContainer } from '@synkti/infra/testing';

const CLI_BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));
/** The pipeline module the tasks run: the repository's hash example (the "image" is this checkout). */
const HASH_PIPELINE = fileURLToPath(new URL('../../../../examples/pipeline-hash.ts', import.meta.url));
const TASKS_PER_JOB_BESIDES_CHUNKS = 3; // split, merge, verify
const CHUNK_BYTES = 4096;

export interface AwsEmulatorPipelinesOptions {
  /** @default 6 */
  jobs?: number | undefined;
  /** Hash tasks per job (the job has this + 3 tasks). @default 8 */
  chunks?: number | undefined;
  /** Simulated work per hash task, so the chaos lands on busy agents. @default 150 */
  workMs?: number | undefined;
  /** Keep the emulator's directory. @default false */
  keepState?: boolean | undefined;
  /** Progress lines (not with --json). @default ignore */
  onProgress?: ((line: string) => void) | undefined;
}

export interface AwsEmulatorPipelinesSummary {
  provider: 'aws-emulator';
  shape: 'pipelines';
  cluster: string;
  jobs: number;
  /** Tasks the jobs had (jobs × 11). */
  tasks: number;
  /** Jobs done with a result equal to the recomputation. */
  verified: number;
  /** Jobs not done or not verified. */
  failed: number;
  /** Tasks of the jobs not done at the end. */
  lost_tasks: number;
  /** Claims the requeuer took back from a dead agent, and results discarded as duplicates. */
  requeued: number;
  duplicates: number;
  preemptions: number;
  crashes: number;
  /** Tasks the ECS services started to replace stopped ones. */
  replacements: number;
  /** Agent tasks running at the start and before scale-in. */
  fleetSizeStart: number;
  fleetSizeEnd: number;
  /** Chunk objects in the stack's bucket, each equal to its slice of the job's input. */
  objects: { bucket: string; chunks: number; verified: boolean };
  awsCalls: number;
  iamDenied: number;
  denials: Array<{ action: string; principal: string; resource?: string | undefined }>;
  /** ECS tasks (processes) left after every service was scaled to 0. */
  instancesLeft: number;
  seconds: number;
  stateDir?: string | undefined;
}

interface HashModule {
  expectedHashResult(input: { size: number; seed: string; chunkBytes: number }): { root: string; sha256: string; chunks: number };
  hashPipelineInput(seed: string, size: number): Buffer;
}

/** Rewrites the stack's database settings to the stand-in server (RDS Proxy's endpoint does not exist here). */
function pointAtStandIn(container: SynthesizedContainer, port: number): SynthesizedContainer {
  const replace: Record<string, string> = {
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGSSLMODE: 'disable',
    SYNKTI_PIPELINE_DB: `postgres://synkti@127.0.0.1:${port}/synkti`,
  };
  return {
    ...container,
    environment: (container.environment ?? []).map((e) => (e.name in replace ? { name: e.name, value: replace[e.name]! } : e)),
  };
}

async function waitFor(what: string, bound: number, check: () => Promise<boolean> | boolean, hint?: () => string): Promise<void> {
  const deadline = Date.now() + bound;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new SynktiError('E_DEMO', `${what} within ${Math.round(bound / 1000)} s did not happen`, {
        hint: hint?.().slice(-3000) ?? 'run with --keep-state and read the task logs',
      });
    await sleep(100);
  }
}

/** Runs the demo; throws E_TOOL_MISSING without moto_server or PostgreSQL. */
export async function runAwsEmulatorPipelinesDemo(options: AwsEmulatorPipelinesOptions = {}): Promise<AwsEmulatorPipelinesSummary> {
  const started = Date.now();
  const jobCount = options.jobs ?? 6;
  const chunks = options.chunks ?? 8;
  const workMs = options.workMs ?? 150;
  const progress = options.onProgress ?? (() => {});
  // Heavy modules on use only.
  const emulator = await import('@synkti/aws-emulator');
  const { synthesizePipelineCluster } = await import('@synkti/infra/testing');
  const { S3Client, CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const { ECSClient, CreateClusterCommand, RegisterTaskDefinitionCommand, CreateServiceCommand, UpdateServiceCommand } =
    await import('@aws-sdk/client-ecs');
  const { openTaskDatabase } = await import('@synkti/tasks');
  const hash = (await import(pathToFileURL(HASH_PIPELINE).href)) as HashModule;

  const stateDir = mkdtempSync(join(tmpdir(), 'synkti-pipelines-demo-'));
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  try {
    // moto and PostgreSQL start (child processes) while the stack is synthesized in this process.
    const motoStarting = emulator.startMotoServer({ env: { ...emulator.MOTO_IAM_ENV }, logFile: join(stateDir, 'moto.log') });
    const postgresStarting = emulator.startPostgresServer({ databases: ['synkti'] });
    // Whatever fails first, both are stopped once started.
    cleanups.push(
      () => motoStarting.then((m) => m.stop()),
      () => postgresStarting.then((p) => p.stop()),
    );

    // The stack as PipelineCluster builds it (stack 'dev': cluster synkti-dev), with the API key in Secrets Manager.
    const apiKey = randomBytes(24).toString('base64url');
    const synthesizing = synthesizePipelineCluster(
      {
        projectName: 'synkti',
        // The tasks' image is this checkout (the demo runs them as local processes): without
        // one, PipelineCluster warns a deploy that its tasks cannot start.
        image: 'synkti-demo:this-checkout',
        pipelineModules: [HASH_PIPELINE],
        secrets: { SYNKTI_API_KEYS: `${apiKey}:demo` },
        // The stages' heartbeat timeout (a kill -9'd agent's tasks come back after it) and work per chunk.
        environmentVariables: { HASH_PIPELINE_TIMEOUT: '3s', HASH_PIPELINE_WORK_MS: String(workMs) },
        pools: [
          // Five processes besides the API: the CI machine is small. The chaos hits the gpu pool (8 of each job's 11 tasks).
          { name: 'exec', instanceTypes: ['c7a.xlarge'], taskCpu: 1024, taskMemory: 2048, desiredTasks: 1 },
          { name: 'gpu', instanceTypes: ['g6e.xlarge'], gpusPerTask: 1, taskCpu: 1024, taskMemory: 4096, desiredTasks: 2, spot: true },
          { name: 'snark', instanceTypes: ['c7a.xlarge'], taskCpu: 1024, taskMemory: 2048, desiredTasks: 1 },
        ],
      },
      { stack: 'dev' },
    );
    const [moto, postgres, stack] = await Promise.all([motoStarting, postgresStarting, synthesizing]);
    progress(`moto on ${moto.endpoint}, PostgreSQL (standing in for RDS) on 127.0.0.1:${postgres.port}, PipelineCluster synthesized`);
    const cluster = stack.cluster;
    const truth = await emulator.startIamTruth({ moto, roles: stack.roles });
    cleanups.push(() => truth.stop());

    // What the stack creates (as the administrator, like `pulumi up`).
    const admin = moto.clientConfig();
    const s3 = new S3Client(admin);
    const ecs = new ECSClient(admin);
    cleanups.push(() => {
      s3.destroy();
      ecs.destroy();
    });
    await s3.send(new CreateBucketCommand({ Bucket: stack.bucket }));
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    const apiService = stack.services.find((s) => s.taskDefinitionFamily === `${cluster}-api`);
    if (!apiService)
      throw new SynktiError('E_DEMO', `the synthesized PipelineCluster has no ${cluster}-api service`, {
        hint: `services: ${stack.services.map((s) => s.name).join(', ')}`,
      });
    const agentServices = stack.services.filter((s) => s !== apiService);
    for (const def of stack.taskDefinitions) {
      const registered = await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: def.family,
          taskRoleArn: def.taskRoleArn,
          executionRoleArn: def.executionRoleArn,
          requiresCompatibilities: def.requiresCompatibilities as never,
          networkMode: def.networkMode as never,
          cpu: def.cpu,
          memory: def.memory,
          containerDefinitions: def.containerDefinitions.map((c) => pointAtStandIn(c, postgres.port)) as never,
        }),
      );
      for (const service of stack.services.filter((s) => s.taskDefinitionFamily === def.family)) {
        await ecs.send(
          new CreateServiceCommand({
            cluster,
            serviceName: service.name,
            taskDefinition: registered.taskDefinition!.taskDefinitionArn!,
            desiredCount: service.desiredCount,
            launchType: def.requiresCompatibilities.includes('FARGATE') ? 'FARGATE' : 'EC2',
          }),
        );
      }
    }

    // The API task's awsvpc address is this machine's loopback; its declared port may be taken, so it gets a free one.
    const apiPort = await freeLoopbackPort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const baseEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? stateDir,
      AWS_ENDPOINT_URL: truth.endpoint,
      AWS_REGION: moto.region,
      AWS_EC2_METADATA_DISABLED: 'true',
      SYNKTI_IMDS_ENDPOINT: '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
    };
    const tasks = new emulator.EcsTaskEmulator({
      ecs,
      cluster,
      cwd: stateDir,
      baseEnv,
      maxStopTimeoutMs: 10_000,
      credentialsFor: async (arn) => {
        const role = truth.roles.find((r) => r.arn === arn);
        if (!role) throw new SynktiError('E_DEMO', `no role ${arn}`);
        return truth.credentialsForRole(role.name);
      },
      // What ECS's agent does with the execution role: the stack's own secrets, and RDS's managed password (the stand-in's).
      secretFor: async (valueFrom, secret) => {
        const value = stack.secretValues[valueFrom] ?? (secret.name === 'PGPASSWORD' ? postgres.password : undefined);
        if (value === undefined) throw new SynktiError('E_DEMO', `secret ${secret.name} (${valueFrom}) is not one the stack stores`);
        return value;
      },
      // The container command is the arguments of the image's `synkti` entry point.
      resolveCommand: (command) => [
        process.execPath,
        CLI_BIN,
        ...command.map((arg, i) => {
          if (command[i - 1] === '--host') return '127.0.0.1';
          if (command[i - 1] === '--port') return String(apiPort);
          return arg;
        }),
      ],
      onEvent: (e) => {
        if (e.type !== 'error') progress(`ecs: ${e.type} ${e.service} ${e.taskId.slice(0, 8)} ${'reason' in e ? e.reason : ''}`);
        else progress(`ecs: ${e.message}`);
      },
    });
    await tasks.start();
    cleanups.push(() => tasks.stop());

    const agentTasks = (): EmulatedTask[] => agentServices.flatMap((s) => tasks.running(s.name));
    const logs = (): string =>
      tasks
        .running()
        .map((t) => `--- ${t.service} ${t.id.slice(0, 8)}\n${t.log().slice(-1500)}`)
        .join('\n');
    const apiReady = async (): Promise<boolean> => {
      try {
        const res = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    };
    const agentsWanted = agentServices.reduce((n, s) => n + s.desiredCount, 0);
    const readyAgents = (): number => agentTasks().filter((t) => t.log().includes('"event":"ready"')).length;
    await waitFor(
      'the API task answering /health and every agent task ready',
      120_000,
      async () => readyAgents() >= agentsWanted && (await apiReady()),
      logs,
    );
    const fleetSizeStart = agentTasks().length;
    const startedBefore = tasks.startedCount();
    progress(`API on ${apiUrl}, ${fleetSizeStart} agents ready`);

    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const inputs = Array.from({ length: jobCount }, (_, i) => ({
      size: chunks * CHUNK_BYTES,
      seed: `aws-emulator-${i}`,
      chunkBytes: CHUNK_BYTES,
    }));
    const ids: string[] = [];
    for (const input of inputs) {
      const res = await api('POST', '/v1/jobs', { pipeline: 'hash', input });
      const id = (res.json.job as { id?: string } | undefined)?.id;
      if (res.status !== 201 || !id)
        throw new SynktiError('E_DEMO', `the API refused job ${ids.length + 1}: ${res.status} ${JSON.stringify(res.json).slice(0, 500)}`);
      ids.push(id);
    }
    progress(`submitted ${jobCount} jobs × ${chunks + TASKS_PER_JOB_BESIDES_CHUNKS} tasks`);

    // The operator's view of the task database (the API's counters are per process).
    const db = await openTaskDatabase(`postgres://synkti:${encodeURIComponent(postgres.password)}@127.0.0.1:${postgres.port}/synkti`);
    cleanups.push(() => db.close());
    const completions = async (): Promise<number> => (await db.counters()).completions;
    const total = jobCount * (chunks + TASKS_PER_JOB_BESIDES_CHUNKS);
    // The chaos lands while work is in flight: a crash after a quarter of the tasks, a spot interruption after half.
    await waitFor(`${Math.ceil(total / 4)} tasks done`, 120_000, async () => (await completions()) >= Math.ceil(total / 4), logs);
    // The chaos hits agents holding a task (an idle agent's death would prove nothing): owners of running tasks, by the agent id each printed.
    const gpuService = agentServices.find((s) => s.name.endsWith('-gpu'))?.name;
    const busyGpuAgent = async (): Promise<EmulatedTask | undefined> => {
      const owners = new Set<string>();
      for (const id of ids) for (const task of await db.getTasks(id)) if (task.state === 'running' && task.owner) owners.add(task.owner);
      return tasks.running(gpuService).find((t) => owners.has(/"event":"ready","agentId":"([^"]+)"/.exec(t.log())?.[1] ?? ''));
    };
    let crashed: EmulatedTask | undefined;
    await waitFor('a gpu agent holding a task', 60_000, async () => (crashed = await busyGpuAgent()) !== undefined, logs);
    if (!crashed) throw new SynktiError('E_DEMO', 'no gpu agent task to kill');
    progress(`kill -9 of gpu agent task ${crashed.id.slice(0, 8)}`);
    tasks.killTask(crashed.id);
    await waitFor(`${Math.ceil(total / 2)} tasks done`, 120_000, async () => (await completions()) >= Math.ceil(total / 2), logs);
    let preempted: EmulatedTask | undefined;
    await waitFor('a gpu agent holding a task', 60_000, async () => (preempted = await busyGpuAgent()) !== undefined, logs);
    if (!preempted) throw new SynktiError('E_DEMO', 'no gpu agent task to preempt');
    progress(`spot interruption of gpu agent task ${preempted.id.slice(0, 8)} (SIGTERM, as ECS spot draining)`);
    await tasks.preemptTask(preempted.id);

    // Every job to its end, read through the API as its owner would.
    const jobs: Array<{ state: string; result?: unknown; stages?: Record<string, Record<string, number>> }> = [];
    for (const id of ids) {
      let job: { state: string; result?: unknown; stages?: Record<string, Record<string, number>> } | undefined;
      await waitFor(
        `job ${id} finishing`,
        150_000,
        async () => {
          job = (await api('GET', `/v1/jobs/${id}`)).json.job as typeof job;
          return job !== undefined && job.state !== 'running';
        },
        logs,
      );
      jobs.push(job!);
    }
    let verified = 0;
    let doneTasks = 0;
    for (const [i, job] of jobs.entries()) {
      const expected = hash.expectedHashResult(inputs[i]!);
      const result = job.result as { root?: string; sha256?: string; chunks?: number; verified?: boolean } | undefined;
      if (
        job.state === 'done' &&
        result?.root === expected.root &&
        result.sha256 === expected.sha256 &&
        result.chunks === expected.chunks &&
        result.verified === true
      )
        verified += 1;
      for (const byState of Object.values(job.stages ?? {})) doneTasks += byState.done ?? 0;
    }
    // The split stage's outputs (the hash stage's inputs) are objects in the stack's bucket: each equal to its slice of the input.
    let objects = 0;
    let objectsGood = true;
    for (const [i, id] of ids.entries()) {
      const data = hash.hashPipelineInput(inputs[i]!.seed, inputs[i]!.size);
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, Prefix: `pipeline-data/${id}/` }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
      if (keys.length !== chunks) objectsGood = false;
      for (const key of keys) {
        const index = Number(/chunk-(\d+)$/.exec(key)?.[1] ?? -1);
        const body = Buffer.from(
          await (await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }))).Body!.transformToByteArray(),
        );
        if (index < 0 || !body.equals(data.subarray(index * CHUNK_BYTES, (index + 1) * CHUNK_BYTES))) objectsGood = false;
        objects += 1;
      }
    }
    const counters = await db.counters();
    const fleetSizeEnd = agentTasks().length;
    const replacements = tasks.startedCount() - startedBefore;

    // `synkti down` for ECS: every service to 0; nothing of the fleet may be left running.
    for (const service of stack.services) await ecs.send(new UpdateServiceCommand({ cluster, service: service.name, desiredCount: 0 }));
    await waitFor('every ECS task stopping after the services went to 0', 60_000, () => tasks.running().length === 0, logs);
    const instancesLeft = tasks.running().length;
    const report = truth.report();
    return {
      provider: 'aws-emulator',
      shape: 'pipelines',
      cluster,
      jobs: jobCount,
      tasks: total,
      verified,
      failed: jobCount - verified,
      lost_tasks: total - doneTasks,
      requeued: counters.requeues,
      duplicates: counters.duplicates,
      preemptions: 1,
      crashes: 1,
      replacements,
      fleetSizeStart,
      fleetSizeEnd,
      objects: { bucket: stack.bucket, chunks: objects, verified: objectsGood && objects === jobCount * chunks },
      awsCalls: report.awsCalls,
      iamDenied: report.iamDenied,
      denials: report.denials.map((d) => ({ action: d.action, principal: d.principal, resource: d.resource })),
      instancesLeft,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ...(options.keepState ? { stateDir } : {}),
    };
  } finally {
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    if (!options.keepState) rmSync(stateDir, { recursive: true, force: true });
  }
}

export function renderAwsEmulatorPipelinesSummary(s: AwsEmulatorPipelinesSummary): string {
  return [
    `pipelines on the emulated AWS (PipelineCluster ${s.cluster}): ${s.jobs} hash jobs, ${s.tasks} tasks`,
    `  results        ${s.verified}/${s.jobs} jobs verified against a recomputation, ${s.lost_tasks} tasks lost`,
    `  chaos          ${s.crashes} agent kill -9, ${s.preemptions} spot interruption; ${s.replacements} tasks started by the services; ${s.requeued} claims requeued, ${s.duplicates} duplicate results discarded`,
    `  agents         ${s.fleetSizeStart} at the start, ${s.fleetSizeEnd} at the end, ${s.instancesLeft} left after scale-in`,
    `  S3             ${s.objects.chunks} chunk objects in ${s.objects.bucket}, ${s.objects.verified ? 'each equal to its input slice' : 'NOT all equal to the input!'}`,
    `  AWS calls      ${s.awsCalls}, ${s.iamDenied} denied by IAM${s.denials.length ? `: ${s.denials.map((d) => `${d.action} (${d.principal})`).join(', ')}` : ''}`,
    `  time           ${s.seconds} s`,
  ].join('\n');
}
