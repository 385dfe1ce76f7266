/**
 * `synkti demo --scenario behind-lb`: clients reach the routers through a load balancer
 * (HAProxy, health-checking each router on /_synkti/router/health, as an ALB would), and
 * the node whose router carries the most traffic gets a spot notice; once its replacement
 * is in the balancer's rotation, the next busiest does. The promise under test: traffic
 * that enters through the preempted node fails nothing either. Clients do not retry: a
 * request the balancer failed counts as failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SynktiError, TAG_PORT_ROUTER, TAG_REPLACES, formatDuration } from '@synkti/core';
import { down } from '../commands/down.ts';
import { up } from '../commands/up.ts';
import { FleetObserver } from '../fleet-observer.ts';
import { openLocalFleet, stateDirFor } from '../local-fleet.ts';
import { createProgress } from '../output.ts';
import { startHaproxy, type Haproxy, type HaproxyBackendTotals, type HaproxyServer, type HaproxyTarget } from './haproxy.ts';
import { LoadGenerator, summarizeOutcomes } from './load-generator.ts';
import { demoSpec } from './demo.ts';

export interface BehindLbOptions {
  /** Concurrent client streams. @default 8 */
  concurrency: number;
  json: boolean;
  /** Leave the fleet running afterwards (HAProxy is always stopped). */
  keep: boolean;
  cwd: string;
  /** Warning each preempted node gets before it is reclaimed. @default 20000 */
  noticeMs?: number | undefined;
  /** Nodes preempted, one after the other (the next once the previous one's replacement is in rotation). @default 2 */
  preemptions?: number | undefined;
  /** Traffic before the first notice and after the last recovery. @default 5000 */
  settleMs?: number | undefined;
  /** Longest wait for a preempted node's replacement to be in rotation, after its notice time. @default 60000 */
  recoveryTimeoutMs?: number | undefined;
  /**
   * Times HAProxy tries another router when a connection to one failed (refused). 0 is
   * stricter and closer to an ALB, which answers 502 to a refused connection. @default 2
   */
  balancerRetries?: number | undefined;
}

/** What happened to one preempted node, times from its notice. */
export interface PreemptionReport {
  id: string;
  /** When its notice was given, from the start of the traffic. */
  noticeAtMs: number;
  /** New sessions per second its router was taking when it was picked (the busiest). */
  sessionsPerSecond: number;
  noticeMs: number;
  /** When the balancer took it out of rotation (its health check answered 503). */
  outOfRotationAfterMs: number | undefined;
  /** Requests the balancer still sent it after the notice. */
  sessionsAfterNotice: number;
  /** The balancer's counters for it, last seen before it was deleted: errors it saw, attempts it redispatched elsewhere. */
  balancer:
    Pick<HaproxyServer, 'connectErrors' | 'responseErrors' | 'retries' | 'redispatches' | 'serverAborts' | 'responses5xx'> | undefined;
  replacement: string | undefined;
  /** When the replacement passed its health check and entered the rotation. */
  replacementInRotationAfterMs: number | undefined;
  /** When the node was gone from the fleet (drained and terminated, at the latest when reclaimed). */
  goneAfterMs: number | undefined;
}

export interface BehindLbSummary {
  scenario: 'behind-lb';
  requests: number;
  /** Requests that were not a complete successful stream (cut streams included). */
  failed: number;
  /** Streams that had begun (200, first bytes) and did not end with their final event. */
  cutMidStream: number;
  preemptions: number;
  replacements: number;
  fleetSizeStart: number;
  fleetSizeEnd: number;
  p50Ms: number;
  p99Ms: number;
  /** Failures grouped by what the client saw. */
  failures: Record<string, number>;
  /** The first 20 failed requests: when each started (from the start of the traffic), how long it ran, what the client saw. */
  failedRequests: { atMs: number; tookMs: number; error: string; cutMidStream: boolean }[];
  preempted: PreemptionReport[];
  /** HAProxy's own counters for the routers' backend. */
  balancer: HaproxyBackendTotals;
  /** Where HAProxy listened (stopped when the demo ends). */
  balancerUrl: string;
  /** HAProxy's log (server state changes with their reasons). */
  balancerLog: string;
  /** Steps that did not complete (e.g. a replacement that never entered the rotation). */
  problems: string[];
}

