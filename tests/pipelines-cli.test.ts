/**
 * The pipeline commands (`synkti agent`, `synkti api`, `synkti pipeline submit|jobs`) as
 * registered on a program: options are validated with clear messages, and submit/jobs
 * work against a task database.
 */
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { cloudWatchQueueSink, openTaskDatabase, queueDepthSink } from '@synkti/tasks';
import { registerPipelineCommands } from '../packages/cli/src/commands/pipeline-command.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function program(): { program: Command; output: string[] } {
  const output: string[] = [];
  const p = new Command('synkti').exitOverride().configureOutput({ writeOut: (s) => output.push(s), writeErr: (s) => output.push(s) });
  registerPipelineCommands(p);
  for (const c of p.commands) {
    c.exitOverride().configureOutput({ writeOut: (s) => output.push(s), writeErr: (s) => output.push(s) });
    for (const sub of c.commands) sub.exitOverride().configureOutput({ writeOut: (s) => output.push(s), writeErr: (s) => output.push(s) });
  }
  return { program: p, output };
}

async function fails(argv: string[]): Promise<string> {
  const { program: p, output } = program();
  await assert.rejects(p.parseAsync(['node', 'synkti', ...argv]), CommanderError);
  return output.join('');
}

describe('pipeline commands', () => {
  it('registers agent, api and pipeline with their options', () => {
    const { program: p } = program();
    assert.deepEqual(
      p.commands.map((c) => c.name()),
      ['agent', 'api', 'pipeline'],
    );
    const agent = p.commands.find((c) => c.name() === 'agent')!;
    for (const flag of ['--pool', '--pipeline', '--db', '--store', '--concurrency', '--heartbeat', '--no-requeuer', '--requeuer-lease']) {
      assert.ok(
        agent.options.some((o) => o.long === flag),
        flag,
      );
    }
  });

  it('refuses bad option values with a message naming the fix', async () => {
    assert.match(await fails(['agent', '--pool', 'bad pool!']), /expected a pool name/);
    assert.match(await fails(['agent', '--pool', 'gpu', '--concurrency', '0']), /expected a whole number from 1 to 1000/);
    assert.match(await fails(['agent', '--pool', 'gpu', '--heartbeat', 'soon']), /expected a positive duration/);
    // No --pool, --pipeline or --db: a stack's task; without the stack's variables it names the first missing one and its output.
    await assert.rejects(
      program().program.parseAsync(['node', 'synkti', 'agent']),
      (e: unknown) => isSynktiError(e, 'E_CONFIG_STACK_ENV') && /SYNKTI_POOL is not set \(from PipelineCluster/.test(e.message),
    );
    await assert.rejects(
      program().program.parseAsync(['node', 'synkti', 'agent', '--db', 'x.db']),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /--pool is required/.test(e.message),
    );
    assert.match(await fails(['api', '--port', '70000']), /expected a whole number from 0 to 65535/);
  });

  it('pipeline submit creates a job from a pipeline module; pipeline jobs lists it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-pl-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const db = join(dir, 'tasks.db');
    const logs: string[] = [];
    t.mock.method(console, 'log', (s: string) => {
      logs.push(s);
    });
    const { program: p } = program();
    await p.parseAsync([
      'node',
      'synkti',
      'pipeline',
      'submit',
      '--pipeline',
      join(root, 'examples/pipeline-hash.ts'),
      '--name',
      'hash',
      '--db',
      db,
      '--input',
      JSON.stringify({ size: 10_000, seed: 'cli', chunkBytes: 4096 }),
    ]);
    const job = JSON.parse(logs[0]!) as { id: string; state: string; pipeline: string };
    assert.deepEqual([job.state, job.pipeline], ['running', 'hash']);
    await program().program.parseAsync(['node', 'synkti', 'pipeline', 'jobs', '--db', db]);
    assert.match(logs[1]!, new RegExp(`${job.id}\\s+hash\\s+local\\s+running\\s+1`));
    const opened = await openTaskDatabase(db);
    t.after(() => opened.close());
    assert.deepEqual(
      (await opened.getTasks(job.id)).map((x) => [x.key, x.type, x.state]),
      [['split', 'hash.split', 'ready']],
    );
    await assert.rejects(
      program().program.parseAsync([
        'node',
        'synkti',
        'pipeline',
        'submit',
        '--pipeline',
        join(root, 'examples/pipeline-hash.ts'),
        '--name',
        'hash',
        '--db',
        db,
        '--input',
        '{"size": -1}',
      ]),
      /--input: input\.size must be/,
    );
  });

  it('queue depth goes to CloudWatch as Synkti/Pipelines ReadyTasks and ClaimedTasks by {Cluster, Pool}', async () => {
    const calls: unknown[] = [];
    const sink = queueDepthSink('prod-a', async (input) => {
      calls.push(input);
    });
    await sink(
      [
        { pool: 'exec', ready: 0, claimed: 1 },
        { pool: 'gpu', ready: 7, claimed: 2 },
      ],
      Date.UTC(2026, 10, 23, 12),
    );
    const at = new Date(Date.UTC(2026, 10, 23, 12));
    const point = (name: string, pool: string, value: number) => ({
      MetricName: name,
      Dimensions: [
        { Name: 'Cluster', Value: 'prod-a' },
        { Name: 'Pool', Value: pool },
      ],
      Timestamp: at,
      Value: value,
      Unit: 'Count',
    });
    assert.deepEqual(calls, [
      {
        Namespace: 'Synkti/Pipelines',
        MetricData: [
          point('ReadyTasks', 'exec', 0),
          point('ClaimedTasks', 'exec', 1),
          point('ReadyTasks', 'gpu', 7),
          point('ClaimedTasks', 'gpu', 2),
        ],
      },
    ]);
    // Without the SDK installed, turning publishing on fails with what to install.
    await cloudWatchQueueSink('prod-a').then(
      () => undefined,
      (error: unknown) => assert.match(String((error as { hint?: string }).hint), /npm install @aws-sdk\/client-cloudwatch/),
    );
  });
});
