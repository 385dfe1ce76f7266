/**
 * Router benchmark: Synkti's router against Debian's nginx as reverse proxies in front of
 * the same upstream, on this machine, under the same closed-loop load.
 *
 *   npm run bench -- router [--duration 10] [--rounds 3] [--connections 32] [--warmup 3]
 *
 * Processes: the upstream (node:http, ~200-byte JSON), our router (one Node process) and
 * nginx (one worker) each run apart; autocannon drives the load from this process. Runs
 * alternate ours/nginx for each round; the report gives medians and ends with one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '@synkti/core';
import { numberArg, parseArgs } from './lib/args.ts';
import { armDeadline, onExit, startTsChild, stopAll, waitReady } from './lib/children.ts';
import { runLoad, type LoadResult } from './lib/load.ts';
import { ensureNginx, nginxVersion, startNginx } from './lib/nginx.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- router [options]

Synkti's router vs nginx (1 worker) as reverse proxies to the same upstream.
  --duration S      seconds per measured run (default 10)
  --rounds N        rounds; each runs ours and nginx once, alternating order (default 3)
  --connections N   concurrent keep-alive connections (default 32)
  --warmup S        seconds of warm-up for each proxy before measuring (default 3)
Prints a table, then one JSON line {"bench":"router",...}.`;

const log = (line: string): void => console.error(line);

async function checkTarget(url: string, what: string, expectedBytes: number): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  if (res.status !== 200 || Buffer.byteLength(text) !== expectedBytes) {
    throw new Error(`${what} at ${url} answered ${res.status} with ${Buffer.byteLength(text)} bytes; expected 200 with ${expectedBytes}`);
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const durationS = numberArg(args, 'duration', 10);
  const rounds = Math.round(numberArg(args, 'rounds', 3));
  const connections = Math.round(numberArg(args, 'connections', 32));
  const warmupS = numberArg(args, 'warmup', 3);
  const budgetMs = (2 * warmupS + 2 * rounds * durationS) * 1000 + 120_000;
  const deadline = armDeadline(budgetMs, 'router benchmark');
  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-router-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const nginx = ensureNginx(log);
    const here = dirname(fileURLToPath(import.meta.url));

    const upstream = startTsChild(join(here, 'lib', 'upstream-server.ts'));
    const up = await waitReady<{ ready: true; port: number; bytes: number }>(upstream, 'upstream');
    const upstreamUrl = `http://127.0.0.1:${up.port}`;

    const ours = startTsChild(join(here, 'lib', 'router-server.ts'), { UPSTREAM_URL: upstreamUrl });
    const oursReady = await waitReady<{ ready: true; port: number }>(ours, 'synkti router');
    const oursUrl = `http://127.0.0.1:${oursReady.port}/v1/completions`;

    const nginxPort = await freeLoopbackPort();
    await startNginx({ binary: nginx, dir, listenPort: nginxPort, upstreamPort: up.port });
    const nginxUrl = `http://127.0.0.1:${nginxPort}/v1/completions`;

    await checkTarget(`${upstreamUrl}/v1/completions`, 'upstream', up.bytes);
    await checkTarget(oursUrl, 'synkti router', up.bytes);
    await checkTarget(nginxUrl, 'nginx', up.bytes);

    log(`router bench: ${connections} connections, ${durationS} s per run, ${rounds} rounds, ${warmupS} s warm-up; ${nginxVersion(nginx)}`);
    const targets = { ours: oursUrl, nginx: nginxUrl } as const;
    for (const name of ['ours', 'nginx'] as const) {
      log(`warm-up ${name} (${warmupS} s)`);
      await runLoad(targets[name], { connections, durationS: warmupS });
    }
    const results: Record<'ours' | 'nginx', LoadResult[]> = { ours: [], nginx: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['ours', 'nginx'] as const) : (['nginx', 'ours'] as const);
      for (const name of order) {
        const res = await runLoad(targets[name], { connections, durationS });
        results[name].push(res);
        log(
          `round ${r + 1}/${rounds} ${name.padEnd(5)}: ${Math.round(res.rps)} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, errors ${res.errors}`,
        );
      }
    }

    const summary = (name: 'ours' | 'nginx') => ({
      rps: median(results[name].map((x) => x.rps)),
      p50: median(results[name].map((x) => x.p50Ms)),
      p99: median(results[name].map((x) => x.p99Ms)),
      errors: results[name].reduce((a, x) => a + x.errors, 0),
    });
    const o = summary('ours');
    const n = summary('nginx');
    const ratio = o.rps / n.rps;
    console.log(
      table([
        ['proxy', 'req/s (median)', 'p50 ms', 'p99 ms', 'errors', 'runs (req/s)'],
        ['synkti router', Math.round(o.rps), o.p50, o.p99, o.errors, results.ours.map((x) => Math.round(x.rps)).join(' ')],
        ['nginx 1 worker', Math.round(n.rps), n.p50, n.p99, n.errors, results.nginx.map((x) => Math.round(x.rps)).join(' ')],
      ]),
    );
    console.log(`ratio ours/nginx: ${round(ratio, 3)}`);
    console.log(
      JSON.stringify({
        bench: 'router',
        ours_rps: Math.round(o.rps),
        nginx_rps: Math.round(n.rps),
        ratio: round(ratio, 3),
        ours_p99_ms: o.p99,
        nginx_p99_ms: n.p99,
        rounds,
        connections,
        duration_s: durationS,
        ours_errors: o.errors,
        nginx_errors: n.errors,
      }),
    );
    if (o.errors > 0 || n.errors > 0) process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
