/**
 * The CLI as users install it: packed into one tarball (scripts/pack-cli.mjs), installed
 * with `npm install -g` into a fresh prefix, then run from there. `synkti --help` and the
 * read commands run compiled, without tsx (checked by CPU time, not wall time, which a
 * loaded machine stretches); commands must work; a command whose optional package is missing must say how to install it.
 * One pack for the whole file (it costs 20-90 s on a loaded machine).
 *
 * README's "A 5-minute tour", run as written by a newcomer with the installed CLI, in a
 * scratch directory outside the repository (nothing there resolves `@synkti/core` or the
 * repo's paths): every `synkti ...` line of the tour's code block is read from README.md,
 * `<id>` filled in, and run; each must exit 0. Between the lines the test checks what the
 * tour promises: a chat completion through a router answers 200 with the stand-in's text,
 * and after `preempt` the preempted node is out of service and its replacement launched.
 *
 * Tour lines run differently, and why:
 * - `alias synkti=...` and `mkdir -p /tmp/tour && cd /tmp/tour`: the installed binary is
 *   used instead of the clone's alias, in a fresh temporary directory instead of /tmp/tour
 *   (other runs on this machine may use /tmp/tour at the same time).
 * - `synkti logs <id> -f` runs without `-f`: following never ends by itself (a user stops
 *   it with Ctrl-C); the same log is read once and must hold the agent's lines.
 * - `synkti dashboard` is not run: it serves until interrupted (tests/dashboard-e2e.test.ts
 *   drives it in a browser).
 * - `synkti up --chaos-rate 6/h` is not run: random interruptions would make the steps after
 *   it depend on luck (chaos has its own tests in packages/cloud).
 * - `synkti scale worker 5` is not run here to keep CI lean: two more nodes on a loaded
 *   2-core machine (tests/scale-local.test.ts covers scale on a local fleet).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runCli, type CliResult } from './helpers/cli.ts';
import { installPackedCli } from './helpers/packed-cli.ts';

const work = mkdtempSync(join(tmpdir(), 'synkti-pack-test-'));
let synkti = '';
let tourFleetUp = false;
const tour = join(work, 'tour');
mkdirSync(tour);
after(async () => {
  // Whatever happened, no node of the tour's fleet outlives the test.
  if (tourFleetUp) await runSynkti(['down', '--force', '--timeout', '20s']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

before(async () => {
  synkti = (await installPackedCli(work)).synkti;
});

function timed(args: string[], cwd = work): { ms: number; code: number | null; stdout: string; stderr: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(synkti, args, { cwd, encoding: 'utf8', env: { ...process.env, SYNKTI_LOG_LEVEL: 'warn' } });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Runs the installed CLI under `node` with a preload that reports, at exit, the process's
 * own CPU time and whether tsx was ever registered: what a start costs in work, which a
 * loaded machine does not change the way it stretches wall time.
 */
const REPORT =
  'data:text/javascript,' +
  encodeURIComponent(
    "process.on('exit', () => process.stderr.write('\\nsynkti-report ' + JSON.stringify({ cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, tsx: globalThis[Symbol.for('synkti.tsx-registered')] === true }) + '\\n'));",
  );

