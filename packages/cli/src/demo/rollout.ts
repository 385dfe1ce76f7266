/**
 * `synkti demo --scenario rollout`: a local fleet of 3 under steady streaming load is rolled
 * to a new generation (`synkti deploy`'s rollout), then a broken generation (a workload that
 * never becomes healthy) is tried: it must stop, roll back, and leave the fleet serving the
 * good generation, with no failed request in either rollout.
 */
import { join } from 'node:path';
import { configGeneration, formatDuration, validateCluster, type ClusterSpec } from '@synkti/core';
import { down } from '../commands/down.ts';
import { up } from '../commands/up.ts';
import { FleetObserver } from '../fleet-observer.ts';
import { openFleet } from '../fleet/fleet-access.ts';
import { openLocalFleet, tsxLoader } from '../local-fleet.ts';
import { runRollout, type RolloutResult } from '../rollout/run-rollout.ts';
import { STAND_IN_MAIN } from './demo.ts';
import { LoadGenerator, summarizeOutcomes, type RequestOutcome } from './load-generator.ts';

export interface RolloutDemoOptions {
  /** Concurrent client streams. @default 6 */
  concurrency?: number | undefined;
  /** How long a node of the good generation may take to serve. @default 60 s */
  readyTimeoutMs?: number | undefined;
  /** How long the broken generation is given before the rollout gives up on it. @default 10 s */
  brokenReadyTimeoutMs?: number | undefined;
  json: boolean;
  /** Leave the fleet running afterwards. @default false */
  keep?: boolean | undefined;
  cwd: string;
}

export interface RolloutDemoPhase {
  generation: string;
  outcome: RolloutResult['outcome'];
  requests: number;
  failed: number;
  tookMs: number;
  surged: number;
  drained: number;
  removed: number;
}

export interface RolloutDemoSummary {
  requests: number;
  failed: number;
  /** Nodes moved to the new generation by the good rollout. */
  rolledOut: number;
  /** Rollouts that stopped and rolled back (the broken generation). */
  rolledBack: number;
  /** The generation every ready node runs at the end. */
  generation: string;
  /** The generations: first, rolled to, broken. */
  generations: { from: string; to: string; broken: string };
  /** Ready nodes at the end and how many run `generation`. */
  fleetSizeEnd: number;
  onGeneration: number;
  phases: { rollout: RolloutDemoPhase; broken: RolloutDemoPhase };
  /** Requests served per generation (by the node that streamed them): traffic moved to the new one, none reached the broken one. */
  servedBy: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  failures: Record<string, number>;
}

const FLEET_SIZE = 3;
const CLUSTER = 'synkti-rollout-demo';

