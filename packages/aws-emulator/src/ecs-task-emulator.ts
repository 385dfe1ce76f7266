/**
 * The ECS half of the emulated AWS: moto models ECS clusters, task definitions and
 * services, but runs nothing. This emulator does what ECS's scheduler and agent do, for
 * one cluster: it keeps each service at its desiredCount of running tasks, each task a
 * local process running the task definition's container command with its environment and
 * its task role's credentials, and replaces a task that stops (that is how lost batch
 * workers and pipeline agents come back: the platform's service, no Synkti control plane).
 *
 * Credentials: each task gets its own loopback credentials endpoint, served the way ECS
 * serves them (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN; the
 * SDK accepts a full URI only when it is loopback or HTTPS), backed by `credentialsFor`
 * (e.g. RoleSessions.mint of the task role in moto, so the IAM proxy sees the task role).
 *
 * Secrets (`secrets` of the container, valueFrom ARNs) come from `secretFor`, as ECS's
 * agent resolves them with the execution role; they reach the process as environment only.
 *
 * Stopping a task (stopTask, or a Fargate Spot interruption with preemptTask) is SIGTERM,
 * then SIGKILL after the container's stopTimeout (120 s on Fargate Spot), capped by
 * `maxStopTimeoutMs` so a demo does not wait two minutes on a stuck process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ListServicesCommand, type ECSClient } from '@aws-sdk/client-ecs';
import { SynktiError } from '@synkti/core';

export interface TaskCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface EcsTaskEmulatorOptions {
  /** An ECS client of the emulated AWS (moto). */
  ecs: ECSClient;
  /** The ECS cluster whose services are run. */
  cluster: string;
  /** Credentials of a task role (by ARN), minted for one task. */
  credentialsFor: (taskRoleArn: string, taskId: string) => Promise<TaskCredentials>;
  /**
   * Turns a container command into a local argv (the image is not real: e.g. `synkti ...`
   * becomes `node <repo>/packages/cli/bin/synkti.mjs ...`). Return undefined to refuse it.
   */
  resolveCommand: (command: string[], container: { name: string; image: string }) => string[] | undefined;
  /**
   * The value of a container's `secrets` entry: ECS resolves each `valueFrom` (a Secrets
   * Manager or SSM ARN) with the task's execution role before the container starts. A task
   * whose container has secrets is refused without it. @default none
   */
  secretFor?: ((valueFrom: string, secret: { name: string; taskDefinitionArn: string }) => Promise<string>) | undefined;
  /** Environment every task gets first (PATH, the emulated AWS endpoint). @default {} */
  baseEnv?: Record<string, string> | undefined;
  /** Working directory of task processes. @default process.cwd() */
  cwd?: string | undefined;
  /**
   * How often services are reconciled with their desiredCount.
   * @default 500
   */
  reconcileEveryMs?: number | undefined;
  /**
   * Longest wait between SIGTERM and SIGKILL, whatever the container's stopTimeout says.
   * @default 10000 (Fargate Spot gives 120 s)
   */
  maxStopTimeoutMs?: number | undefined;
  /** Told about task starts and stops. @default ignore */
  onEvent?: ((event: EcsTaskEvent) => void) | undefined;
}

export type EcsTaskEvent =
  | { type: 'started'; taskId: string; service: string; pid: number }
  | { type: 'stopping'; taskId: string; service: string; reason: string }
  | { type: 'error'; message: string }
  | { type: 'stopped'; taskId: string; service: string; code: number | null; signal: NodeJS.Signals | null; reason: string };

