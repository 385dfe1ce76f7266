/**
 * `synkti demo --scenario autoscale`: a local pool with `autoscale` under streaming load
 * that steps 1 → 8 → 1 concurrent streams (per replica of its one starting node). The
 * agents alone grow the pool (the rendezvous-chosen decider launches with idempotent client
 * tokens) and shrink it again (the chosen nodes drain gracefully), inside min..max, with no
 * failed request and no flapping.
 */
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_PORT_AGENT, formatDuration, validateCluster, type ClusterSpec } from '@synkti/core';
import type { AgentAutoscaleStatus } from '@synkti/core/contracts';
import { listAllInstances } from '@synkti/cloud';
import { down } from '../commands/down.ts';
import { up } from '../commands/up.ts';
import { FleetObserver } from '../fleet-observer.ts';
import { fetchAgentStatus, openLocalFleet, tsxLoader, type LocalFleet } from '../local-fleet.ts';
import { STAND_IN_MAIN } from './demo.ts';
import { LoadGenerator, summarizeOutcomes } from './load-generator.ts';

export interface AutoscaleDemoOptions {
  /** How long the load must ask for more before the pool grows (the pool's upscaleDelay). @default 5 s */
  upscaleDelayMs?: number | undefined;
  /** How long the load must ask for fewer before the pool shrinks (the pool's downscaleDelay). @default 15 s */
  downscaleDelayMs?: number | undefined;
  /** Each load level is held half of this once the pool has settled for it (the low level also before the step up). @default 20 s */
  holdMs?: number | undefined;
  /** How long the pool may take to reach a size the load asks for. @default 90 s */
  settleTimeoutMs?: number | undefined;
  json: boolean;
  /** Leave the fleet running afterwards. @default false */
  keep?: boolean | undefined;
  cwd: string;
}

export interface AutoscaleDemoSummary {
  requests: number;
  failed: number;
  /** Scale actions the agents took, from their gossiped records (each a distinct epoch). */
  scaleOuts: number;
  scaleIns: number;
  /** Most and fewest ready replicas seen while the load ran. */
  maxReplicas: number;
  minReplicas: number;
  /** The pool's bounds. */
  min: number;
  max: number;
  /** Scale actions the load steps needed (one out, one in). */
  actionsNeeded: number;
  /** Instances launched and terminated by the autoscaler, from the cloud's records. */
  launched: number;
  terminated: number;
  /** Ready replicas at the end of each phase. */
  phases: { low: number; high: number; after: number };
  /** How long the pool took to grow to max after the step up, and to shrink back after the step down. */
  grewInMs: number | undefined;
  shrankInMs: number | undefined;
  actions: { epoch: number; action: string; from: number; desired: number; by: string; reason: string; atMs: number }[];
  p50Ms: number;
  p99Ms: number;
  failures: Record<string, number>;
}

const CLUSTER = 'synkti-autoscale-demo';
const LOW_STREAMS = 1;
const HIGH_STREAMS = 8;
export const AUTOSCALE_DEMO_BOUNDS = { min: 1, max: 4 } as const;

/**
 * The demo cluster: one pool, 1..4 replicas aiming at 1.6 streams each, so 8 streams ask
 * for 4 (8 / 1.6 = 5, capped at max) even when a scrape catches a stream between two
 * requests, and 1 stream for 1.
 */
export function autoscaleDemoSpec(upscaleDelayMs = 5000, downscaleDelayMs = 15_000): ClusterSpec {
  return validateCluster(
    {
      name: CLUSTER,
      pools: {
        worker: {
          count: AUTOSCALE_DEMO_BOUNDS.min,
          autoscale: {
            ...AUTOSCALE_DEMO_BOUNDS,
            targetInFlightPerReplica: 1.6,
            upscaleDelay: upscaleDelayMs,
            downscaleDelay: downscaleDelayMs,
          },
        },
      },
      workload: {
        command: [process.execPath, '--import', tsxLoader(), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '15ms'],
        healthPath: '/health',
        startupTimeout: '60s',
      },
      // Short drains: a stream lasts < 1 s here.
      timeouts: {
        gossipInterval: '500ms',
        failureTimeout: '2s',
        listInterval: '5s',
        noticePollInterval: '1s',
        drainMargin: '1s',
        shutdownGrace: '8s',
        maxStreamDuration: '3s',
        balancerGrace: '1s',
      },
    },
    'the autoscale demo cluster',
  );
}

