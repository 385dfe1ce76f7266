/**
 * CLI latency: how long the read commands a user types most take, end to end (process
 * start to exit), on a local fleet of 3 serving the stand-in, from the repository and from
 * the packed CLI installed with npm, against a bare `node -e 0` start measured in the same
 * run (the floor any Node CLI pays). The target: < 300 ms on an idle machine.
 *
 *   npm run bench -- cli [--runs 9]
 *
 * The fleet is started with `synkti init` + `synkti up --nodes 3` in a scratch directory
 * outside the repository and taken down at the end (also on failure). Runs of the
 * commands are interleaved so load changes on a shared machine hit all of them alike.
 * Prints a table, then one JSON line {"bench":"cli",...}.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberArg, parseArgs } from './lib/args.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- cli [options]

Median wall time of synkti status, status --json, preempt --help and logs <id> on a local
fleet of 3, from the repository (bin/synkti.mjs: its compiled bundle) and from the packed
CLI installed with npm, against \`node -e 0\` started the same way.
  --runs N      measured runs of each command, interleaved (default 9; one warm-up run first)
  --repo-only   skip packing and installing the CLI
Prints a table, then one JSON line {"bench":"cli",...}.`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI_MAIN = join(ROOT, 'packages/cli/bin/synkti.mjs');

/** The packed CLI (scripts/pack-cli.mjs) installed with npm into a prefix under `dir`: its bin script. */
export function installPacked(dir: string): string {
  const pack = spawnSync(process.execPath, [join(ROOT, 'scripts/pack-cli.mjs'), '--out', dir], { encoding: 'utf8', timeout: 300_000 });
  if (pack.status !== 0) throw new Error(`pack-cli failed: ${pack.stderr.slice(0, 500)}`);
  const prefix = join(dir, 'global');
  const install = spawnSync(
    'npm',
    ['install', '-g', '--prefix', prefix, pack.stdout.trim(), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (install.status !== 0) throw new Error(`npm install -g failed: ${install.stderr.slice(0, 500)}`);
  return realpathSync(join(prefix, 'bin', 'synkti'));
}
const log = (line: string): void => console.error(line);

/** One process, start to exit, in ms; throws when it does not exit 0 (a failing command measures nothing). */
function timed(args: string[], cwd: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, SYNKTI_LOG_LEVEL: 'warn' },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0)
    throw new Error(`node ${args.join(' ')} exited ${String(result.status ?? result.signal)}: ${result.stderr.slice(0, 500)}`);
  return ms;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const runs = Math.max(1, Math.round(numberArg(args, 'runs', 9)));
  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-cli-'));
  const synkti = (rest: string[]): string[] => [CLI_MAIN, ...rest];
  try {
    timed(synkti(['init', '--name', 'bench-cli']), dir);
    log('starting a local fleet of 3 (synkti up --nodes 3)');
    timed(synkti(['up', '--nodes', '3']), dir);
    const status = spawnSync(process.execPath, synkti(['status', '--json']), { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const id = (JSON.parse(status.stdout) as { id: string }[])[0]?.id;
    if (!id) throw new Error(`no node in status --json: ${status.stdout} ${status.stderr}`);

    const reads = (label: string, bin: string): [string, string[]][] => [
      [`${label}: status`, [bin, 'status']],
      [`${label}: status --json`, [bin, 'status', '--json']],
      [`${label}: preempt --help`, [bin, 'preempt', '--help']],
      [`${label}: logs <id>`, [bin, 'logs', id]],
    ];
    const commands: [string, string[]][] = [['node -e 0 (peer: bare Node start)', ['-e', '0']], ...reads('repo', CLI_MAIN)];
    if (!args.has('repo-only')) {
      log('packing and installing the CLI (scripts/pack-cli.mjs, npm install -g into a scratch prefix)');
      commands.push(...reads('packed', installPacked(dir)));
    }
    for (const [, command] of commands) timed(command, dir); // warm-up: OS file cache, tsx's transform cache
    const samples = new Map<string, number[]>(commands.map(([name]) => [name, []]));
    for (let i = 0; i < runs; i++) {
      for (const [name, command] of commands) samples.get(name)!.push(timed(command, dir));
    }
    const floor = median(samples.get(commands[0]![0])!);
    const rows = commands.map(([name]) => {
      const values = samples.get(name)!;
      const sorted = [...values].sort((a, b) => a - b);
      return {
        name,
        medianMs: round(median(values)),
        minMs: round(sorted[0]!),
        maxMs: round(sorted[sorted.length - 1]!),
        vsNode: round(median(values) / floor, 1),
      };
    });
    const load = loadavg().map((l) => round(l, 1));
    console.log(
      table([['command', 'median ms', 'min', 'max', '× node -e 0'], ...rows.map((r) => [r.name, r.medianMs, r.minMs, r.maxMs, r.vsNode])]),
    );
    console.log(`(${runs} runs each, interleaved; load average ${load.join(' ')})`);
    console.log(JSON.stringify({ bench: 'cli', runs, loadavg: load, commands: rows }));
  } finally {
    spawnSync(process.execPath, synkti(['down', '--force', '--timeout', '20s']), { cwd: dir, timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}