function measured(args: string[], cwd = work): { cpuMs: number; tsx: boolean; code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', REPORT, realpathSync(synkti), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, SYNKTI_LOG_LEVEL: 'warn' },
  });
  const report = /synkti-report (\{.*\})/.exec(result.stderr);
  assert.ok(report, `no report from synkti ${args.join(' ')}: ${result.stderr}`);
  return {
    ...(JSON.parse(report[1]!) as { cpuMs: number; tsx: boolean }),
    code: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

test('`synkti --help` from the installed package runs without tsx, in under 0.4 s of CPU (median of 5)', () => {
  const runs = Array.from({ length: 5 }, () => measured(['--help']));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.match(runs[0]!.stdout, /Usage: synkti/);
  for (const group of ['worker', 'batch', 'sim', 'infra', 'completion'])
    assert.match(runs[0]!.stdout, new RegExp(`\\n  ${group}\\b`), `${group} is listed`);
  for (const r of runs) assert.equal(r.tsx, false, 'help registers no tsx');
  const sorted = runs.map((r) => r.cpuMs).sort((a, b) => a - b);
  console.log(`synkti --help: median ${sorted[2]!.toFixed(0)} ms of CPU (runs: ${sorted.map((ms) => ms.toFixed(0)).join(', ')})`);
  // Idle: ~100 ms (node itself ~40). Through tsx it was ~600.
  assert.ok(sorted[2]! < 400, `median CPU ${sorted[2]!.toFixed(0)} ms`);
});

test('the installed CLI runs real commands: version, init, a config error, a group, completion', () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string };
  assert.equal(timed(['--version']).stdout.trim(), manifest.version);

  const project = mkdtempSync(join(work, 'project-'));
  const init = timed(['init', '--name', 'packed'], project);
  assert.equal(init.code, 0, init.stderr);
  const written = readFileSync(join(project, 'synkti.config.ts'), 'utf8');
  assert.match(written, /name: "packed"/);
  // It loads where @synkti/core does not resolve, and holds no path of the installed CLI.
  assert.ok(!written.includes(work), 'no absolute path in the written config');
  const fresh = measured(['status'], project);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.match(fresh.stdout, /no nodes running/);
  // The config is compiled once and cached: a read command needs no tsx.
  assert.equal(measured(['status'], project).tsx, false, 'status registers no tsx');
  const unknown = timed(['preempt', 'i-nope'], project);
  assert.equal(unknown.code, 2, `an unknown node is a usage error: ${unknown.stderr}`);

  writeFileSync(join(project, 'synkti.config.ts'), "export default { name: 'packed', pools: { worker: { count: -1 } } };\n");
  const bad = timed(['status'], project);
  assert.equal(bad.code, 2, 'a bad config is a usage error');
  assert.match(bad.stderr, /pools\.worker\.count/);

  const sim = timed(['sim', '--days', '1', '--policy', 'on-demand', '--json'], project);
  assert.equal(sim.code, 0, sim.stderr);
  assert.equal((JSON.parse(sim.stdout.trim()) as { policy: string }).policy, 'on-demand');

  const completion = timed(['completion', 'bash']);
  assert.match(completion.stdout, /complete -o default -F _synkti_complete synkti/);
  const candidates = timed(['__complete', '--', 'worker', 'l']).stdout.trim().split('\n');
  assert.deepEqual(candidates, ['launch', 'list']);
});

test('a command whose optional package is not installed names the package and the install command', () => {
  const project = mkdtempSync(join(work, 'infra-'));
  const audit = timed(['infra', 'audit'], project);
  assert.equal(audit.code, 1);
  assert.match(audit.stderr, /needs the npm package @pulumi\/[a-z]+, which is not installed/);
  assert.match(audit.stderr, /npm install -g @pulumi\//);
  assert.doesNotMatch(audit.stderr, /unexpected error|\n\s+at /, 'no stack trace');
});

function runSynkti(args: string[], timeoutMs = 90_000): Promise<CliResult> {
  // The fleet's state lives beside its config, as for a user: no SYNKTI_STATE_DIR.
  return runCli(args, { command: synkti, cwd: tour, env: { SYNKTI_STATE_DIR: undefined }, timeoutMs });
}

/** The `synkti ...` lines of README's tour block, comments stripped, as argument lists. */
function tourLines(): string[][] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^## A 5-minute tour\n[\s\S]*?```sh\n([\s\S]*?)```/m.exec(readme);
  assert.ok(section, 'README.md has "## A 5-minute tour" with a ```sh block');
  return section[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('synkti '))
    .map((line) => line.split(/\s+/).slice(1));
}

/** The rows of `synkti status`'s table: ID ROLE STATE AGENT ROUTER ... (the agent column is address:port). */
function statusRows(table: string): { id: string; state: string; address: string; router: string }[] {
  return table
    .split('\n')
    .filter((line) => /^i-/.test(line))
    .map((line) => {
      const [id, , state, agent, router] = line.trim().split(/\s+/) as [string, string, string, string, string];
      return { id, state, address: agent.split(':')[0]!, router };
    });
}