const FLEET_SIZE = 3;
const TICK_MS = 200;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runBehindLb(options: BehindLbOptions): Promise<BehindLbSummary> {
  const spec = demoSpec();
  const noticeMs = options.noticeMs ?? 20_000;
  // Shorter than the drain margin plus a notice poll, a notice leaves no time to drain.
  if (!(noticeMs >= 5000 && noticeMs <= 600_000)) {
    throw new SynktiError('E_USAGE', `--notice must be from 5s to 10 minutes, got ${formatDuration(noticeMs)}`, {
      hint: 'AWS gives 2 minutes; the demo default is 20s (e.g. --notice 20s)',
    });
  }
  const preemptionCount = options.preemptions ?? 2;
  const settleMs = options.settleMs ?? 5000;
  const recoveryTimeoutMs = options.recoveryTimeoutMs ?? 60_000;
  const configFile = join(options.cwd, 'synkti.demo');
  const say = (text: string): void => {
    if (!options.json) console.error(text);
  };
  const progress = createProgress(process.stderr, options.json);

  // HAProxy first: without it there is no scenario, and nothing has been started yet.
  // Its log (each server's state changes, with the check result) is kept beside the fleet's state.
  const balancerLog: string[] = [];
  const lb: Haproxy = await startHaproxy({
    retries: options.balancerRetries ?? 2,
    onLog: (line) => {
      if (balancerLog.length < 5000) balancerLog.push(`${new Date().toISOString()} ${line}`);
    },
  });
  const balancerLogFile = join(stateDirFor(spec, configFile), 'haproxy.log');
  const fleet = openLocalFleet(spec, configFile);
  const observer = new FleetObserver(fleet);
  let load: LoadGenerator | undefined;
  let ticking = true;
  let ticker: Promise<void> = Promise.resolve();
  try {
    await down(spec, configFile, { force: true, timeoutMs: 20_000, quiet: true });
    say(
      `Synkti demo, behind a load balancer: HAProxy (${lb.url}) in front of the routers of ${FLEET_SIZE} nodes, health-checking ${'/_synkti/router/health'} every 500 ms.`,
    );
    const started = await up(spec, configFile, { nodes: FLEET_SIZE, timeoutMs: 60_000, json: true, quiet: options.json });
    if (!started.ok) throw new Error('the demo fleet did not come up; see `synkti logs <id>`');
    await observer.start(300);

    // The balancer's registrations follow the cloud's running instances, as a target
    // group attached to an Auto Scaling group does; its health checks decide the traffic.
    let latest: HaproxyServer[] = [];
    const problems: string[] = [];
    const tick = async (): Promise<void> => {
      const targets: HaproxyTarget[] = (await observer.instances())
        .filter((r) => r.state === 'running')
        .map((r) => ({ name: r.id, host: r.privateIp, port: Number(r.tags[TAG_PORT_ROUTER] ?? spec.ports.router) }));
      await lb.sync(targets);
      latest = await lb.servers();
    };
    const inRotation = (): HaproxyServer[] => latest.filter((s) => s.status === 'UP');
    ticker = (async () => {
      // One failed round (a busy registry) is retried by the next; five in a row are a problem.
      let failedInARow = 0;
      while (ticking) {
        await tick().then(
          () => {
            failedInARow = 0;
          },
          (error: unknown) => {
            failedInARow += 1;
            const message = `load balancer sync failed ${failedInARow} times in a row: ${(error as Error).message}`;
            if (failedInARow === 5) problems.push(message);
          },
        );
        await sleep(TICK_MS);
      }
    })();
    const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> => {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (await check()) return true;
        await sleep(100);
      }
      problems.push(`timed out after ${formatDuration(timeoutMs)} waiting for ${what}`);
      return false;
    };
    if (!(await waitUntil(`${FLEET_SIZE} routers in the balancer's rotation`, () => inRotation().length === FLEET_SIZE, 30_000))) {
      throw new Error(`the load balancer did not see ${FLEET_SIZE} healthy routers: ${problems.join('; ')}`);
    }
    say(
      `fleet ready and in rotation: ${inRotation()
        .map((s) => s.name)
        .join(', ')}`,
    );

    load = new LoadGenerator({
      endpoints: () => [lb.url],
      concurrency: options.concurrency,
      maxTokens: 24,
      healthChecks: false,
      retryConnectionFailures: false,
    });
    const t0 = Date.now();
    const events: string[] = [];
    const view = setInterval(() => {
      const outcomes = load!.outcomes;
      const failed = outcomes.filter((o) => !o.ok).length;
      progress.update(
        `${formatDuration(Date.now() - t0)}  requests ${outcomes.length - failed} ok / ${failed} failed  in rotation ${inRotation().length}/${FLEET_SIZE}  ${events.at(-1) ?? ''}`,
      );
    }, 500);
    view.unref();
    load.start();
    say(`streaming chat completions through the load balancer (${options.concurrency} concurrent clients, no client retries)`);
    await sleep(settleMs);

    const preempted: PreemptionReport[] = [];
    try {
      for (let n = 0; n < preemptionCount; n++) {
        // The busiest router: most new sessions over the last 2 s (open ones break a tie).
        const before = new Map(inRotation().map((s) => [s.name, s.sessions]));
        const sampledAt = Date.now();
        await sleep(2000);
        const candidates = inRotation()
          .filter((s) => before.has(s.name) && !preempted.some((p) => p.id === s.name))
          .map((s) => ({ server: s, delta: s.sessions - before.get(s.name)! }))
          .sort((a, b) => b.delta - a.delta || b.server.current - a.server.current);
        const pick = candidates[0];
        if (!pick) {
          problems.push(`preemption ${n + 1}: no router in rotation to preempt`);
          break;
        }
        const sessionsPerSecond = Math.round((pick.delta / ((Date.now() - sampledAt) / 1000)) * 10) / 10;
        const sessionsAtNotice = pick.server.sessions;
        const noticeAt = Date.now();
        await fleet.cloud.instances.preempt(pick.server.name, { noticeInMs: noticeMs });
        const report: PreemptionReport = {
          id: pick.server.name,
          noticeAtMs: noticeAt - t0,
          sessionsPerSecond,
          noticeMs,
          outOfRotationAfterMs: undefined,
          sessionsAfterNotice: 0,
          balancer: undefined,
          replacement: undefined,
          replacementInRotationAfterMs: undefined,
          goneAfterMs: undefined,
        };
        preempted.push(report);
        events.push(`notice for ${report.id}`);
        progress.done(
          `${formatDuration(noticeAt - t0)}  spot interruption notice for ${report.id} (busiest router: ${sessionsPerSecond} new sessions/s): reclaimed in ${formatDuration(noticeMs)}`,
        );

        const recovered = await waitUntil(
          `the replacement of ${report.id} in rotation`,
          async () => {
            const records = await observer.instances();
            const victim = latest.find((s) => s.name === report.id);
            if (victim) {
              report.sessionsAfterNotice = victim.sessions - sessionsAtNotice;
              const { connectErrors, responseErrors, retries, redispatches, serverAborts, responses5xx } = victim;
              report.balancer = { connectErrors, responseErrors, retries, redispatches, serverAborts, responses5xx };
            }
            if (report.outOfRotationAfterMs === undefined && (!victim || victim.status !== 'UP')) {
              report.outOfRotationAfterMs = Date.now() - noticeAt;
              events.push(`${report.id} out of rotation`);
              progress.done(
                `${formatDuration(Date.now() - t0)}  the load balancer took ${report.id} out of rotation ${formatDuration(report.outOfRotationAfterMs)} after the notice (its router's health answered 503)`,
              );
            }
            if (report.replacement === undefined) {
              report.replacement = records.find((r) => r.tags[TAG_REPLACES] === report.id)?.id;
              if (report.replacement) progress.done(`${formatDuration(Date.now() - t0)}  replacement ${report.replacement} launched`);
            }
            if (report.goneAfterMs === undefined && !records.some((r) => r.id === report.id)) {
              report.goneAfterMs = Date.now() - noticeAt;
              progress.done(
                `${formatDuration(Date.now() - t0)}  ${report.id} drained and gone, ${formatDuration(report.goneAfterMs)} after its notice`,
              );
            }
            if (
              report.replacement &&
              report.replacementInRotationAfterMs === undefined &&
              inRotation().some((s) => s.name === report.replacement)
            ) {
              report.replacementInRotationAfterMs = Date.now() - noticeAt;
              events.push(`${report.replacement} in rotation`);
              progress.done(`${formatDuration(Date.now() - t0)}  replacement ${report.replacement} passed its health check: in rotation`);
            }
            return (
              report.goneAfterMs !== undefined &&
              report.replacementInRotationAfterMs !== undefined &&
              inRotation().length === FLEET_SIZE &&
              observer.readyCount() === FLEET_SIZE
            );
          },
          noticeMs + recoveryTimeoutMs,
        );
        if (!recovered) break;
      }
      // Traffic goes on through the new fleet for a moment.
      await sleep(settleMs);
      await load.stop();
    } finally {
      clearInterval(view);
      progress.done();
    }

    const outcomes = load.outcomes;
    const traffic = summarizeOutcomes(outcomes);
    return {
      scenario: 'behind-lb',
      requests: traffic.requests,
      failed: traffic.failed,
      cutMidStream: outcomes.filter((o) => o.cutMidStream === true).length,
      preemptions: preempted.length,
      replacements: (await observer.replacements()).length,
      fleetSizeStart: started.reports.length,
      fleetSizeEnd: observer.readyCount(),
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
      failedRequests: outcomes
        .filter((o) => !o.ok)
        .slice(0, 20)
        .map((o) => ({ atMs: o.startedAt - t0, tookMs: o.ms, error: o.error ?? 'unknown', cutMidStream: o.cutMidStream === true })),
      preempted,
      balancer: await lb.totals(),
      balancerUrl: lb.url,
      balancerLog: balancerLogFile,
      problems,
    };
  } finally {
    ticking = false;
    await ticker;
    observer.stop();
    await load?.stop();
    await lb.stop();
    fleet.close();
    try {
      mkdirSync(dirname(balancerLogFile), { recursive: true });
      writeFileSync(balancerLogFile, balancerLog.map((line) => `${line}\n`).join(''), { mode: 0o600 });
    } catch {
      // best effort: the log is for reading afterwards
    }
    if (!options.keep) await down(spec, configFile, { force: false, timeoutMs: 30_000, quiet: options.json });
  }
}

