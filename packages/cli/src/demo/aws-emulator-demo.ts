/**
 * `synkti demo --on aws-emulator`: the AWS path end to end on this machine.
 *
 *   1. an emulated AWS: moto_server (EC2, S3, SSM, IAM, STS, ELBv2) on loopback, a VPC
 *      on a 127.X.0.0/16 block of its own so every instance has its own loopback address, and the instance
 *      emulator that boots each instance's user data for real;
 *   2. IAM truth: the worker role exactly as SpotServeFleet builds it (synthesized under
 *      Pulumi mocks), created in moto; every call the instances make (the boot script's
 *      `aws` CLI, the agents' SDK) goes through a proxy that checks it against that role;
 *   3. `synkti bootstrap --skip-infra` (a real CLI process): buckets, the packed agent, a
 *      Node.js tarball, the cluster secret in SSM, a small model directory, 3 workers;
 *   4. streaming chat completions through the workers' routers, one spot preemption (20 s
 *      notice) and one crash (no notice) mid-run: the agents launch the replacements
 *      themselves through RunInstances, with their own role's credentials;
 *   5. `synkti down` (a real CLI process), then a count of what is left.
 *
 * The summary has the local demo's fields plus provider, awsCalls, iamDenied,
 * modelVerified and instancesLeft.
 */
import { SynktiError, formatDuration } from '@synkti/core';
import { createProgress } from '../output.ts';
import { AGENT_PORT, ROUTER_PORT, startEmulatedAwsProject } from './emulated-aws-project.ts';
import { LoadGenerator, summarizeOutcomes } from './load-generator.ts';
import type { DemoSummary } from './demo.ts';

const CLUSTER = 'synkti-aws-demo';
const FLEET_SIZE = 3;

export interface AwsEmulatorDemoOptions {
  /** How long traffic runs. @default 60000 */
  durationMs: number;
  /** Concurrent client streams. @default 8 */
  concurrency: number;
  json: boolean;
  /** Spot notice before the preempted instance is terminated. @default 20000 */
  noticeMs?: number | undefined;
  /** Keep the emulator's state directory (boot and service logs of every instance). @default false */
  keepState?: boolean | undefined;
  /** Actions removed from the worker role before the run (the run then reports their denials). @default none */
  denyActions?: string[] | undefined;
  /** Called with each progress line (tests). @default stderr unless json */
  onLine?: ((line: string) => void) | undefined;
}

export interface IamDenialSummary {
  principal: string;
  action: string;
  resource?: string | undefined;
}

/** The local demo's summary, plus what only the AWS path has. */
export interface AwsEmulatorDemoSummary extends DemoSummary {
  provider: 'aws';
  /** Failed requests not explained by the crash (not in flight through or on the crashed node when it died): must be 0. */
  failedAtPreemption: number;
  /** Calls the instances made with their role's credentials (boot script, agents), all checked against the role. */
  awsCalls: number;
  iamDenied: number;
  denials: IamDenialSummary[];
  /** Every node that served had fetched the model and checked every file against its manifest. */
  modelVerified: boolean;
  /** Instances of the cluster not terminated, plus emulated machines still running, after `synkti down`. */
  instancesLeft: number;
  /** Where instance logs are (only with keepState). */
  stateDir?: string | undefined;
}

/**
 * Runs the demo. Throws E_TOOL_MISSING (exit 5) when moto_server or the aws CLI is missing,
 * E_DEMO when a step fails (with the logs to look at).
 */
