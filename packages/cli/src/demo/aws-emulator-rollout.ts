/**
 * `synkti demo --on aws-emulator --scenario rollout`: `synkti deploy` on the AWS path.
 *
 *   1. the emulated AWS of `synkti demo --on aws-emulator` (moto, each instance its own
 *      loopback address, the worker role as SpotServeFleet builds it behind the IAM proxy);
 *   2. `synkti bootstrap --skip-infra`: 3 workers booting from the release bucket;
 *   3. under steady streaming load through the workers' routers, the config file gets a new
 *      workload (another token latency: a new generation) and `synkti deploy` (a real CLI
 *      process with the operator's keys) rolls the pool: it tags every node with the desired
 *      config through the emulated EC2 API, tells the agents (each checks its own instance's
 *      tag with its role's credentials), surges one node from the release bucket, waits until
 *      it serves, drains one old node, three times;
 *   4. every node's own report of its generation, the tag on the old nodes, the IAM report.
 *
 * 0 failed requests is the point: a node of a generation that does not serve never gets a
 * request, and an old node leaves only after its requests finished.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, desiredConfigTag, formatDuration } from '@synkti/core';
import type { RolloutResult } from '../rollout/run-rollout.ts';
import { createProgress } from '../output.ts';
import { AGENT_PORT, ROUTER_PORT, startEmulatedAwsProject, type EmulatedAwsProject } from './emulated-aws-project.ts';
import { LoadGenerator, summarizeOutcomes } from './load-generator.ts';

const CLUSTER = 'synkti-aws-rollout';
const FLEET_SIZE = 3;
const POOL = 'worker';

export interface AwsEmulatorRolloutOptions {
  /** Concurrent client streams. @default 6 */
  concurrency?: number | undefined;
  /**
   * How long a new node may take to serve before the rollout rolls back. @default 300 s: an
   * emulated instance boots in 50–60 s at load 30, and one whose first S3 download found no
   * credentials yet (IMDS) waits out the boot script's retry: 2.5 min was seen.
   */
  readyTimeoutMs?: number | undefined;
  json: boolean;
  /** Keep the emulator's state directory (boot and service logs of every instance). @default false */
  keepState?: boolean | undefined;
  /** Called with each progress line. @default stderr unless json */
  onLine?: ((line: string) => void) | undefined;
}

export interface AwsEmulatorRolloutSummary {
  provider: 'aws';
  requests: number;
  failed: number;
  /** Requests started while `synkti deploy` ran (the rollout was under load). */
  requestsDuringRollout: number;
  failedDuringRollout: number;
  /** Nodes that serve the new generation at the end (each by its own agent's report). */
  rolledOut: number;
  rolledBack: number;
  /** The generation every serving node reports at the end ('mixed' when they differ). */
  generation: string;
  generations: { from: string; to: string };
  /** Each live node's generation as its agent reports it (GET /status). */
  nodeGenerations: Record<string, string>;
  fleetSizeEnd: number;
  /** Successful requests per generation of the node that streamed them. */
  servedBy: Record<string, number>;
  /** Old nodes that carried SynktiDesired-worker=<new generation>:<sha256> (written by deploy with the operator's keys). */
  desiredTagged: number;
  /** Old nodes whose agent took the desired config (it showed in their status). */
  desiredTaken: number;
  deploy: { exitCode: number; tookMs: number; outcome: string; surged: string[]; drained: string[] };
  /** Calls the workers made with their role's credentials, all checked against the role. */
  awsCalls: number;
  iamDenied: number;
  denials: { principal: string; action: string }[];
  bootMs: number;
  p50Ms: number;
  p99Ms: number;
  failures: Record<string, number>;
  stateDir?: string | undefined;
}

interface NodeStatus {
  generation?: string;
  state?: string;
  desiredGenerations?: Record<string, string>;
}

