/**
 * The batch promise on real processes: distributed CMA-ES on rosenbrock 10-D with 4 local
 * spot workers, through random worker preemptions (real IMDSv2 notices), worker kill -9s
 * and a coordinator kill -9 followed by `--resume`, ends with exactly the result of an
 * undisturbed run with the same seed (the same algorithm evaluating every candidate in
 * order on one reliable machine), and accounts for every task (lost_tasks 0).
 *
 * The workers are agent nodes (each runs its worker as a portless workload), and nothing
 * central replaces them: a preempted node's own agent launched its replacement at the
 * notice, then SIGTERMed its worker, which handed its tasks back; a kill -9'd node was
 * replaced by a surviving node.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLocalCloud, listAllInstances, LocalObjectStore, REASON_CRASH, type InstanceRecord } from '@synkti/cloud';
import { CmaEs, builtinObjectives, readCheckpoint, type CmaEsState, type CoordinatorCheckpoint } from '@synkti/tasks';
import { CLI_MAIN, REPO_ROOT, waitFor } from './helpers/cli.ts';
import { batchClusterName } from '@synkti/tasks/batch';

const DIM = 10;
const POPULATION = 8;
const GENERATIONS = 14;
const SEED = 20261123;
const RUN = `chaos-${Math.random().toString(36).slice(2, 8)}`;

const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-chaos-'));
const stateDir = join(dir, 'state');
// Rosenbrock with a 40 ms sleep per evaluation, so the chaos lands while generations run.
const objectiveFile = join(dir, 'slow-rosenbrock.mjs');
writeFileSync(
  objectiveFile,
  [
    `import { builtinObjectives } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'packages/tasks/src/cmaes/index.ts')).href)};`,
    'export default async function slowRosenbrock(x) {',
    '  await new Promise((resolve) => setTimeout(resolve, 40));',
    '  return builtinObjectives.rosenbrock(x);',
    '}',
  ].join('\n'),
);

const children = new Set<ChildProcess>();
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  const cloud = createLocalCloud({ stateDir });
  try {
    const left = await listAllInstances(cloud.instances, {});
    await Promise.all(left.map((r) => cloud.instances.kill(r.id).catch(() => undefined)));
  } finally {
    cloud.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Coordinator {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startCoordinator(args: string[]): Coordinator {
  const child = spawn(
    process.execPath,
    [CLI_MAIN, 'batch', 'cmaes', ...args, '--state-dir', stateDir, '--workers', '4', '--lease', '3s', '--notice-poll', '500ms', '--json'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SYNKTI_LOG_LEVEL: 'info' },
    },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const store = new LocalObjectStore({ root: join(stateDir, 'objects') });
async function checkpoint(): Promise<CoordinatorCheckpoint<CmaEsState> | undefined> {
  return readCheckpoint<CmaEsState>(store, 'synkti-batch', `runs/${RUN}/checkpoint.json`).catch(() => undefined);
}
function atGeneration(n: number, timeoutMs = 60_000): Promise<CoordinatorCheckpoint<CmaEsState>> {
  return waitFor(
    `generation ${n}`,
    async () => {
      const c = await checkpoint();
      return c && c.generation >= n ? c : undefined;
    },
    timeoutMs,
    50,
  );
}

const cloud = createLocalCloud({ stateDir });
after(() => cloud.close());
async function runningWorkers(): Promise<InstanceRecord[]> {
  return listAllInstances(cloud.instances, { tags: { SynktiCluster: batchClusterName(RUN) }, states: ['running'] });
}
function workloadLog(id: string): string {
  try {
    return readFileSync(join(cloud.instances.instanceDir(id), 'workload.log'), 'utf8');
  } catch {
    return '';
  }
}
/** Every agent's JSON log lines with message `msg`, over every node this state dir ever ran. */
function agentLines(msg: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const id of readdirSync(join(stateDir, 'instances'))) {
    let text = '';
    try {
      text = readFileSync(cloud.instances.consoleLogPath(id), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === msg) lines.push({ ...entry, node: id });
      } catch {
        /* a line cut by a kill */
      }
    }
  }
  return lines;
}
function pick<T>(items: T[]): T {
  assert.ok(items.length > 0, 'no running worker to disturb');
  return items[Math.floor(Math.random() * items.length)]!;
}
/** A node that is running and whose worker (its agent's workload) is serving the queues. */
async function readyWorkers(except: Set<string>): Promise<InstanceRecord[]> {
  const all = await runningWorkers();
  return all.filter((r) => !except.has(r.id) && workloadLog(r.id).includes('serving local queues'));
}