/** The pool's autoscale records as the agents gossip them: every distinct action (epoch) seen. */
class ActionLog {
  readonly actions = new Map<number, AgentAutoscaleStatus['last'] & object>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly fleet: LocalFleet) {}

  start(intervalMs = 400): void {
    this.running = true;
    const tick = (): void => {
      void this.poll().finally(() => {
        if (this.running) this.timer = setTimeout(tick, intervalMs).unref();
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.poll();
  }

  async poll(): Promise<void> {
    const records = await listAllInstances(this.fleet.cloud.instances, {
      tags: { [TAG_CLUSTER]: this.fleet.spec.name },
      states: ['running'],
    }).catch(() => []);
    const statuses = await Promise.all(
      records.map((r) =>
        fetchAgentStatus(`http://${r.privateIp}:${r.tags[TAG_PORT_AGENT] ?? this.fleet.spec.ports.agent}`, this.fleet.secret, 800),
      ),
    );
    for (const status of statuses) {
      for (const pool of status?.autoscale ?? []) {
        if (pool.last && !this.actions.has(pool.last.epoch)) this.actions.set(pool.last.epoch, pool.last);
      }
    }
  }
}

export async function runAutoscaleDemo(options: AutoscaleDemoOptions): Promise<AutoscaleDemoSummary> {
  const upscaleDelayMs = options.upscaleDelayMs ?? 5000;
  const downscaleDelayMs = options.downscaleDelayMs ?? 15_000;
  const holdMs = options.holdMs ?? 20_000;
  const settleTimeoutMs = options.settleTimeoutMs ?? 90_000;
  const spec = autoscaleDemoSpec(upscaleDelayMs, downscaleDelayMs);
  const configFile = join(options.cwd, 'synkti.autoscale-demo');
  const say = (text: string): void => {
    if (!options.json) process.stderr.write(`${text}\n`);
  };

  await down(spec, configFile, { force: true, timeoutMs: 20_000, quiet: true });
  say(
    `Synkti autoscale demo: a pool of ${AUTOSCALE_DEMO_BOUNDS.min}..${AUTOSCALE_DEMO_BOUNDS.max} replicas aiming at 1.6 streams each (upscaleDelay ${formatDuration(upscaleDelayMs)}, downscaleDelay ${formatDuration(downscaleDelayMs)})`,
  );
  const started = await up(spec, configFile, { timeoutMs: 90_000, json: true, quiet: options.json });
  if (!started.ok) throw new Error('the autoscale demo fleet did not come up; see `synkti logs <id>`');
  const startedAt = Date.now();

  const local = openLocalFleet(spec, configFile);
  const observer = new FleetObserver(local);
  await observer.start(300);
  const actions = new ActionLog(local);
  actions.start();
  // Two closed-loop clients: the base stream, and the burst that steps the load up to 8.
  const base = new LoadGenerator({ endpoints: () => observer.routerUrls(), concurrency: LOW_STREAMS, maxTokens: 24 });
  const burst = new LoadGenerator({ endpoints: () => observer.routerUrls(), concurrency: HIGH_STREAMS - LOW_STREAMS, maxTokens: 24 });
  let maxReplicas = observer.readyCount();
  let minReplicas = observer.readyCount();
  const watchReplicas = setInterval(() => {
    const ready = observer.readyCount();
    if (ready === 0) return; // between two observer refreshes, not a pool of 0
    maxReplicas = Math.max(maxReplicas, ready);
    minReplicas = Math.min(minReplicas, ready);
  }, 200);
  watchReplicas.unref();
  const waitFor = async (what: string, done: () => boolean, timeoutMs: number): Promise<number | undefined> => {
    const from = Date.now();
    while (!done()) {
      if (Date.now() - from > timeoutMs) {
        say(`  ${what}: not within ${formatDuration(timeoutMs)}`);
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return Date.now() - from;
  };
  // Every instance of the cluster seen while the demo ran (a node that left untags itself, so the end's listing cannot tell).
  const seen = new Set<string>(started.launched);
  let liveCount: number = AUTOSCALE_DEMO_BOUNDS.min;
  const countLive = setInterval(() => {
    void observer.instances().then(
      (records) => {
        for (const r of records) seen.add(r.id);
        liveCount = records.filter((r) => r.state !== 'shutting-down').length;
      },
      () => undefined,
    );
  }, 300);
  countLive.unref();
  try {
    base.start();
    say(`${LOW_STREAMS} stream: the pool stays at ${AUTOSCALE_DEMO_BOUNDS.min} for ${formatDuration(holdMs / 2)}`);
    await new Promise((r) => setTimeout(r, holdMs / 2));
    const low = observer.readyCount();

    burst.start();
    say(`${HIGH_STREAMS} streams: the agents grow the pool`);
    const grewInMs = await waitFor('grow to max', () => observer.readyCount() >= AUTOSCALE_DEMO_BOUNDS.max, settleTimeoutMs);
    if (grewInMs !== undefined)
      say(
        `  ${AUTOSCALE_DEMO_BOUNDS.max} replicas ready ${formatDuration(grewInMs)} after the step up; holding ${formatDuration(holdMs / 2)}`,
      );
    await new Promise((r) => setTimeout(r, holdMs / 2));
    const high = observer.readyCount();

    // The burst's clients finish the streams they have in flight and stop.
    await burst.stop();
    say(`${LOW_STREAMS} stream: the agents shrink the pool`);
    const shrankInMs = await waitFor(
      'shrink to min',
      () => observer.readyCount() === AUTOSCALE_DEMO_BOUNDS.min && liveCount === AUTOSCALE_DEMO_BOUNDS.min,
      settleTimeoutMs,
    );
    if (shrankInMs !== undefined)
      say(
        `  back to ${AUTOSCALE_DEMO_BOUNDS.min} ${formatDuration(shrankInMs)} after the step down; holding ${formatDuration(holdMs / 2)}`,
      );
    // Watch the settled pool a while longer: no further action may come.
    await new Promise((r) => setTimeout(r, holdMs / 2));
    const after = observer.readyCount();
    await base.stop();
    await actions.stop();

    const traffic = summarizeOutcomes([...base.outcomes, ...burst.outcomes]);
    const remaining = new Set((await observer.instances()).filter((r) => r.state !== 'shutting-down').map((r) => r.id));
    const log = [...actions.actions.values()].sort((a, b) => a.epoch - b.epoch);
    return {
      requests: traffic.requests,
      failed: traffic.failed,
      scaleOuts: log.filter((a) => a.action === 'scale-out').length,
      scaleIns: log.filter((a) => a.action === 'scale-in').length,
      maxReplicas,
      minReplicas,
      min: AUTOSCALE_DEMO_BOUNDS.min,
      max: AUTOSCALE_DEMO_BOUNDS.max,
      actionsNeeded: 2,
      launched: [...seen].filter((id) => !started.launched.includes(id)).length,
      terminated: [...seen].filter((id) => !remaining.has(id)).length,
      phases: { low, high, after },
      grewInMs,
      shrankInMs,
      actions: log.map((a) => ({
        epoch: a.epoch,
        action: a.action,
        from: a.from,
        desired: a.desired,
        by: a.by,
        reason: a.reason,
        atMs: a.at - startedAt,
      })),
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
    };
  } finally {
    clearInterval(watchReplicas);
    clearInterval(countLive);
    observer.stop();
    await burst.stop();
    await base.stop();
    await actions.stop().catch(() => undefined);
    local.close();
    if (!options.keep) await down(spec, configFile, { force: false, timeoutMs: 30_000, quiet: true });
  }
}

export function renderAutoscaleDemoSummary(summary: AutoscaleDemoSummary): string {
  return [
    '',
    'Summary',
    `  requests       ${summary.requests}`,
    `  failed         ${summary.failed}${
      summary.failed > 0
        ? `  (${Object.entries(summary.failures)
            .map(([k, v]) => `${v}× ${k}`)
            .join(', ')})`
        : ''
    }`,
    `  replicas       ${summary.minReplicas}..${summary.maxReplicas} (bounds ${summary.min}..${summary.max}); at 1 stream ${summary.phases.low}, at 8 streams ${summary.phases.high}, after ${summary.phases.after}`,
    `  scale actions  ${summary.scaleOuts} out, ${summary.scaleIns} in (the steps needed ${summary.actionsNeeded}); ${summary.launched} launched, ${summary.terminated} drained and terminated`,
    ...summary.actions.map(
      (a) => `    #${a.epoch} ${a.action} ${a.from} → ${a.desired} at +${formatDuration(Math.max(0, a.atMs))} by ${a.by}: ${a.reason}`,
    ),
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
  ].join('\n');
}