export async function runAwsEmulatorDemo(options: AwsEmulatorDemoOptions): Promise<AwsEmulatorDemoSummary> {
  const say =
    options.onLine ??
    ((text: string): void => {
      if (!options.json) console.error(text);
    });
  const progress = createProgress(process.stderr, options.json || options.onLine !== undefined);
  const noticeMs = options.noticeMs ?? 20_000;
  say(
    'Synkti demo on an emulated AWS: moto_server for the APIs, each EC2 instance a machine on this host (each its own loopback address 127.X.y.z).',
  );
  const project = await startEmulatedAwsProject({
    cluster: CLUSTER,
    workers: FLEET_SIZE,
    keepState: options.keepState,
    denyActions: options.denyActions,
  });
  const { instances, truth } = project;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    say(
      `emulated AWS at ${project.moto.endpoint}; IAM-checking proxy at ${truth.endpoint} (worker role ${CLUSTER}-worker as SpotServeFleet builds it)`,
    );
    say(
      `synkti bootstrap --project ${CLUSTER} --skip-infra --workers ${FLEET_SIZE} --model-dir … (buckets, agent, Node.js, secret, model, workers)`,
    );
    const bootstrap = await project.cli(project.bootstrapArgs(FLEET_SIZE));
    if (bootstrap.code !== 0) {
      throw new SynktiError(
        'E_DEMO',
        `synkti bootstrap exited with ${bootstrap.code}:\n${bootstrap.stderr.trim().slice(-2000)}\n${bootstrap.stdout.trim().slice(-2000)}`,
      );
    }
    const secret = await project.secret();
    const listFleet = (): ReturnType<typeof project.listFleet> => project.listFleet();
    const ready = new Map<string, string>();
    const refresh = async (): Promise<void> => {
      const live = (await listFleet()).filter((n) => n.state === 'running' || n.state === 'pending');
      const checks = await Promise.all(live.map(async (n) => [n, await project.routerServing(n.ip)] as const));
      ready.clear();
      for (const [n, ok] of checks) if (ok) ready.set(n.id, `http://${n.ip}:${ROUTER_PORT}`);
    };
    let refreshing = false;
    const watcher = setInterval(() => {
      if (refreshing) return;
      refreshing = true;
      void refresh()
        .catch(() => undefined)
        .finally(() => {
          refreshing = false;
        });
    }, 300);
    watcher.unref();
    cleanups.push(() => clearInterval(watcher));

    const bootStarted = Date.now();
    const bootBy = bootStarted + 180_000;
    while (ready.size < FLEET_SIZE) {
      if (Date.now() > bootBy) {
        throw new SynktiError('E_DEMO', `only ${ready.size} of ${FLEET_SIZE} workers serve after 180 s`, {
          hint: `boot and service logs: ${project.stateDir}/instances (run with --keep-state)`,
        });
      }
      progress.update(
        `workers booting from their user data: ${ready.size}/${FLEET_SIZE} routers serving (${formatDuration(Date.now() - bootStarted)})`,
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    progress.done(`fleet serving: ${[...ready.keys()].join(', ')} (booted in ${formatDuration(Date.now() - bootStarted)})`);
    const fleetSizeStart = ready.size;

    // Traffic, a preemption and a crash.
    const load = new LoadGenerator({
      endpoints: () => [...ready.values()],
      concurrency: options.concurrency,
      maxTokens: 24,
      healthIntervalMs: 250,
    });
    cleanups.push(() => load.stop());
    const t0 = Date.now();
    load.start();
    say(
      `streaming chat completions through the workers' routers for ${formatDuration(options.durationMs)} (${options.concurrency} concurrent clients)`,
    );
    const preemptAt = t0 + options.durationMs * 0.2;
    const crashAt = t0 + options.durationMs * 0.55;
    let preempted: string | undefined;
    let crashed: string | undefined;
    let crashTime: number | undefined;
    let crashedRouter: string | undefined;
    let lastEventAt = t0;
    let sawDrop = false;
    let recoveredAt: number | undefined;
    while (Date.now() - t0 < options.durationMs) {
      const now = Date.now();
      if (crashed && ready.size < FLEET_SIZE) sawDrop = true;
      if (sawDrop && recoveredAt === undefined && ready.size >= FLEET_SIZE) recoveredAt = now;
      if (!preempted && now >= preemptAt) {
        const target = [...ready.keys()][0];
        if (target) {
          instances.preempt(target, { noticeInMs: noticeMs });
          preempted = target;
          lastEventAt = now;
          progress.done(`${formatDuration(now - t0)}  spot interruption notice for ${target}: terminated in ${formatDuration(noticeMs)}`);
        }
      }
      if (preempted && !crashed && now >= crashAt) {
        const fleet = await listFleet();
        // An original worker that is serving, not the preempted one (a crash of a booting replacement proves less).
        const target = fleet.find((n) => n.id !== preempted && !n.replaces && ready.has(n.id));
        if (target) {
          crashed = target.id;
          crashedRouter = ready.get(target.id);
          crashTime = Date.now();
          await instances.crash(target.id);
          lastEventAt = Date.now();
          progress.done(
            `${formatDuration(now - t0)}  crash of ${target.id}: every process SIGKILLed, no notice; the survivors must replace it`,
          );
        }
      }
      const done = load.outcomes.length;
      const failed = load.outcomes.filter((o) => !o.ok).length;
      progress.update(
        `${formatDuration(now - t0)}  requests ${done - failed} ok / ${failed} failed  routers serving ${ready.size}/${FLEET_SIZE}`,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    await load.stop();

    // The fleet must be back to its size by itself (replacements boot from the same user data).
    const recoverBy = Date.now() + 120_000;
    const recoveryWaitStart = Date.now();
    while (ready.size < FLEET_SIZE && Date.now() < recoverBy) {
      if (crashed) sawDrop = true;
      progress.update(
        `waiting for the fleet to be back at ${FLEET_SIZE} serving nodes (now ${ready.size}, ${formatDuration(Date.now() - recoveryWaitStart)})`,
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    if (recoveredAt === undefined && ready.size >= FLEET_SIZE) recoveredAt = Date.now();
    const fleetSizeEnd = ready.size;
    progress.done(`fleet at ${fleetSizeEnd}/${FLEET_SIZE} serving nodes`);

    // Every serving node fetched the model and checked it (its stand-in refuses to start otherwise).
    let modelVerified = fleetSizeEnd > 0;
    for (const [id] of ready) {
      const ip = (await listFleet()).find((n) => n.id === id)?.ip;
      try {
        const res = await fetch(`http://${ip}:${AGENT_PORT}/status`, {
          headers: { authorization: `Bearer ${secret}` },
          signal: AbortSignal.timeout(3000),
        });
        const status = (await res.json()) as { model?: { state?: string; filesDone?: number; files?: number } };
        if (status.model?.state !== 'ready' || !status.model.files || status.model.filesDone !== status.model.files) modelVerified = false;
      } catch {
        modelVerified = false;
      }
    }
    const everything = await listFleet();
    const replacements = everything.filter((n) => n.replaces !== undefined).length;
    clearInterval(watcher);

    // synkti down, as a user would run it.
    say('synkti down');
    const downResult = await project.cli(['down', '--timeout', '60s', '--json'], 120_000);
    if (downResult.code !== 0) say(`synkti down exited with ${downResult.code}: ${downResult.stderr.trim().slice(-500)}`);
    // Terminated instances' machines end within a poll or two of the emulator.
    const goneBy = Date.now() + 60_000;
    let instancesLeft = Number.POSITIVE_INFINITY;
    while (Date.now() < goneBy) {
      const live = (await listFleet()).filter((n) => n.state !== 'terminated').length;
      instancesLeft = live + instances.machines().length;
      if (instancesLeft === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }

    const report = truth.report();
    const outcomes = load.outcomes;
    const traffic = summarizeOutcomes(outcomes);
    // A failure is the crash's when it was in flight through or on the crashed node when it
    // died; every other failure counts against the preemption (the only other event).
    const byCrash = (o: (typeof outcomes)[number]): boolean =>
      crashTime !== undefined &&
      o.startedAt <= crashTime &&
      (o.servedBy === crashed || (crashedRouter !== undefined && o.router === crashedRouter));
    const failedAtPreemption = outcomes.filter((o) => !o.ok && !byCrash(o)).length;
    return {
      provider: 'aws',
      requests: traffic.requests,
      failed: traffic.failed,
      failedAtPreemption,
      preemptions: preempted ? 1 : 0,
      crashes: crashed ? 1 : 0,
      replacements,
      fleetSizeStart,
      fleetSizeEnd,
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
      recoveredInMs: recoveredAt !== undefined ? Math.max(0, recoveredAt - lastEventAt) : undefined,
      awsCalls: report.awsCalls,
      iamDenied: report.iamDenied,
      denials: report.denials.map((d) => ({ principal: d.principal, action: d.action, resource: d.resource })),
      modelVerified,
      instancesLeft: Number.isFinite(instancesLeft) ? instancesLeft : -1,
      ...(options.keepState ? { stateDir: project.stateDir } : {}),
    };
  } finally {
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    await project.stop();
  }
}

export function renderAwsEmulatorSummary(summary: AwsEmulatorDemoSummary): string {
  return [
    '',
    'Summary (emulated AWS)',
    `  requests       ${summary.requests}`,
    `  failed         ${summary.failed}  (${summary.failedAtPreemption} at the preemption)${
      summary.failed > 0
        ? `  ${Object.entries(summary.failures)
            .map(([k, v]) => `${v}× ${k}`)
            .join(', ')}`
        : ''
    }`,
    `  preemptions    ${summary.preemptions}  (20 s notice in the instance metadata, then TerminateInstances)`,
    `  crashes        ${summary.crashes}  (every process SIGKILLed: only streams in flight there may fail)`,
    `  replacements   ${summary.replacements}  (launched by the agents through RunInstances)`,
    `  fleet size     ${summary.fleetSizeStart} → ${summary.fleetSizeEnd}${summary.recoveredInMs !== undefined ? `  (back to full size ${formatDuration(summary.recoveredInMs)} after the last event)` : ''}`,
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
    `  AWS calls      ${summary.awsCalls} by the workers' role, ${summary.iamDenied} denied by IAM${summary.denials.length ? `: ${summary.denials.map((d) => `${d.action} (${d.principal})`).join(', ')}` : ''}`,
    `  model          ${summary.modelVerified ? 'fetched and verified on every serving node' : 'NOT verified on every serving node'}`,
    `  left behind    ${summary.instancesLeft} instances`,
  ].join('\n');
}
