import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TAG_CLUSTER, formatDuration, validateCluster, type ClusterSpec } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import { down } from '../commands/down.ts';
import { up } from '../commands/up.ts';
import { FleetObserver } from '../fleet-observer.ts';
import { openLocalFleet, tsxLoader } from '../local-fleet.ts';
import { createProgress } from '../output.ts';
import { LoadGenerator, summarizeOutcomes } from './load-generator.ts';

export const STAND_IN_MAIN = fileURLToPath(new URL('../../../agent/src/stand-in/main.ts', import.meta.url));

export interface DemoOptions {
  /** How long traffic runs. @default 60000 */
  durationMs: number;
  /** Concurrent client streams. @default 8 */
  concurrency: number;
  json: boolean;
  /** Leave the fleet running afterwards. */
  keep: boolean;
  cwd: string;
}

export interface DemoSummary {
  requests: number;
  failed: number;
  preemptions: number;
  crashes: number;
  replacements: number;
  fleetSizeStart: number;
  fleetSizeEnd: number;
  p50Ms: number;
  p99Ms: number;
  /** Failures grouped by what the client saw. */
  failures: Record<string, number>;
  /** How long the fleet took to be back at full size after the last event. */
  recoveredInMs: number | undefined;
}

const FLEET_SIZE = 3;

/** The demo fleet: three workers serving the stand-in model server, with fast timeouts. */
export function demoSpec(): ClusterSpec {
  return validateCluster(
    {
      name: 'synkti-demo',
      pools: { worker: { count: FLEET_SIZE } },
      workload: {
        command: [process.execPath, '--import', tsxLoader(), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '15ms'],
        healthPath: '/health',
        startupTimeout: '30s',
      },
      timeouts: {
        gossipInterval: '500ms',
        failureTimeout: '2s',
        listInterval: '5s',
        noticePollInterval: '1s',
        drainMargin: '2s',
        shutdownGrace: '10s',
      },
    },
    'the demo cluster',
  );
}