export interface EmulatedTask {
  readonly id: string;
  readonly service: string;
  readonly pid: number;
  /** Last lines the task wrote (stdout and stderr). */
  log(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

interface RunningTask extends EmulatedTask {
  child: ChildProcess;
  credentials: Server;
  stopping: boolean;
  stopTimeoutMs: number;
}

const MAX_LOG_CHARS = 16_000;
/** Upper bound of tasks per service the emulator will run (a runaway desiredCount). */
const MAX_TASKS_PER_SERVICE = 32;

export class EcsTaskEmulator {
  private readonly options: EcsTaskEmulatorOptions;
  private readonly tasks = new Map<string, RunningTask>();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private stopped = false;
  private started = 0;

  constructor(options: EcsTaskEmulatorOptions) {
    this.options = options;
  }

  /** Reconciles now, then every reconcileEveryMs until stop(). */
  async start(): Promise<void> {
    await this.reconcile();
    this.schedule();
  }

  /** Running tasks of a service (or all). */
  running(service?: string): EmulatedTask[] {
    return [...this.tasks.values()].filter((t) => !t.stopping && (service === undefined || t.service === service));
  }

  /** Tasks started since start(), replacements included. */
  startedCount(): number {
    return this.started;
  }

  /** A Fargate Spot interruption of one task: SIGTERM now, SIGKILL after its stop timeout. The service replaces it. */
  async preemptTask(taskId: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.stopTask(taskId, 'Your Spot Task was interrupted.');
  }

  /** Stops a task like ECS StopTask. */
  async stopTask(taskId: string, reason = 'Task stopped by user'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const task = this.tasks.get(taskId);
    if (!task) throw new SynktiError('E_NOT_FOUND', `no running emulated ECS task ${taskId}`, { hint: 'list them with running()' });
    return this.terminate(task, reason);
  }

  /** SIGKILL a task's process (a crash). The service replaces it. */
  killTask(taskId: string): void {
    this.tasks.get(taskId)?.child.kill('SIGKILL');
  }

  /** Stops reconciling and stops every task (SIGTERM, then SIGKILL). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.reconciling;
    await Promise.all([...this.tasks.values()].map((t) => this.terminate(t, 'emulator stopped')));
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.reconciling = this.reconcile()
        .catch((error: unknown) =>
          this.options.onEvent?.({ type: 'error', message: `reconcile failed: ${(error as Error)?.message ?? String(error)}` }),
        )
        .finally(() => {
          this.reconciling = undefined;
          this.schedule();
        });
    }, this.options.reconcileEveryMs ?? 500);
    this.timer.unref();
  }

  private async reconcile(): Promise<void> {
    const { ecs, cluster } = this.options;
    const arns = (await ecs.send(new ListServicesCommand({ cluster }))).serviceArns ?? [];
    if (arns.length === 0) return;
    const services = (await ecs.send(new DescribeServicesCommand({ cluster, services: arns }))).services ?? [];
    for (const service of services) {
      if (this.stopped) return;
      const name = service.serviceName ?? '';
      const desired = Math.min(
        MAX_TASKS_PER_SERVICE,
        service.status === 'ACTIVE' || service.status === undefined ? (service.desiredCount ?? 0) : 0,
      );
      const live = this.running(name);
      if (live.length > desired) {
        // Scale in: ECS stops the newest first here (any choice is valid).
        await Promise.all(live.slice(desired).map((t) => this.terminate(t as RunningTask, 'Scaling activity initiated by (deployment)')));
        continue;
      }
      for (let i = live.length; i < desired; i++) {
        await this.launch(name, service.taskDefinition ?? '');
      }
    }
  }

  private async launch(service: string, taskDefinitionArn: string): Promise<void> {
    const out = await this.options.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: taskDefinitionArn }));
    const def = out.taskDefinition;
    const container = def?.containerDefinitions?.find((c) => c.essential !== false) ?? def?.containerDefinitions?.[0];
    if (!def || !container)
      throw new SynktiError('E_ECS_TASK', `task definition ${taskDefinitionArn} of service ${service} has no container`, {
        hint: 'register it with one essential container',
      });
    const argv = this.options.resolveCommand(container.command ?? [], { name: container.name ?? '', image: container.image ?? '' });
    if (!argv || argv.length === 0)
      throw new SynktiError(
        'E_ECS_TASK',
        `service ${service}: the emulator cannot run ${JSON.stringify(container.command ?? [])} of image ${container.image}`,
        { hint: 'extend resolveCommand' },
      );
    // Secrets first: ECS does not start a container whose secrets it cannot resolve.
    const secrets: Record<string, string> = {};
    for (const s of container.secrets ?? []) {
      if (!s.name || !s.valueFrom) continue;
      if (!this.options.secretFor)
        throw new SynktiError('E_ECS_TASK', `service ${service}: the container has secret ${s.name} and the emulator has no secretFor`, {
          hint: 'pass secretFor to EcsTaskEmulator',
        });
      secrets[s.name] = await this.options.secretFor(s.valueFrom, { name: s.name, taskDefinitionArn });
    }
    const taskId = randomBytes(16).toString('hex');
    const token = randomBytes(24).toString('base64url');
    const roleArn = def.taskRoleArn;
    // The task's own credentials endpoint, on loopback only; it answers only with the task's token.
    const credentials = createServer((req, res) => {
      if (req.headers.authorization !== token || req.url !== '/v2/credentials') {
        res.writeHead(req.headers.authorization !== token ? 401 : 404).end();
        return;
      }
      if (!roleArn) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'the task definition has no task role' }));
        return;
      }
      this.options.credentialsFor(roleArn, taskId).then(
        (c) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              AccessKeyId: c.accessKeyId,
              SecretAccessKey: c.secretAccessKey,
              Token: c.sessionToken,
              Expiration: c.expiration.toISOString(),
              RoleArn: roleArn,
            }),
          );
        },
        (error: unknown) => {
          res.writeHead(500).end(JSON.stringify({ message: (error as Error)?.message ?? String(error) }));
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      credentials.once('error', reject);
      credentials.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (credentials.address() as AddressInfo).port;
    const env: Record<string, string> = {
      ...this.options.baseEnv,
      ...Object.fromEntries((container.environment ?? []).filter((e) => e.name).map((e) => [e.name!, e.value ?? ''])),
      ...secrets,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/v2/credentials`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: token,
      ECS_CONTAINER_METADATA_URI_V4: '',
    };
    // No static keys: the task must use its role, as on ECS.
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[key];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: this.options.cwd ?? process.cwd(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
    });
    let log = '';
    const append = (d: Buffer): void => {
      log = (log + d.toString()).slice(-MAX_LOG_CHARS);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => {
        append(Buffer.from(`spawn failed: ${error.message}\n`));
        resolve({ code: null, signal: null });
      });
    });
    const task: RunningTask = {
      id: taskId,
      service,
      pid: child.pid ?? -1,
      log: () => log,
      exited,
      child,
      credentials,
      stopping: false,
      stopTimeoutMs: Math.min(this.options.maxStopTimeoutMs ?? 10_000, (container.stopTimeout ?? 30) * 1000),
    };
    this.tasks.set(taskId, task);
    this.started += 1;
    this.options.onEvent?.({ type: 'started', taskId, service, pid: task.pid });
    void exited.then(({ code, signal }) => {
      this.tasks.delete(taskId);
      credentials.close();
      this.options.onEvent?.({
        type: 'stopped',
        taskId,
        service,
        code,
        signal,
        reason: task.stopping ? 'stopped' : 'Essential container in task exited',
      });
    });
  }

  private async terminate(task: RunningTask, reason: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!task.stopping) {
      task.stopping = true;
      this.options.onEvent?.({ type: 'stopping', taskId: task.id, service: task.service, reason });
      task.child.kill('SIGTERM');
      const timer = setTimeout(() => task.child.kill('SIGKILL'), task.stopTimeoutMs);
      timer.unref();
      void task.exited.finally(() => clearTimeout(timer));
    }
    return task.exited;
  }
}
