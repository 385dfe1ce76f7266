/**
 * The agent's footprint, from its packed release: what a worker downloads, holds and waits for.
 *
 *   npm run bench -- agent-footprint [--rest 30s-in-seconds] [--status-runs 9] [--repo-cli]
 *
 * Packs the release (`synkti worker pack`'s packAgentArtifact), installs it into a scratch
 * root (unpacked, as the boot script does), starts a local fleet of 3 whose instances boot
 * it (SYNKTI_AGENT_ENTRY), and reports: the release's compressed size; each agent's RSS
 * after the fleet has been at rest 30 s; the time from an agent process's start (its host
 * logs "boot command started") to its "joined the fleet" log line, median of 5 (the 3 of
 * `up`, then 2 more from `scale worker 5`); and the installed CLI's `synkti status` (the
 * packed CLI installed with npm; --repo-cli: the repository's compiled CLI), median.
 * Targets on an idle machine: artifact <= 15 MB, RSS <= 80 MB, start->joined <= 1 s,
 * status <= 300 ms. The load average is printed: on a shared machine the times scale with it.
 * Final line: {"bench":"agent-footprint","artifact_bytes":..,"agent_rss_mb":..,"start_to_joined_ms":..,"cli_status_ms":..}
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packAgentArtifact } from '@synkti/agent/release';
import { installPacked } from './cli.ts';
import { numberArg, parseArgs } from './lib/args.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- agent-footprint [options]

Packs the agent release, installs it into a scratch root, starts a local fleet of 3 from
it and reports the release size, each agent's RSS at rest, start->joined (median of 5) and
the installed CLI's status latency.
  --rest S          seconds the fleet rests before RSS is read (default 30)
  --status-runs N   measured runs of \`synkti status\` (default 9, after one warm-up)
  --repo-cli        use the repository's compiled CLI instead of packing and installing one
Prints a table, then one JSON line {"bench":"agent-footprint",...}.`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_CLI = join(ROOT, 'packages/cli/bin/synkti.mjs');
const CLUSTER = 'bench-footprint';
const log = (line: string): void => console.error(line);

interface NodeStatus {
  id: string;
  state: string;
  pids?: { agent?: number };
}

/** Runs the CLI; throws with its stderr when it fails. */
function cli(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 300_000): { stdout: string; ms: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0)
    throw new Error(
      `synkti ${args.join(' ')} exited ${String(result.status ?? result.signal)}: ${(result.stderr || result.stdout).slice(-800)}`,
    );
  return { stdout: result.stdout, ms };
}

/** The RSS of `pid` when it is the release's agent (its command line names `entry`). */
function agentRssMb(pid: number, entry: string): number | undefined {
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(entry)) return undefined;
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** RSS SAMPLES readings of each agent, 1 s apart: the median of each (a reading can land mid-collection). */
const SAMPLES = 5;

