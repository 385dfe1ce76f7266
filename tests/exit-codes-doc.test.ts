/**
 * Every exit code in packages/cli/src/exit-codes.ts is in README.md's "Exit codes" table,
 * with the same name, and nothing else is; and each failure the table documents, run as a
 * real `synkti` process, exits with the code the table gives it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalCloud } from '@synkti/cloud';
import { EXIT } from '../packages/cli/src/exit-codes.ts';
import { REPO_ROOT, makeProject, runCli, uniqueName, type CliResult } from './helpers/cli.ts';

function readmeExitTable(): Map<number, string> {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^### Exit codes\n([\s\S]*?)(?=^#)/m.exec(readme);
  assert.ok(section, 'README.md has a "### Exit codes" section');
  const rows = [...section[1]!.matchAll(/^\| (\d+) \| (\w+) \| (.+) \|$/gm)];
  const table = new Map<number, string>();
  for (const [, code, name, meaning] of rows) {
    assert.ok(!table.has(Number(code)), `exit code ${code} is listed once`);
    assert.ok(meaning!.trim().length > 3, `exit code ${code} says what it means`);
    table.set(Number(code), name!);
  }
  return table;
}

test('README exit-code table and exit-codes.ts agree', () => {
  const documented = readmeExitTable();
  const defined = new Map(Object.entries(EXIT).map(([name, code]) => [code as number, name]));
  assert.equal(new Set(defined.keys()).size, Object.keys(EXIT).length, 'exit-codes.ts gives each code once');
  assert.deepEqual(
    [...documented.entries()].sort((a, b) => a[0] - b[0]),
    [...defined.entries()].sort((a, b) => a[0] - b[0]),
  );
});

interface Case {
  /** What the README's table calls it. */
  what: string;
  args: string[];
  cwd: 'local' | 'bad' | 'aws';
  env?: Record<string, string>;
}

test('each documented failure exits with its documented code', { timeout: 180_000 }, async (t) => {
  const name = uniqueName('exit');
  const local = makeProject({ name, pools: { worker: { count: 1 } }, timeouts: { shutdownGrace: '2s' } });
  const bad = makeProject({ name: 'exit-bad', pools: { worker: { count: -1 } } });
  const aws = makeProject({ name: 'exit-aws', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
  // One hook, in this order: after hooks run in the order they are registered, and a
  // project directory removed first leaves `down` nothing to read, so the node that
  // `up --timeout 1ms` launched below would outlive the suite.
  t.after(async () => {
    await runCli(['down', '--force', '--timeout', '20s'], { cwd: local.dir }).catch(() => undefined);
    local.cleanup();
    bad.cleanup();
    aws.cleanup();
  });
  const dirs = { local: local.dir, bad: bad.dir, aws: aws.dir };
  // A protected bucket for `down --delete-buckets` to refuse (no node needed).
  const cloud = createLocalCloud({ stateDir: join(local.dir, '.synkti', name) });
  await cloud.objects.createBucket('models', { protected: true });
  cloud.close();
  const emptyPath = join(aws.dir, 'empty-path');
  mkdirSync(emptyPath);

  const cases: Record<number, Case[]> = {
    [EXIT.ok]: [{ what: 'done', args: ['status'], cwd: 'local' }],
    [EXIT.failure]: [
      {
        what: 'anything else (EC2 unreachable)',
        args: ['status'],
        cwd: 'aws',
        // A closed loopback port: nothing leaves this machine.
        env: {
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'example',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_MAX_ATTEMPTS: '1',
        },
      },
    ],
    [EXIT.usage]: [
      { what: 'config', args: ['status'], cwd: 'bad' },
      { what: 'flag', args: ['status', '--bogus'], cwd: 'local' },
      { what: 'argument', args: ['preempt', 'i-x', '--in', 'soon'], cwd: 'local' },
      { what: 'missing file', args: ['status', '--config', 'missing.ts'], cwd: 'local' },
      { what: 'unknown pool', args: ['scale', 'wroker', '2'], cwd: 'local' },
      { what: 'unknown node (preempt)', args: ['preempt', 'i-nope'], cwd: 'local' },
      { what: 'unknown node (logs)', args: ['logs', 'i-nope'], cwd: 'local' },
      { what: 'unknown node (ssh)', args: ['ssh', 'i-nope'], cwd: 'local' },
      { what: 'unknown node (worker terminate)', args: ['worker', 'terminate', 'i-zzz'], cwd: 'local' },
    ],
    [EXIT.missingTool]: [{ what: 'aws CLI missing for ssh', args: ['ssh', 'i-0abc'], cwd: 'aws', env: { PATH: emptyPath } }],
  };
  const documented = readmeExitTable();
  const run = async (c: Case): Promise<CliResult> =>
    runCli(c.args, { cwd: dirs[c.cwd], env: { SYNKTI_LOG_LEVEL: 'warn', ...c.env }, timeoutMs: 90_000 });
  // Four at a time: each is a CLI process; the machine is shared.
  const flat = Object.entries(cases).flatMap(([code, list]) => list.map((c) => ({ code: Number(code), c })));
  const results: { code: number; c: Case; result: CliResult }[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    results.push(...(await Promise.all(flat.slice(i, i + 4).map(async ({ code, c }) => ({ code, c, result: await run(c) })))));
  }
  for (const { code, c, result } of results) {
    assert.equal(
      result.code,
      code,
      `synkti ${c.args.join(' ')} (${documented.get(code)}: ${c.what}) exits ${code}\nstderr: ${result.stderr}`,
    );
    if (code !== EXIT.ok) assert.doesNotMatch(result.stderr, /\n\s+at /, `synkti ${c.args.join(' ')}: no stack trace`);
  }

  // The two that change the local cluster run alone, after the rest.
  const refused = await runCli(['down', '--delete-buckets'], { cwd: local.dir, env: { SYNKTI_LOG_LEVEL: 'warn' }, timeoutMs: 90_000 });
  assert.equal(
    refused.code,
    EXIT.refused,
    `synkti down --delete-buckets with a protected bucket exits ${EXIT.refused}\nstderr: ${refused.stderr}`,
  );
  // timeout: the fleet cannot be ready within 1 ms (the hook above takes it down).
  const slow = await runCli(['up', '--timeout', '1ms'], { cwd: local.dir, env: { SYNKTI_LOG_LEVEL: 'warn' }, timeoutMs: 90_000 });
  assert.equal(slow.code, EXIT.timeout, `synkti up --timeout 1ms exits ${EXIT.timeout}\nstderr: ${slow.stderr}`);
  // What the timed-out `up` launched is taken down: nothing of this test outlives it.
  const down = await runCli(['down', '--force', '--timeout', '20s'], {
    cwd: local.dir,
    env: { SYNKTI_LOG_LEVEL: 'warn' },
    timeoutMs: 90_000,
  });
  assert.equal(down.code, EXIT.ok, `synkti down --force after the timed-out up\nstderr: ${down.stderr}`);
  const after = createLocalCloud({ stateDir: join(local.dir, '.synkti', name) });
  try {
    const live = (await after.instances.list({ states: ['pending', 'running', 'shutting-down'] })).items;
    assert.deepEqual(
      live.map((i) => `${i.id} ${i.state}`),
      [],
      'no instance of this test is left running',
    );
  } finally {
    after.close();
  }
  const tested = new Set([...Object.keys(cases).map(Number), EXIT.refused, EXIT.timeout]);
  assert.deepEqual(
    [...documented.keys()].filter((code) => !tested.has(code)),
    [],
    'every documented code has a case here',
  );
});