/**
 * `npm start` / `synkti demo`: a local fleet of 3 serving streaming chat completions
 * through its routers while one node is preempted (real IMDSv2 notice) and another is
 * killed with SIGKILL; prints a live view and a summary.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const spec = demoSpec();
  const configFile = join(options.cwd, 'synkti.demo');
  const say = (text: string): void => {
    if (!options.json) console.error(text);
  };
  const progress = createProgress(process.stderr, options.json);

  // A previous demo that was interrupted may have left nodes behind.
  await down(spec, configFile, { force: true, timeoutMs: 20_000, quiet: true });
  say(`Synkti demo: a fleet of ${FLEET_SIZE} nodes on the local cloud, each running the stand-in model server (no model, filler tokens).`);
  const started = await up(spec, configFile, { nodes: FLEET_SIZE, timeoutMs: 60_000, json: true, quiet: options.json });
  if (!started.ok) throw new Error('the demo fleet did not come up; see `synkti logs <id>`');
  say(`fleet ready: ${started.reports.map((r) => r.record.id).join(', ')}`);

  const fleet = openLocalFleet(spec, configFile);
  const observer = new FleetObserver(fleet);
  await observer.start(300);
  const load = new LoadGenerator({ endpoints: () => observer.routerUrls(), concurrency: options.concurrency, maxTokens: 24 });
  const events: string[] = [];
  let preemptions = 0;
  let crashes = 0;
  let lastEventAt = 0;
  let recoveredAt: number | undefined;
  let sawDrop = false;
  const t0 = Date.now();
  load.start();
  say(
    `streaming chat completions through the routers for ${formatDuration(options.durationMs)} (${options.concurrency} concurrent clients)`,
  );

  const noticeMs = Math.min(20_000, Math.max(5000, Math.round(options.durationMs * 0.3)));
  const preemptAt = t0 + options.durationMs * 0.2;
  const killAt = t0 + options.durationMs * 0.55;
  let preemptedId: string | undefined;
  const view = setInterval(() => {
    const done = load.outcomes.length;
    const failed = load.outcomes.filter((o) => !o.ok).length;
    const elapsed = Date.now() - t0;
    // Recovery: after the kill, the ready count must first drop, then be back at full size.
    if (crashes > 0 && observer.readyCount() < FLEET_SIZE) sawDrop = true;
    if (sawDrop && recoveredAt === undefined && observer.readyCount() >= FLEET_SIZE) recoveredAt = Date.now();
    progress.update(
      `${formatDuration(elapsed)}  requests ${done - failed} ok / ${failed} failed  ${(done / Math.max(1, elapsed / 1000)).toFixed(1)} req/s  ready nodes ${observer.readyCount()}/${FLEET_SIZE}  ${events.at(-1) ?? ''}`,
    );
  }, 500);
  view.unref();

  try {
    while (Date.now() - t0 < options.durationMs) {
      const now = Date.now();
      if (!preemptedId && now >= preemptAt) {
        const target = (await observer.instances())[0];
        if (target) {
          await fleet.cloud.instances.preempt(target.id, { noticeInMs: noticeMs });
          preemptedId = target.id;
          preemptions += 1;
          lastEventAt = now;
          events.push(`preempted ${target.id} (notice ${formatDuration(noticeMs)})`);
          progress.done(`${formatDuration(now - t0)}  spot interruption notice for ${target.id}: reclaimed in ${formatDuration(noticeMs)}`);
        }
      }
      if (crashes === 0 && now >= killAt) {
        const candidates = (await observer.instances()).filter((r) => r.id !== preemptedId && r.state === 'running');
        const target = candidates[0];
        if (target) {
          await fleet.cloud.instances.kill(target.id);
          crashes += 1;
          lastEventAt = Date.now();
          events.push(`killed ${target.id} (SIGKILL)`);
          progress.done(`${formatDuration(now - t0)}  kill -9 ${target.id}: no notice, the fleet must notice and replace it`);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await load.stop();
    clearInterval(view);
    progress.done();

    // The fleet must come back to its size by itself.
    const recoverBy = Date.now() + 60_000;
    while (Date.now() < recoverBy && observer.readyCount() < FLEET_SIZE) {
      progress.update(`waiting for the fleet to be back at ${FLEET_SIZE} ready nodes (now ${observer.readyCount()})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    if (sawDrop && recoveredAt === undefined && observer.readyCount() >= FLEET_SIZE) recoveredAt = Date.now();
    const recoveredInMs = recoveredAt !== undefined ? recoveredAt - lastEventAt : undefined;
    progress.done();

    const outcomes = load.outcomes;
    const traffic = summarizeOutcomes(outcomes);
    const summary: DemoSummary = {
      requests: traffic.requests,
      failed: traffic.failed,
      preemptions,
      crashes,
      replacements: (await observer.replacements()).length,
      fleetSizeStart: started.reports.length,
      fleetSizeEnd: observer.readyCount(),
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
      recoveredInMs,
    };
    return summary;
  } finally {
    clearInterval(view);
    observer.stop();
    await load.stop();
    fleet.close();
    if (!options.keep) {
      await down(spec, configFile, { force: false, timeoutMs: 30_000, quiet: options.json });
    } else {
      say(
        'fleet left running: `synkti --config synkti.demo status` is not a config; use `synkti demo` again or `npm run synkti -- down` with a config',
      );
    }
  }
}

export function renderSummary(summary: DemoSummary): string {
  const lines = [
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
    `  preemptions    ${summary.preemptions}  (drained inside the notice: traffic cut over at once)`,
    `  crashes        ${summary.crashes}  (kill -9: only streams in flight on that node may fail)`,
    `  replacements   ${summary.replacements}`,
    `  fleet size     ${summary.fleetSizeStart} → ${summary.fleetSizeEnd}${summary.recoveredInMs !== undefined ? `  (back to full size ${formatDuration(summary.recoveredInMs)} after the last event)` : ''}`,
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
  ];
  return lines.join('\n');
}

export async function leftoverInstances(cwd: string): Promise<number> {
  const spec = demoSpec();
  const fleet = openLocalFleet(spec, join(cwd, 'synkti.demo'));
  try {
    return (await listAllInstances(fleet.cloud.instances, { tags: { [TAG_CLUSTER]: spec.name } })).length;
  } finally {
    fleet.close();
  }
}