test('README tour, verbatim, with the installed CLI in a directory outside the repo', { timeout: 300_000 }, async () => {
  const lines = tourLines();
  const expected = ['init', 'up', 'status', 'preempt', 'status', 'logs', 'dashboard', 'up', 'scale', 'down'];
  assert.deepEqual(
    lines.map((args) => args[0]),
    expected,
    'the tour still has the steps this test knows how to run',
  );
  const [init, up, status, preempt, statusAfter, logs, , , , down] = lines as [
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
    string[],
  ];
  const timings: string[] = [];
  const step = async (args: string[], timeoutMs?: number): Promise<CliResult> => {
    const result = await runSynkti(args, timeoutMs);
    timings.push(`${args[0]} ${(result.ms / 1000).toFixed(1)}s`);
    assert.equal(result.code, 0, `synkti ${args.join(' ')} exits 0\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result;
  };

  await step(init);
  const config = readFileSync(join(tour, 'synkti.config.ts'), 'utf8');
  assert.ok(!config.includes(REPO_ROOT) && !config.includes(work), 'the config names no path of this machine');

  tourFleetUp = true;
  await step(up, 150_000);
  let table = (await step(status)).stdout;
  // up returned once all three were ready. status asks each agent with a 1 s bound: on a
  // loaded machine an agent can miss it once (shown 'unreachable'); ask again, up to 60 s.
  const readyBy = Date.now() + 60_000;
  while (!statusRows(table).every((node) => node.state === 'ready') && Date.now() < readyBy) table = (await step(status)).stdout;
  const nodes = statusRows(table);
  assert.equal(nodes.length, 3, table);
  for (const node of nodes) assert.equal(node.state, 'ready', table);
  assert.match(table, /^chaos: off$/m, 'status says whether chaos is on');
  // status --json: each local node's processes (the workload is the stand-in, a child of its agent).
  const json = await runSynkti(['status', '--json']);
  assert.equal(json.code, 0, json.stderr);
  for (const node of JSON.parse(json.stdout) as { id: string; pids?: { host?: number; agent?: number; workload?: number } }[]) {
    const { host, agent, workload } = node.pids ?? {};
    assert.ok(host && agent && workload, `${node.id}: host, agent and workload pids in status --json: ${JSON.stringify(node.pids)}`);
    // The stand-in, a live process of this node (its environment carries the node's id).
    assert.match(readFileSync(`/proc/${workload}/cmdline`, 'utf8'), /stand-in/, `${node.id}: pid ${workload} is the stand-in`);
  }

  // What the tour is for: a chat completion through a router, served by the stand-in.
  const router = nodes[0]!;
  assert.match(router.router, /^\d+$/, `node ${router.id} has a router port\n${table}`);
  const base = `http://${router.address}:${router.router}`;
  // As a client would: ask the router which model it serves (the symptom was a refused /v1/models).
  const models = await fetch(`${base}/v1/models`, { signal: AbortSignal.timeout(20_000) });
  assert.equal(models.status, 200);
  const model = ((await models.json()) as { data: { id: string }[] }).data[0]!.id;
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 }),
    signal: AbortSignal.timeout(20_000),
  });
  const body = await response.text();
  assert.equal(response.status, 200, body);
  const completion = JSON.parse(body) as { choices?: { message?: { content?: unknown } }[] };
  assert.equal(typeof completion.choices?.[0]?.message?.content, 'string', body);

  const victim = nodes[1]!.id;
  const fill = (args: string[]): string[] => args.map((arg) => (arg === '<id>' ? victim : arg));
  await step(fill(preempt));
  // "the node drains, its replacement is already booting": the notice is seen within a
  // notice poll (5 s in the starter config) and the replacement launched at once. The
  // tour's own `status` is the poll: each call takes seconds on a busy machine.
  const original = new Set(nodes.map((n) => n.id));
  const deadline = Date.now() + 60_000;
  let shown = '';
  for (;;) {
    shown = (await step(statusAfter)).stdout;
    const rows = statusRows(shown);
    // Draining, or already gone when its drain had nothing in flight.
    const outOfService = rows.find((n) => n.id === victim)?.state !== 'ready';
    if (outOfService && rows.some((n) => !original.has(n.id))) break;
    assert.ok(Date.now() < deadline, `within 60 s of the notice, status shows ${victim} out of service and a replacement:\n${shown}`);
  }

  const log = (await step(fill(logs).filter((arg) => arg !== '-f'))).stdout;
  assert.match(log, /"msg"/, "the agent's pino lines");

  // down exits 0 only once every node is gone (3 otherwise).
  await step(down, 90_000);
  tourFleetUp = false;
  console.log(`readme tour: ${timings.join(', ')}`);
});