/** ms from the host's "boot command started" to the agent's "joined the fleet", from an instance's console log. */
function startToJoined(consoleLog: string): number | undefined {
  const text = readFileSync(consoleLog, 'utf8');
  const started = /^\[synkti-local-host (\S+)\] boot command started/m.exec(text)?.[1];
  const joined = /^\{.*"time":"([^"]+)".*"msg":"joined the fleet"/m.exec(text)?.[1];
  if (started === undefined || joined === undefined) return undefined;
  return Date.parse(joined) - Date.parse(started);
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const restS = numberArg(args, 'rest', 30);
  const statusRuns = Math.max(1, Math.round(numberArg(args, 'status-runs', 9)));
  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-footprint-'));
  let bin = REPO_CLI;
  let env: NodeJS.ProcessEnv = process.env;
  let up = false;
  try {
    log('packing the agent release');
    const artifact = await packAgentArtifact({ outDir: join(dir, 'artifacts'), version: '0.0.0-bench' });
    const release = join(dir, 'root', 'opt', 'synkti', artifact.version);
    mkdirSync(release, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', artifact.file, '-C', release, '--strip-components=1'], { encoding: 'utf8' });
    if (untar.status !== 0) throw new Error(`tar failed: ${untar.stderr}`);
    const entry = join(release, 'bin', 'synkti-agent.mjs');
    if (!args.has('repo-cli')) {
      log('packing and installing the CLI (scripts/pack-cli.mjs, npm install -g into a scratch prefix)');
      bin = installPacked(dir);
    }
    const project = join(dir, 'project');
    mkdirSync(project);
    env = { ...process.env, SYNKTI_AGENT_ENTRY: entry, SYNKTI_LOG_LEVEL: 'info' };
    cli(bin, ['init', '--name', CLUSTER], project, env);
    log('starting a local fleet of 3 from the release (synkti up --nodes 3)');
    up = true;
    cli(bin, ['up', '--nodes', '3'], project, env);
    log(`resting ${restS} s`);
    await new Promise((resolve) => setTimeout(resolve, restS * 1000));
    const nodes = JSON.parse(cli(bin, ['status', '--json'], project, env).stdout) as NodeStatus[];
    const readings = new Map<string, number[]>(nodes.map((n) => [n.id, []]));
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const n of nodes) {
        const mb = n.pids?.agent === undefined ? undefined : agentRssMb(n.pids.agent, entry);
        if (mb !== undefined) readings.get(n.id)!.push(mb);
      }
    }
    const rss = nodes.map((n) => ({
      id: n.id,
      state: n.state,
      rssMb: readings.get(n.id)!.length === SAMPLES ? median(readings.get(n.id)!) : undefined,
    }));
    if (rss.length !== 3 || rss.some((r) => r.rssMb === undefined))
      throw new Error(`expected 3 agents of the release, each read ${SAMPLES} times: ${JSON.stringify(rss)}`);

    cli(bin, ['status'], project, env); // warm-up: the OS file cache
    const statusMs: number[] = [];
    for (let i = 0; i < statusRuns; i++) statusMs.push(cli(bin, ['status'], project, env).ms);

    log('2 more nodes for start->joined samples (synkti scale worker 5)');
    cli(bin, ['scale', 'worker', '5'], project, env);
    const instancesDir = join(project, '.synkti', CLUSTER, 'instances');
    const joined = readdirSync(instancesDir)
      .map((id) => join(instancesDir, id, 'console.log'))
      .filter((file) => existsSync(file))
      .map(startToJoined)
      .filter((ms): ms is number => ms !== undefined);
    if (joined.length < 5) throw new Error(`only ${joined.length} instances logged joining`);

    const agentRss = Math.max(...rss.map((r) => r.rssMb!));
    const load = loadavg().map((l) => round(l, 1));
    console.log(
      table([
        ['measure', 'value', 'target'],
        ['release (compressed)', `${round(artifact.bytes / 1e6, 2)} MB (${artifact.platform})`, '<= 15 MB'],
        ...rss.map((r) => [`agent RSS at rest ${restS} s, ${r.id} (median of ${SAMPLES})`, `${round(r.rssMb!, 1)} MB`, '<= 80 MB']),
        [
          `start -> joined (median of ${joined.length})`,
          `${round(median(joined))} ms (${joined.map((ms) => round(ms)).join(', ')})`,
          '<= 1000 ms',
        ],
        [`synkti status (median of ${statusRuns})`, `${round(median(statusMs))} ms`, '<= 300 ms'],
      ]),
    );
    console.log(`(load average ${load.join(' ')}; ${bin === REPO_CLI ? 'repository CLI' : 'installed CLI'})`);
    console.log(
      JSON.stringify({
        bench: 'agent-footprint',
        artifact_bytes: artifact.bytes,
        agent_rss_mb: round(agentRss, 1),
        start_to_joined_ms: round(median(joined)),
        cli_status_ms: round(median(statusMs)),
      }),
    );
  } finally {
    if (up) spawnSync(process.execPath, [bin, 'down', '--force', '--timeout', '20s'], { cwd: join(dir, 'project'), env, timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}
