/**
 * Skewed-load benchmark, where routing matters: 4 stand-in replicas, each an engine with a
 * batch of `--max-running` (more requests queue inside it), one of them decoding at half
 * the token rate. Synkti's router (engine-aware: each replica's vLLM gauges read every
 * second, as the gossip carries them) and nginx `least_conn` in front of the same replicas,
 * same load, same run; end-to-end TTFT p50/p99 at the client for each.
 *
 *   npm run bench -- router-skew [--streams 40] [--max-running 8] [--tokens 32] [--latency 20] [--duration 15] [--rounds 3]
 *
 * Also runs our router on outstanding requests alone (no engine metrics) as the ablation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '@synkti/core';
import { numberArg, parseArgs } from './lib/args.ts';
import { armDeadline, onExit, startTsChild, stopAll, waitReady } from './lib/children.ts';
import { ensureNginx, nginxVersion, startNginx } from './lib/nginx.ts';
import { runStreamLoad, type StreamResult } from './lib/run-stream-load.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- router-skew [options]

4 engine replicas (one at half the token rate): Synkti's router (engine-aware) vs nginx least_conn.
  --streams N       concurrent client streams (default 40; capacity is 4 x --max-running)
  --max-running N   requests each replica generates at once; more queue (default 8)
  --tokens N        tokens per stream (default 32)
  --latency MS      ms per token of the 3 normal replicas; the slow one takes twice (default 20)
  --duration S      seconds per measured run (default 15)
  --rounds N        rounds, each running every target once, order rotating (default 3)
Prints a table, then one JSON line {"bench":"router-skew",...}.`;

const log = (line: string): void => console.error(line);
const here = dirname(fileURLToPath(import.meta.url));
type Target = 'ours' | 'ours-no-engine' | 'nginx';

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const streams = Math.round(numberArg(args, 'streams', 40));
  const maxRunning = Math.round(numberArg(args, 'max-running', 8));
  const tokens = Math.round(numberArg(args, 'tokens', 32));
  const latency = numberArg(args, 'latency', 20);
  const durationS = numberArg(args, 'duration', 15);
  const rounds = Math.round(numberArg(args, 'rounds', 3));
  const streamS = (tokens * latency * 2) / 1000;
  const deadline = armDeadline(3 * rounds * (durationS + 2 * streamS + 35) * 1000 + 180_000, 'router-skew benchmark');
  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-router-skew-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const nginx = ensureNginx(log);
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const child = startTsChild(join(here, 'lib', 'stand-in-replica.ts'), {
        TOKEN_LATENCY_MS: String(i === 0 ? latency * 2 : latency),
        MAX_RUNNING: String(maxRunning),
        REPLICA_ID: `replica-${i}`,
      });
      ports.push((await waitReady<{ ready: true; port: number }>(child, `replica ${i}`)).port);
    }
    const upstreamUrls = ports.map((p) => `http://127.0.0.1:${p}`).join(',');
    const ours = startTsChild(join(here, 'lib', 'router-multi-server.ts'), { UPSTREAM_URLS: upstreamUrls, ENGINE_SCRAPE_MS: '1000' });
    const oursPort = (await waitReady<{ ready: true; port: number }>(ours, 'synkti router')).port;
    const plain = startTsChild(join(here, 'lib', 'router-multi-server.ts'), { UPSTREAM_URLS: upstreamUrls, ENGINE_SCRAPE_MS: '0' });
    const plainPort = (await waitReady<{ ready: true; port: number }>(plain, 'synkti router without engine metrics')).port;
    const nginxPort = await freeLoopbackPort();
    await startNginx({
      binary: nginx,
      dir,
      listenPort: nginxPort,
      upstreamPort: ports[0]!,
      upstreamPorts: ports,
      balance: 'least_conn',
      unbuffered: true,
    });
    const urls: Record<Target, string> = {
      ours: `http://127.0.0.1:${oursPort}`,
      'ours-no-engine': `http://127.0.0.1:${plainPort}`,
      nginx: `http://127.0.0.1:${nginxPort}`,
    };
    log(
      `router-skew bench: 4 replicas x ${maxRunning} running (replica-0 at ${latency * 2} ms/token, others ${latency}), ` +
        `${streams} streams of ${tokens} tokens, ${durationS} s per run, ${rounds} rounds; ${nginxVersion(nginx)}`,
    );
    const load = (url: string, s: number) => runStreamLoad(url, { streams, durationS: s, staggerMs: streamS * 1000, maxTokens: tokens });
    for (const name of ['ours', 'ours-no-engine', 'nginx'] as const) {
      log(`warm-up ${name}`);
      await load(urls[name], 3);
    }
    const runs: Record<Target, StreamResult[]> = { ours: [], 'ours-no-engine': [], nginx: [] };
    const orders: Target[][] = [
      ['ours', 'nginx', 'ours-no-engine'],
      ['nginx', 'ours-no-engine', 'ours'],
      ['ours-no-engine', 'ours', 'nginx'],
    ];
    for (let r = 0; r < rounds; r++) {
      for (const name of orders[r % orders.length]!) {
        const res = await load(urls[name], durationS);
        runs[name].push(res);
        log(
          `round ${r + 1}/${rounds} ${name.padEnd(14)}: ${res.requests} streams, failed ${res.failed}, TTFT p50 ${res.ttft_p50_ms} p99 ${res.ttft_p99_ms} ms`,
        );
      }
    }
    const sum = (name: Target) => ({
      p50: median(runs[name].map((x) => x.ttft_p50_ms)),
      p99: median(runs[name].map((x) => x.ttft_p99_ms)),
      requests: runs[name].reduce((a, x) => a + x.requests, 0),
      failed: runs[name].reduce((a, x) => a + x.failed, 0),
    });
    const o = sum('ours');
    const p = sum('ours-no-engine');
    const n = sum('nginx');
    console.log(
      table([
        ['router', 'TTFT p50 ms', 'TTFT p99 ms', 'streams', 'failed', 'runs p99'],
        [
          'synkti (engine-aware)',
          round(o.p50, 1),
          round(o.p99, 1),
          o.requests,
          o.failed,
          runs.ours.map((x) => round(x.ttft_p99_ms)).join(' '),
        ],
        [
          'synkti (outstanding only)',
          round(p.p50, 1),
          round(p.p99, 1),
          p.requests,
          p.failed,
          runs['ours-no-engine'].map((x) => round(x.ttft_p99_ms)).join(' '),
        ],
        ['nginx least_conn', round(n.p50, 1), round(n.p99, 1), n.requests, n.failed, runs.nginx.map((x) => round(x.ttft_p99_ms)).join(' ')],
      ]),
    );
    console.log(
      JSON.stringify({
        bench: 'router-skew',
        ttft_p50_ms: round(o.p50, 2),
        ttft_p99_ms: round(o.p99, 2),
        nginx_ttft_p50_ms: round(n.p50, 2),
        nginx_ttft_p99_ms: round(n.p99, 2),
        outstanding_only_ttft_p99_ms: round(p.p99, 2),
        failed: o.failed + n.failed + p.failed,
      }),
    );
    if (o.failed + n.failed + p.failed > 0) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
