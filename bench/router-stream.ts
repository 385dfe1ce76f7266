/**
 * Streaming router benchmark: what a proxy adds to token streams, the load a GPU node
 * really sees (tens of requests/s, many concurrent streams, thousands of token events/s).
 * Synkti's router and nginx (`proxy_buffering off`, one worker) in front of the same SSE
 * upstream, and the upstream direct as the baseline, same run.
 *
 *   npm run bench -- router-stream [--streams 64] [--rate 50] [--tokens 100] [--duration 10] [--rounds 3] [--warmup 90]
 *
 * Each run: `--streams` closed-loop streams of `--tokens` events at `--rate` events/s each,
 * from a separate client process. Reported per target: TTFT p50/p99 and per-token delay
 * p50/p99 (event send time at the upstream to arrival at the client), each minus the
 * direct run's of the same round ("added"), and the proxy's CPU µs per event it carried
 * (utime+stime from /proc over the run, nginx master and workers together; per-request work
 * is included, spread over the events). Medians over the rounds; one JSON line at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '@synkti/core';
import { numberArg, parseArgs } from './lib/args.ts';
import { armDeadline, onExit, startTsChild, stopAll, waitReady } from './lib/children.ts';
import { ensureNginx, nginxVersion, startNginx } from './lib/nginx.ts';
import { cpuMicros } from './lib/proc-cpu.ts';
import { runStreamLoad, type StreamResult } from './lib/run-stream-load.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- router-stream [options]

Synkti's router vs nginx (proxy_buffering off, 1 worker) vs direct, streaming SSE.
  --streams N     concurrent streams (default 64)
  --rate R        token events per second per stream (default 50)
  --tokens N      events per stream (default 100)
  --duration S    seconds per measured run (default 10)
  --rounds N      rounds; each runs direct, ours and nginx, order rotating (default 3)
  --warmup S      seconds of warm-up per proxy before measuring (default 90: V8 is
                  still compiling the router's per-request paths for about a minute;
                  the warm-up's own CPU per event is printed too)
Prints a table, then one JSON line {"bench":"router-stream",...}.`;

const log = (line: string): void => console.error(line);
const here = dirname(fileURLToPath(import.meta.url));

type Target = 'direct' | 'ours' | 'nginx';

interface Run extends StreamResult {
  cpuUsPerEvent: number;
}

/** Runs the load client to its end. */
function runClient(url: string, streams: number, durationS: number, staggerMs: number): Promise<StreamResult> {
  return runStreamLoad(url, { streams, durationS, staggerMs });
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const streams = Math.round(numberArg(args, 'streams', 64));
  const rate = numberArg(args, 'rate', 50);
  const tokens = Math.round(numberArg(args, 'tokens', 100));
  const durationS = numberArg(args, 'duration', 10);
  const rounds = Math.round(numberArg(args, 'rounds', 3));
  const warmupS = numberArg(args, 'warmup', 90);
  // The upstream is the same process for every target and warms up with the proxies' warm-ups.
  const directWarmupS = Math.min(3, warmupS);
  const streamS = tokens / rate;
  const budgetMs = (2 * warmupS + directWarmupS + 3 * streamS + 3 * rounds * (durationS + streamS + 5)) * 1000 + 180_000;
  const deadline = armDeadline(budgetMs, 'router-stream benchmark');
  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-router-stream-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const nginx = ensureNginx(log);
    const upstream = startTsChild(join(here, 'lib', 'sse-upstream-server.ts'), { TOKENS: String(tokens), TOKEN_RATE: String(rate) });
    const up = await waitReady<{ ready: true; port: number }>(upstream, 'SSE upstream');
    const upstreamUrl = `http://127.0.0.1:${up.port}`;

    const ours = startTsChild(join(here, 'lib', 'router-server.ts'), { UPSTREAM_URL: upstreamUrl });
    const oursReady = await waitReady<{ ready: true; port: number }>(ours, 'synkti router');

    const nginxPort = await freeLoopbackPort();
    const nginxProc = await startNginx({ binary: nginx, dir, listenPort: nginxPort, upstreamPort: up.port, unbuffered: true });

    const urls: Record<Target, string> = {
      direct: upstreamUrl,
      ours: `http://127.0.0.1:${oursReady.port}`,
      nginx: `http://127.0.0.1:${nginxPort}`,
    };
    const cpuOf: Record<Target, () => number> = {
      direct: () => 0,
      ours: () => cpuMicros(ours.pid!),
      nginx: () => cpuMicros(nginxProc.pid!, true),
    };

    log(
      `router-stream bench: ${streams} streams x ${rate} tokens/s, ${tokens} tokens each, ${durationS} s per run, ${rounds} rounds; ${nginxVersion(nginx)}`,
    );
    // A proxy is measured in its steady state. Our router is JavaScript: V8 compiles its
    // per-request paths as they turn hot, which at tens of requests/s takes tens of seconds,
    // and that compiling (on V8's helper threads, counted in /proc) added 5-18 % to the
    // router's CPU per event after the old 3 s warm-up (two same-code A/B runs, 3 s vs 40 s
    // warm-up; docs/field-notes.md). Ten back-to-back 10 s runs through one router (idle
    // machine) fell from 35.9 to 25-28 us/event only after about 60 s, hence 90 s. The
    // warm-up's own cost is shown.
    const warmupCpu: Partial<Record<Target, number>> = {};
    for (const name of ['direct', 'ours', 'nginx'] as const) {
      const seconds = name === 'direct' ? directWarmupS : warmupS;
      log(`warm-up ${name} (${seconds} s)`);
      const cpu0 = cpuOf[name]();
      const w = await runClient(urls[name], streams, seconds, streamS * 1000);
      if (w.failed > 0 || w.events === 0) throw new Error(`warm-up through ${name}: ${w.failed} failed, ${w.events} events`);
      warmupCpu[name] = (cpuOf[name]() - cpu0) / w.events;
      if (name !== 'direct') log(`warm-up ${name}: CPU ${round(warmupCpu[name]!, 1)} us/event over ${w.events} events`);
    }

    const runs: Record<Target, Run[]> = { direct: [], ours: [], nginx: [] };
    const orders: Target[][] = [
      ['direct', 'ours', 'nginx'],
      ['nginx', 'direct', 'ours'],
      ['ours', 'nginx', 'direct'],
    ];
    for (let r = 0; r < rounds; r++) {
      for (const name of orders[r % orders.length]!) {
        const cpu0 = cpuOf[name]();
        const res = await runClient(urls[name], streams, durationS, streamS * 1000);
        const cpu = cpuOf[name]() - cpu0;
        const run: Run = { ...res, cpuUsPerEvent: res.events > 0 ? cpu / res.events : Number.NaN };
        runs[name].push(run);
        log(
          `round ${r + 1}/${rounds} ${name.padEnd(6)}: ${res.requests} streams, ${res.events} events, failed ${res.failed}, ` +
            `TTFT p50 ${res.ttft_p50_ms} p99 ${res.ttft_p99_ms} ms, delay p50 ${res.delay_p50_ms} p99 ${res.delay_p99_ms} ms` +
            (name === 'direct' ? '' : `, CPU ${round(run.cpuUsPerEvent, 1)} us/event`),
        );
      }
    }

    // "Added" is taken per round against that round's direct run, then the median over rounds.
    const added = (name: 'ours' | 'nginx', key: keyof StreamResult): number =>
      median(runs[name].map((x, i) => x[key] - runs.direct[i]![key]));
    const sum = (name: 'ours' | 'nginx') => ({
      ttftP50: added(name, 'ttft_p50_ms'),
      ttftP99: added(name, 'ttft_p99_ms'),
      delayP50: added(name, 'delay_p50_ms'),
      delayP99: added(name, 'delay_p99_ms'),
      cpu: median(runs[name].map((x) => x.cpuUsPerEvent)),
      failed: runs[name].reduce((a, x) => a + x.failed, 0),
      events: runs[name].reduce((a, x) => a + x.events, 0),
    });
    const o = sum('ours');
    const n = sum('nginx');
    const d = runs.direct;
    console.log(
      table([
        ['target', 'added TTFT p50 ms', 'p99 ms', 'added delay p50 ms', 'p99 ms', 'CPU us/event', 'failed', 'events'],
        [
          'synkti router',
          round(o.ttftP50, 2),
          round(o.ttftP99, 2),
          round(o.delayP50, 2),
          round(o.delayP99, 2),
          round(o.cpu, 1),
          o.failed,
          o.events,
        ],
        [
          'nginx 1 worker',
          round(n.ttftP50, 2),
          round(n.ttftP99, 2),
          round(n.delayP50, 2),
          round(n.delayP99, 2),
          round(n.cpu, 1),
          n.failed,
          n.events,
        ],
        [
          'direct (absolute)',
          median(d.map((x) => x.ttft_p50_ms)),
          median(d.map((x) => x.ttft_p99_ms)),
          median(d.map((x) => x.delay_p50_ms)),
          median(d.map((x) => x.delay_p99_ms)),
          '-',
          d.reduce((a, x) => a + x.failed, 0),
          d.reduce((a, x) => a + x.events, 0),
        ],
      ]),
    );
    log(
      `added per-token delay p50/p99 ms: ours ${round(o.delayP50, 3)}/${round(o.delayP99, 3)}, nginx ${round(n.delayP50, 3)}/${round(n.delayP99, 3)}; ` +
        `added TTFT p50 nginx ${round(n.ttftP50, 3)} ms; CPU ratio ours/nginx ${round(o.cpu / n.cpu, 2)}`,
    );
    console.log(
      JSON.stringify({
        bench: 'router-stream',
        ttft_added_p50_ms: round(o.ttftP50, 3),
        ttft_added_p99_ms: round(o.ttftP99, 3),
        nginx_ttft_added_p99_ms: round(n.ttftP99, 3),
        cpu_us_per_event: round(o.cpu, 2),
        nginx_cpu_us_per_event: round(n.cpu, 2),
        warmup_s: warmupS,
        warmup_cpu_us_per_event: round(warmupCpu.ours!, 2),
      }),
    );
    if (o.failed > 0 || n.failed > 0) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