/** failureTimeout (5 s, the default) plus confirming with the cloud's record and launching, with room for a loaded machine. */
const FIRST_KILL_REPLACED_WITHIN_MS = 15_000;

test(
  'distributed CMA-ES survives preemptions, kill -9s and a coordinator kill -9 with the exact undisturbed result',
  {
    timeout: 170_000,
  },
  async () => {
    const started = Date.now();
    const marks: string[] = [];
    const mark = (what: string): void => {
      marks.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)}s`);
    };
    // The undisturbed run: the same algorithm and seed, every candidate evaluated in order.
    const reference = CmaEs.create({ dimension: DIM, seed: SEED, populationSize: POPULATION });
    for (let g = 0; g < GENERATIONS; g += 1) reference.tell(reference.ask().map((x: number[]) => builtinObjectives.rosenbrock(x)));

    const disturbed = new Set<string>();
    const preempted: string[] = [];
    const killed: string[] = [];
    const first = startCoordinator([
      '--objective',
      objectiveFile,
      '--dim',
      String(DIM),
      '--population',
      String(POPULATION),
      '--generations',
      String(GENERATIONS),
      '--seed',
      String(SEED),
      '--run',
      RUN,
    ]);

    await atGeneration(2, 90_000);
    mark('gen2');
    const p1 = pick(
      await waitFor(
        'a ready worker',
        async () => {
          const w = await readyWorkers(disturbed);
          return w.length > 0 ? w : undefined;
        },
        20_000,
      ),
    );
    disturbed.add(p1.id);
    preempted.push(p1.id);
    await cloud.instances.preempt(p1.id, { noticeInMs: 3000 });

    await atGeneration(4);
    const k1 = pick(await readyWorkers(disturbed));
    disturbed.add(k1.id);
    killed.push(k1.id);
    await cloud.instances.kill(k1.id);
    const firstKillAt = Date.now();

    // The coordinator dies without warning, right after a checkpoint, with a generation in flight.
    const mid = await atGeneration(6);
    mark('gen6');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null);
    const frozen = await checkpoint();
    assert.equal(frozen?.status, 'running');
    assert.ok(frozen!.generation >= mid.generation && frozen!.generation < GENERATIONS, `killed at generation ${frozen!.generation}`);

    const second = startCoordinator(['--resume', RUN]);
    await atGeneration(frozen!.generation + 2);
    const p2 = pick(await readyWorkers(disturbed));
    disturbed.add(p2.id);
    preempted.push(p2.id);
    await cloud.instances.preempt(p2.id, { noticeInMs: 3000 });
    const k2 = pick(await readyWorkers(disturbed));
    disturbed.add(k2.id);
    killed.push(k2.id);
    await cloud.instances.kill(k2.id);

    mark('second disturbed');
    const code = await second.exited;
    const runEndedAt = Date.now();
    mark('second exited');
    assert.equal(code, 0, second.stderr());
    const summary = JSON.parse(second.stdout().trim().split('\n').pop()!) as Record<string, unknown>;

    // Identical to the undisturbed run.
    // (Compared as JSON, the form results and checkpoints travel in.)
    const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
    assert.equal(summary.best_f, reference.bestF);
    assert.deepEqual(summary.mean, json([...reference.mean]));
    assert.deepEqual(summary.best_x, json([...reference.bestX]));
    const final = await checkpoint();
    assert.equal(final?.status, 'done');
    assert.deepEqual(final?.optimizer, json(reference.toState()));
    // Every task accounted for.
    assert.equal(summary.lost_tasks, 0);
    assert.equal(summary.generations, GENERATIONS);
    assert.equal(summary.evaluations, GENERATIONS * POPULATION);
    assert.equal(summary.dead_lettered, 0);
    assert.equal(summary.resumed, true);
    assert.equal(final!.counters.candidates, GENERATIONS * POPULATION);
    assert.equal(final!.counters.scored, GENERATIONS * POPULATION);
    const c = final!.counters;
    assert.equal(c.received, c.accepted + c.duplicatesDropped + c.staleDropped + c.failedResults, JSON.stringify(c));
    assert.ok(c.sent >= GENERATIONS * POPULATION, JSON.stringify(c));

    // The preemptions were real notices, seen through IMDSv2 by each node's agent: it launched
    // its own replacement at the notice, then SIGTERMed its worker, which handed its leases back.
    const drains = agentLines('drain finished');
    for (const id of preempted) {
      const drain = drains.find((d) => d.node === id);
      assert.equal(drain?.reason, 'interruption', `node ${id} did not drain for its notice: ${JSON.stringify(drain)}`);
      assert.ok(typeof drain.replacement === 'string' && drain.replacement !== id, `node ${id} launched no replacement at its notice`);
      const log = workloadLog(id);
      assert.match(
        log,
        /SIGTERM: handing tasks back and stopping[\s\S]*stopped: \d+ completed, \d+ released/,
        `worker ${id} did not hand back on its SIGTERM:\n${log}`,
      );
    }
    // (Terminated instances lose their tags, as on EC2; this state directory holds only this run.)
    const all = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
    for (const id of killed)
      assert.equal(all.find((r) => r.id === id)?.stateReason, REASON_CRASH, `worker ${id} should have died as a crash`);
    // A survivor replaced the first kill -9'd node, when the run outlived the loss's detection:
    // survivors confirm a silent node after failureTimeout (5 s) and the cloud's record, and a
    // run on a fast machine may end (taking its fleet down) before that, with nothing to replace
    // for. (The second kill -9 lands as the run ends: nobody is left to care.)
    const launched = agentLines('replacement launched');
    const replacedFirstKill = launched.some((l) => l.lost === killed[0] && l.node !== killed[0]);
    const runAfterFirstKillMs = runEndedAt - firstKillAt;
    if (runAfterFirstKillMs > FIRST_KILL_REPLACED_WITHIN_MS) {
      assert.ok(
        replacedFirstKill,
        `the run went on ${runAfterFirstKillMs} ms after the kill -9 and no surviving node replaced ${killed[0]}: ${JSON.stringify(launched)}`,
      );
    } else {
      process.stderr.write(
        `batch chaos: the run ended ${runAfterFirstKillMs} ms after the first kill -9 (replaced: ${replacedFirstKill}); a replacement is required only past ${FIRST_KILL_REPLACED_WITHIN_MS} ms\n`,
      );
    }
    // Replacements kept the fleet at 4, and the run's workers are gone at the end. The second
    // kill -9 lands as the run ends: the fleet may be taken down before a survivor has
    // confirmed that loss (failureTimeout), so its replacement is not counted on.
    assert.ok(all.length >= 4 + preempted.length + 1, `only ${all.length} workers were ever launched`);
    await waitFor('workers terminated', async () => ((await runningWorkers()).length === 0 ? true : undefined), 30_000);
    mark('workers gone');
    process.stderr.write(
      `batch chaos: ${GENERATIONS} generations in ${Date.now() - started} ms (${marks.join(', ')}); ${all.length} workers launched; counters ${JSON.stringify(c)}\n`,
    );
  },
);