export function renderBehindLbSummary(summary: BehindLbSummary): string {
  const ms = (value: number | undefined): string => (value === undefined ? 'never' : formatDuration(value));
  const lines = [
    '',
    'Summary (behind a load balancer)',
    `  requests       ${summary.requests}  (all through HAProxy, no client retries)`,
    `  failed         ${summary.failed}${
      summary.failed > 0
        ? `  (${Object.entries(summary.failures)
            .map(([k, v]) => `${v}× ${k}`)
            .join(', ')})`
        : ''
    }`,
    ...summary.failedRequests.map(
      (f) =>
        `    started at ${formatDuration(f.atMs)}, failed after ${formatDuration(f.tookMs)}: ${f.error}${f.cutMidStream ? ' (cut mid-stream)' : ''}`,
    ),
    `  cut mid-stream ${summary.cutMidStream}`,
    `  preemptions    ${summary.preemptions}`,
    ...summary.preempted.map(
      (p) =>
        `    ${p.id}: notice at ${formatDuration(p.noticeAtMs)}, out of rotation after ${ms(p.outOfRotationAfterMs)}, ${p.sessionsAfterNotice} requests after its notice, replacement ${p.replacement ?? 'none'} in rotation after ${ms(p.replacementInRotationAfterMs)}`,
    ),
    `  replacements   ${summary.replacements}`,
    `  fleet size     ${summary.fleetSizeStart} → ${summary.fleetSizeEnd}`,
    `  latency        p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (whole stream)`,
    `  balancer       ${summary.balancer.responses5xx} 5xx, ${summary.balancer.connectErrors} connection errors (${summary.balancer.redispatches} redispatched), ${summary.balancer.serverAborts} aborted by a router`,
    ...summary.problems.map((p) => `  problem        ${p}`),
  ];
  return lines.join('\n');
}
