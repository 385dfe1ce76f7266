/**
 * The batch promise on real processes: distributed CMA-ES on rosenbrock 10-D with 4 local
 * spot workers, through random worker preemptions (real IMDSv2 notices), worker kill -9s
 * and a coordinator kill -9 followed by `--resume`, ends with exactly the result of an
 * undisturbed run with the same seed (the same algorithm evaluating every candidate in
 * order on one reliable machine), and accounts for every task (lost_tasks 0).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLocalCloud, listAllInstances, LocalObjectStore, REASON_CRASH, type InstanceRecord } from '@synkti/cloud';
import { CmaEs, builtinObjectives, readCheckpoint, type CmaEsState, type CoordinatorCheckpoint } from '@synkti/tasks';
import { CLI_MAIN, REPO_ROOT, waitFor } from './helpers/cli.ts';

const DIM = 10;
const POPULATION = 8;
const GENERATIONS = 14;
const SEED = 20261123;
const RUN = `chaos-${Math.random().toString(36).slice(2, 8)}`;

const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-chaos-'));
const stateDir = join(dir, 'state');
// Rosenbrock with a 40 ms sleep per evaluation, so the chaos lands while generations run.
const objectiveFile = join(dir, 'slow-rosenbrock.mjs');
writeFileSync(objectiveFile, [
  `import { builtinObjectives } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'packages/tasks/src/cmaes/index.ts')).href)};`,
  'export default async function slowRosenbrock(x) {',
  '  await new Promise((resolve) => setTimeout(resolve, 40));',
  '  return builtinObjectives.rosenbrock(x);',
  '}',
].join('\n'));

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

interface Coordinator { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

function startCoordinator(args: string[]): Coordinator {
  const child = spawn(process.execPath, [CLI_MAIN, 'batch', 'cmaes', ...args, '--state-dir', stateDir, '--workers', '4', '--lease', '3s', '--notice-poll', '500ms', '--json'], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYNKTI_LOG_LEVEL: 'info' },
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => { children.delete(child); resolve(code); }));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const store = new LocalObjectStore({ root: join(stateDir, 'objects') });
async function checkpoint(): Promise<CoordinatorCheckpoint<CmaEsState> | undefined> {
  return readCheckpoint<CmaEsState>(store, 'synkti-batch', `runs/${RUN}/checkpoint.json`).catch(() => undefined);
}
function atGeneration(n: number, timeoutMs = 60_000): Promise<CoordinatorCheckpoint<CmaEsState>> {
  return waitFor(`generation ${n}`, async () => {
    const c = await checkpoint();
    return c && c.generation >= n ? c : undefined;
  }, timeoutMs, 50);
}

const cloud = createLocalCloud({ stateDir });
after(() => cloud.close());
async function runningWorkers(): Promise<InstanceRecord[]> {
  return listAllInstances(cloud.instances, { tags: { SynktiBatchRun: RUN }, states: ['running'] });
}
function pick<T>(items: T[]): T {
  assert.ok(items.length > 0, 'no running worker to disturb');
  return items[Math.floor(Math.random() * items.length)]!;
}
/** A worker that is running and whose boot command has announced itself (its metadata polling is on). */
async function readyWorkers(except: Set<string>): Promise<InstanceRecord[]> {
  const all = await runningWorkers();
  return all.filter((r) => !except.has(r.id) && (() => {
    try { return readFileSync(cloud.instances.consoleLogPath(r.id), 'utf8').includes('watching for spot notices'); } catch { return false; }
  })());
}

test('distributed CMA-ES survives preemptions, kill -9s and a coordinator kill -9 with the exact undisturbed result', {
  timeout: 170_000,
}, async () => {
  const started = Date.now();
  // The undisturbed run: the same algorithm and seed, every candidate evaluated in order.
  const reference = CmaEs.create({ dimension: DIM, seed: SEED, populationSize: POPULATION });
  for (let g = 0; g < GENERATIONS; g += 1) reference.tell(reference.ask().map((x: number[]) => builtinObjectives.rosenbrock(x)));

  const disturbed = new Set<string>();
  const preempted: string[] = [];
  const killed: string[] = [];
  const first = startCoordinator(['--objective', objectiveFile, '--dim', String(DIM), '--population', String(POPULATION), '--generations', String(GENERATIONS), '--seed', String(SEED), '--run', RUN]);

  await atGeneration(2, 90_000);
  const p1 = pick(await waitFor('a ready worker', async () => { const w = await readyWorkers(disturbed); return w.length > 0 ? w : undefined; }, 20_000));
  disturbed.add(p1.id);
  preempted.push(p1.id);
  await cloud.instances.preempt(p1.id, { noticeInMs: 3000 });

  await atGeneration(4);
  const k1 = pick(await readyWorkers(disturbed));
  disturbed.add(k1.id);
  killed.push(k1.id);
  await cloud.instances.kill(k1.id);

  // The coordinator dies without warning, right after a checkpoint, with a generation in flight.
  const mid = await atGeneration(6);
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

  const code = await second.exited;
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

  // The preemptions were real notices, seen through IMDSv2 by the workers, which handed their leases back.
  for (const id of preempted) {
    const log = readFileSync(cloud.instances.consoleLogPath(id), 'utf8');
    assert.match(log, /spot interruption notice .*released \d+ task\(s\), exiting/, `worker ${id} did not handle its notice:\n${log}`);
  }
  // (Terminated instances lose their tags, as on EC2; this state directory holds only this run.)
  const all = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
  for (const id of killed) assert.equal(all.find((r) => r.id === id)?.stateReason, REASON_CRASH, `worker ${id} should have died as a crash`);
  // Replacements kept the fleet at 4, and the run's workers are gone at the end.
  assert.ok(all.length >= 4 + preempted.length + killed.length, `only ${all.length} workers were ever launched`);
  await waitFor('workers terminated', async () => ((await runningWorkers()).length === 0 ? true : undefined), 30_000);
  process.stderr.write(`batch chaos: ${GENERATIONS} generations in ${Date.now() - started} ms; ${all.length} workers launched; counters ${JSON.stringify(c)}\n`);
});