/** The demo cluster at a release: `broken` runs a workload that never answers its health check. */
export function rolloutDemoSpec(release: string, broken = false): ClusterSpec {
  const standIn = [process.execPath, '--import', tsxLoader(), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '15ms'];
  return validateCluster(
    {
      name: CLUSTER,
      pools: { worker: { count: FLEET_SIZE } },
      workload: {
        // Never binds its port: the node stays `joining`, so no router ever sends it a request.
        command: broken ? [process.execPath, '-e', 'setInterval(() => {}, 1000)'] : standIn,
        healthPath: '/health',
        env: { SYNKTI_DEMO_RELEASE: release },
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
    'the rollout demo cluster',
  );
}

function phaseOf(result: RolloutResult, outcomes: readonly RequestOutcome[], from: number, to: number): RolloutDemoPhase {
  const inPhase = outcomes.filter((o) => o.startedAt >= from && o.startedAt < to);
  return {
    generation: result.generation,
    outcome: result.outcome,
    requests: inPhase.length,
    failed: inPhase.filter((o) => !o.ok).length,
    tookMs: result.tookMs,
    surged: result.surged.length,
    drained: result.drained.length,
    removed: result.removed.length,
  };
}

export async function runRolloutDemo(options: RolloutDemoOptions): Promise<RolloutDemoSummary> {
  const v1 = rolloutDemoSpec('v1');
  const v2 = rolloutDemoSpec('v2');
  const broken = rolloutDemoSpec('v3-broken', true);
  const configFile = join(options.cwd, 'synkti.rollout-demo');
  const say = (text: string): void => {
    if (!options.json) process.stderr.write(`${text}\n`);
  };

  await down(v1, configFile, { force: true, timeoutMs: 20_000, quiet: true });
  say(`Synkti rollout demo: ${FLEET_SIZE} nodes on the local cloud serving the stand-in, generation ${configGeneration(v1)}`);
  const started = await up(v1, configFile, { nodes: FLEET_SIZE, timeoutMs: 90_000, json: true, quiet: options.json });
  if (!started.ok) throw new Error('the rollout demo fleet did not come up; see `synkti logs <id>`');

  const local = openLocalFleet(v1, configFile);
  const observer = new FleetObserver(local);
  await observer.start(300);
  const load = new LoadGenerator({ endpoints: () => observer.routerUrls(), concurrency: options.concurrency ?? 6, maxTokens: 24 });
  try {
    load.start();
    say(`streaming chat completions through the routers (${options.concurrency ?? 6} concurrent clients)`);
    const t0 = Date.now();
    // The good rollout: v1 → v2, one node at a time.
    const good = openFleet(v2, { configFile });
    let rolled: RolloutResult;
    try {
      rolled = await runRollout(good, { pool: 'worker', readyTimeoutMs: options.readyTimeoutMs ?? 60_000, pollMs: 250, onProgress: say });
    } finally {
      good.close();
    }
    const t1 = Date.now();
    // The broken rollout: v2 → a workload that never serves; it must stop and roll back.
    const bad = openFleet(broken, { configFile });
    let failed: RolloutResult;
    try {
      failed = await runRollout(bad, {
        pool: 'worker',
        readyTimeoutMs: options.brokenReadyTimeoutMs ?? 10_000,
        pollMs: 250,
        onProgress: say,
      });
    } finally {
      bad.close();
    }
    const t2 = Date.now();
    // A little traffic after the rollback, on the fleet that stayed.
    const until = Date.now() + 2000;
    while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
    await load.stop();
    const traffic = summarizeOutcomes(load.outcomes);
    const generations = Object.values(failed.after);
    const target = configGeneration(v2);
    const generationOf = new Map<string, string>([
      ...Object.entries(rolled.before),
      ...Object.entries(rolled.after),
      ...Object.entries(failed.after),
    ]);
    for (const id of [...rolled.surged, ...failed.surged])
      generationOf.set(id, failed.surged.includes(id) ? failed.generation : rolled.generation);
    const servedBy: Record<string, number> = {};
    for (const o of load.outcomes) {
      if (!o.ok) continue;
      const generation = (o.servedBy && generationOf.get(o.servedBy)) ?? '?';
      servedBy[generation] = (servedBy[generation] ?? 0) + 1;
    }
    const summary: RolloutDemoSummary = {
      requests: traffic.requests,
      failed: traffic.failed,
      rolledOut: rolled.outcome === 'rolled-out' ? Object.values(rolled.after).filter((g) => g === target).length : 0,
      rolledBack: failed.outcome === 'rolled-back' ? 1 : 0,
      generation: generations.length > 0 && generations.every((g) => g === generations[0]) ? generations[0]! : 'mixed',
      generations: { from: configGeneration(v1), to: target, broken: configGeneration(broken) },
      fleetSizeEnd: generations.length,
      onGeneration: generations.filter((g) => g === target).length,
      phases: { rollout: phaseOf(rolled, load.outcomes, t0, t1), broken: phaseOf(failed, load.outcomes, t1, t2) },
      servedBy,
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
    };
    return summary;
  } finally {
    observer.stop();
    await load.stop();
    local.close();
    if (!options.keep) await down(v1, configFile, { force: false, timeoutMs: 30_000, quiet: true });
  }
}

export function renderRolloutDemoSummary(summary: RolloutDemoSummary): string {
  const { rollout, broken } = summary.phases;
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
    `  rolled out     ${summary.rolledOut} nodes ${summary.generations.from} → ${summary.generations.to} in ${formatDuration(rollout.tookMs)} (${rollout.requests} requests, ${rollout.failed} failed)`,
    `  rolled back    ${summary.rolledBack}: ${summary.generations.broken} never served; ${broken.removed} new node(s) removed in ${formatDuration(broken.tookMs)} (${broken.requests} requests, ${broken.failed} failed)`,
    `  fleet          ${summary.fleetSizeEnd} ready, ${summary.onGeneration} on ${summary.generation}`,
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
  ].join('\n');
}