async function nodeStatus(ip: string, secret: string): Promise<NodeStatus | undefined> {
  try {
    const res = await fetch(`http://${ip}:${AGENT_PORT}/status`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(1500),
    });
    if (!res.ok) {
      await res.arrayBuffer();
      return undefined;
    }
    return (await res.json()) as NodeStatus;
  } catch {
    return undefined;
  }
}

/**
 * The fleet as a load balancer and an operator see it: routers serving (health 200), and
 * what each node's agent says of its generation and of the desired config it was told.
 */
class FleetWatch {
  /** Serving routers, by instance id. */
  readonly routers = new Map<string, string>();
  /** Every generation a node ever reported (a drained node's stays known). */
  readonly generationOf = new Map<string, string>();
  /** Desired generations of the pool each node reported. */
  readonly desiredOf = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly project: EmulatedAwsProject,
    private readonly secret: string,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.refresh()
        .catch(() => undefined)
        .finally(() => {
          this.busy = false;
        });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const live = (await this.project.listFleet()).filter((n) => n.state === 'running' || n.state === 'pending');
    const seen = await Promise.all(
      live.map(async (n) => ({ n, serving: await this.project.routerServing(n.ip), status: await nodeStatus(n.ip, this.secret) })),
    );
    this.routers.clear();
    for (const { n, serving, status } of seen) {
      if (serving) this.routers.set(n.id, `http://${n.ip}:${ROUTER_PORT}`);
      if (status?.generation) this.generationOf.set(n.id, status.generation);
      const desired = status?.desiredGenerations?.[POOL];
      if (desired) this.desiredOf.set(n.id, desired);
    }
  }
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => boolean,
  hint: string,
  onWait: (elapsedMs: number) => void,
): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new SynktiError('E_DEMO', `${what}: not within ${formatDuration(timeoutMs)}`, { hint });
    onWait(Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs the demo. Throws E_TOOL_MISSING (exit 5) without moto_server or the aws CLI, E_DEMO when a step fails. */
export async function runAwsEmulatorRolloutDemo(options: AwsEmulatorRolloutOptions): Promise<AwsEmulatorRolloutSummary> {
  const say =
    options.onLine ??
    ((text: string): void => {
      if (!options.json) console.error(text);
    });
  const progress = createProgress(process.stderr, options.json || options.onLine !== undefined);
  const concurrency = options.concurrency ?? 6;
  say(
    'Synkti rollout demo on an emulated AWS: moto_server for the APIs, each EC2 instance a machine on this host booted from its user data.',
  );
  const project = await startEmulatedAwsProject({ cluster: CLUSTER, workers: FLEET_SIZE, keepState: options.keepState });
  const logs = `boot and service logs: ${project.stateDir}/instances (run with --keep-state)`;
  const ec2 = new EC2Client(project.moto.clientConfig());
  let watch: FleetWatch | undefined;
  let load: LoadGenerator | undefined;
  try {
    say(
      `synkti bootstrap --project ${CLUSTER} --skip-infra --workers ${FLEET_SIZE} (buckets, agent release, Node.js, secret, model, workers)`,
    );
    const bootstrap = await project.cli(project.bootstrapArgs(FLEET_SIZE));
    if (bootstrap.code !== 0)
      throw new SynktiError('E_DEMO', `synkti bootstrap exited with ${bootstrap.code}:\n${bootstrap.stderr.trim().slice(-2000)}`);
    const secret = await project.secret();
    watch = new FleetWatch(project, secret);
    watch.start(300);
    const fleet = watch;
    const bootStarted = Date.now();
    await waitFor(
      `${FLEET_SIZE} workers serving`,
      180_000,
      () => fleet.routers.size >= FLEET_SIZE,
      logs,
      (ms) => progress.update(`workers booting: ${fleet.routers.size}/${FLEET_SIZE} routers serving (${formatDuration(ms)})`),
    );
    const bootMs = Date.now() - bootStarted;
    const originals = [...fleet.routers.keys()];
    progress.done(`fleet serving: ${originals.join(', ')} (booted in ${formatDuration(bootMs)})`);

    load = new LoadGenerator({ endpoints: () => [...fleet.routers.values()], concurrency, maxTokens: 24, healthIntervalMs: 250 });
    load.start();
    const traffic = load;
    say(`streaming chat completions through the workers' routers (${concurrency} concurrent clients)`);
    // Some traffic on the first generation before the rollout.
    await waitFor(
      'traffic on the first generation',
      60_000,
      () => traffic.outcomes.filter((o) => o.ok).length >= 10,
      'the routers serve but no stream completed',
      () => {},
    );

    // A new workload in the config file: a new generation, rolled out by `synkti deploy`.
    project.rewriteConfig('12ms');
    say(`synkti deploy --pool ${POOL} (the config's workload changed: stand-in token latency 15ms → 12ms)`);
    const deployStarted = Date.now();
    const readyTimeoutMs = options.readyTimeoutMs ?? 300_000;
    const ticker = setInterval(() => {
      const done = traffic.outcomes.length;
      const failed = traffic.outcomes.filter((o) => !o.ok).length;
      progress.update(
        `${formatDuration(Date.now() - deployStarted)}  deploy running; requests ${done - failed} ok / ${failed} failed; routers serving ${fleet.routers.size}`,
      );
    }, 500);
    ticker.unref();
    // The desired-config tag on the old nodes, as EC2 records it while they live (a node
    // that leaves gracefully removes its Synkti tags).
    const tagged = new Map<string, string>();
    const key = desiredConfigTag(POOL);
    const tagWatch = setInterval(() => {
      void ec2.send(new DescribeInstancesCommand({ InstanceIds: originals })).then(
        (described) => {
          for (const i of (described.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
            const value = i.Tags?.find((t) => t.Key === key)?.Value;
            if (i.InstanceId && value) tagged.set(i.InstanceId, value);
          }
        },
        () => undefined,
      );
    }, 1000);
    tagWatch.unref();
    let run: Awaited<ReturnType<EmulatedAwsProject['cli']>>;
    try {
      run = await project.cli(
        ['deploy', '--json', '--pool', POOL, '--ready-timeout', `${Math.round(readyTimeoutMs / 1000)}s`, ...project.launchArgs()],
        FLEET_SIZE * (readyTimeoutMs + 60_000),
        { SYNKTI_CLUSTER_SECRET: secret },
      );
    } finally {
      clearInterval(ticker);
      clearInterval(tagWatch);
    }
    const deployEnded = Date.now();
    const json = run.stdout.slice(run.stdout.indexOf('{'));
    let result: { pools: RolloutResult[] } | undefined;
    try {
      result = JSON.parse(json) as { pools: RolloutResult[] };
    } catch {
      result = undefined;
    }
    const rolled = result?.pools[0];
    if (!rolled)
      throw new SynktiError('E_DEMO', `synkti deploy exited with ${run.code} without a result:\n${run.stderr.trim().slice(-3000)}`, {
        hint: logs,
      });
    progress.done(
      `synkti deploy: ${rolled.outcome} to ${rolled.generation} in ${formatDuration(deployEnded - deployStarted)} (exit ${run.code}; surged ${rolled.surged.join(', ') || '-'}, drained ${rolled.drained.join(', ') || '-'})`,
    );
    for (const line of run.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('  ')))
      say(line);

    // A little traffic on the new generation, then every node's own word on what it runs.
    const afterDeploy = traffic.outcomes.length;
    await waitFor(
      'traffic after the rollout',
      60_000,
      () => traffic.outcomes.length >= afterDeploy + 10,
      'no stream completed after the rollout',
      () => {},
    );
    await traffic.stop();
    fleet.stop();
    await fleet.refresh();
    const nodeGenerations: Record<string, string> = {};
    for (const id of fleet.routers.keys()) nodeGenerations[id] = fleet.generationOf.get(id) ?? '?';
    const reported = Object.values(nodeGenerations);
    const from = Object.values(rolled.before)[0] ?? '?';

    const desiredTagged = originals.filter((id) => new RegExp(`^${rolled.generation}:[0-9a-f]{64}$`).test(tagged.get(id) ?? '')).length;

    const servedBy: Record<string, number> = {};
    for (const o of traffic.outcomes) {
      if (!o.ok) continue;
      const generation = (o.servedBy && fleet.generationOf.get(o.servedBy)) ?? '?';
      servedBy[generation] = (servedBy[generation] ?? 0) + 1;
    }
    const during = traffic.outcomes.filter((o) => o.startedAt >= deployStarted && o.startedAt < deployEnded);
    const totals = summarizeOutcomes(traffic.outcomes);
    const report = project.truth.report();
    return {
      provider: 'aws',
      requests: totals.requests,
      failed: totals.failed,
      requestsDuringRollout: during.length,
      failedDuringRollout: during.filter((o) => !o.ok).length,
      rolledOut: reported.filter((g) => g === rolled.generation).length,
      rolledBack: rolled.outcome === 'rolled-back' ? 1 : 0,
      generation: reported.length > 0 && reported.every((g) => g === reported[0]) ? reported[0]! : 'mixed',
      generations: { from, to: rolled.generation },
      nodeGenerations,
      fleetSizeEnd: reported.length,
      servedBy,
      desiredTagged,
      desiredTaken: originals.filter((id) => fleet.desiredOf.get(id) === rolled.generation).length,
      deploy: {
        exitCode: run.code,
        tookMs: deployEnded - deployStarted,
        outcome: rolled.outcome,
        surged: rolled.surged,
        drained: rolled.drained,
      },
      awsCalls: report.awsCalls,
      iamDenied: report.iamDenied,
      denials: report.denials.map((d) => ({ principal: d.principal, action: d.action })),
      bootMs,
      p50Ms: totals.p50Ms,
      p99Ms: totals.p99Ms,
      failures: totals.failures,
      ...(options.keepState ? { stateDir: project.stateDir } : {}),
    };
  } finally {
    await load?.stop().catch(() => undefined);
    watch?.stop();
    ec2.destroy();
    await project.stop();
  }
}

export function renderAwsEmulatorRolloutSummary(summary: AwsEmulatorRolloutSummary): string {
  return [
    '',
    'Summary (rollout on the emulated AWS)',
    `  requests       ${summary.requests} (${summary.requestsDuringRollout} during synkti deploy)`,
    `  failed         ${summary.failed}${
      summary.failed > 0
        ? `  (${Object.entries(summary.failures)
            .map(([k, v]) => `${v}× ${k}`)
            .join(', ')})`
        : ''
    }`,
    `  rolled out     ${summary.rolledOut} nodes ${summary.generations.from} → ${summary.generations.to} in ${formatDuration(summary.deploy.tookMs)} (${summary.deploy.outcome}, exit ${summary.deploy.exitCode})`,
    `  fleet          ${summary.fleetSizeEnd} serving on ${summary.generation}: ${Object.entries(summary.nodeGenerations)
      .map(([id, g]) => `${id} ${g}`)
      .join(', ')}`,
    `  served by      ${Object.entries(summary.servedBy)
      .map(([g, n]) => `${g} ${n}`)
      .join(', ')}`,
    `  desired config tagged on ${summary.desiredTagged}/3 old nodes by deploy (EC2 CreateTags, operator keys); taken by ${summary.desiredTaken}/3 agents`,
    `  AWS calls      ${summary.awsCalls} by the workers' role, ${summary.iamDenied} denied${summary.denials.length ? `: ${summary.denials.map((d) => `${d.action} (${d.principal})`).join(', ')}` : ''}`,
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
  ].join('\n');
}
