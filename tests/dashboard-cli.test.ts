/**
 * `synkti dashboard` wiring without a browser or a fleet: option checks, what it prints
 * (a loopback URL and a one-time link, never the cluster secret), sign-in, the snapshot
 * of an empty local cluster, and a clean stop; a pipeline task database's jobs by state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { validateCluster } from '@synkti/core';
import { openSqliteTaskDatabase } from '@synkti/tasks';
import { registerDashboardCommand } from '../packages/cli/src/commands/dashboard-command.ts';
import { runDashboard } from '../packages/cli/src/dashboard/run-dashboard.ts';

function parse(args: string[]): Promise<unknown> {
  const program = new Command('synkti').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerDashboardCommand(program);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  return program.parseAsync(['node', 'synkti', 'dashboard', ...args]);
}

test('bad --port and --interval are usage errors', async () => {
  for (const args of [
    ['--port', '70000'],
    ['--port', 'abc'],
    ['--interval', '10ms'],
    ['--interval', 'soon'],
  ]) {
    await assert.rejects(
      parse(args),
      (e: unknown) => e instanceof CommanderError && e.code === 'commander.invalidArgument',
      args.join(' '),
    );
  }
});

test('runDashboard prints a loopback link (no secret), signs in once, serves the snapshot, stops', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spec = validateCluster({ name: 'dash-cli', pools: { worker: { count: 1 } } });
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => {
    lines.push(String(line));
  });
  let stop!: () => void;
  const until = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const running = runDashboard(spec, join(dir, 'synkti.config.ts'), { json: true, until, batchDir: join(dir, 'batch') });
  // Stops the dashboard even when an assertion fails first.
  t.after(async () => {
    stop();
    await running.catch(() => undefined);
  });
  const deadline = Date.now() + 15_000;
  while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const printed = JSON.parse(lines[0] ?? '{}') as { cluster: string; url: string; loginUrl: string };
  assert.equal(printed.cluster, 'dash-cli');
  assert.match(printed.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const secret = readFileSync(join(dir, '.synkti', 'dash-cli', 'cluster-secret'), 'utf8').trim();
  assert.ok(!lines.join('\n').includes(secret), 'the cluster secret is never printed');

  const login = await fetch(printed.loginUrl, { redirect: 'manual' });
  assert.equal(login.status, 303);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const page = await fetch(`${printed.url}/`, { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Synkti dashboard/);
  const snapshot = (await (await fetch(`${printed.url}/api/snapshot`, { headers: { authorization: `Bearer ${secret}` } })).json()) as {
    cluster: string;
    nodes: unknown[];
    batch: unknown;
  };
  assert.equal(snapshot.cluster, 'dash-cli');
  assert.deepEqual(snapshot.nodes, []);
  assert.equal(snapshot.batch, undefined, 'no batch run: no batch panel');

  stop();
  await running;
  await assert.rejects(fetch(`${printed.url}/`, { signal: AbortSignal.timeout(2000) }), 'the server is closed after stop');
});

test('runDashboard with a pipeline task database: its jobs by state are in the snapshot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbFile = join(dir, 'pipelines.db');
  const db = await openSqliteTaskDatabase({ path: dbFile });
  t.after(() => db.close());
  await db.createJob({ pipeline: 'p', tasks: [{ key: 'a', type: 'p.a' }] });
  const cancelled = await db.createJob({ pipeline: 'p', tasks: [{ key: 'a', type: 'p.a' }] });
  await db.cancelJob(cancelled.id);

  const spec = validateCluster({ name: 'dash-cli-pl', pools: { worker: { count: 1 } } });
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => {
    lines.push(String(line));
  });
  let stop!: () => void;
  const until = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const running = runDashboard(spec, join(dir, 'synkti.config.ts'), { json: true, until, pipelineDb: dbFile });
  t.after(async () => {
    stop();
    await running.catch(() => undefined);
  });
  const deadline = Date.now() + 15_000;
  while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const printed = JSON.parse(lines[0] ?? '{}') as { url: string };
  const secret = readFileSync(join(dir, '.synkti', 'dash-cli-pl', 'cluster-secret'), 'utf8').trim();
  const snapshot = (await (await fetch(`${printed.url}/api/snapshot`, { headers: { authorization: `Bearer ${secret}` } })).json()) as {
    pipelines: { jobs: Record<string, number>; tasks: Record<string, number> };
  };
  assert.deepEqual(snapshot.pipelines.jobs, { running: 1, done: 0, failed: 0, cancelled: 1 });
  assert.deepEqual(snapshot.pipelines.tasks, { pending: 0, ready: 1, running: 0 });
  stop();
  await running;
});

test('a --pipeline-db that does not exist is an error that names it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spec = validateCluster({ name: 'dash-cli-nodb', pools: { worker: { count: 1 } } });
  await assert.rejects(
    runDashboard(spec, join(dir, 'synkti.config.ts'), { json: true, until: Promise.resolve(), pipelineDb: join(dir, 'nope.db') }),
    /no pipeline task database at .*nope\.db/,
  );
});
