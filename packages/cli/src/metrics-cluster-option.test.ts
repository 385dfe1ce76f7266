import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerBatchCommands } from './commands/batch-command.ts';

test('synkti batch cmaes rejects a bad --metrics-cluster before doing anything, and documents the metric', async () => {
  const program = new Command('synkti').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerBatchCommands(program);
  await assert.rejects(
    program.parseAsync(['node', 'synkti', 'batch', 'cmaes', '--objective', 'sphere', '--dim', '2', '--metrics-cluster', 'bad\u0001name']),
    /--metrics-cluster <cluster>.*printable ASCII/,
  );
  await assert.rejects(
    program.parseAsync([
      'node',
      'synkti',
      'batch',
      'cmaes',
      '--objective',
      'sphere',
      '--dim',
      '2',
      '--metrics-cluster',
      'synkti-dev',
      '--metrics-interval',
      '100ms',
    ]),
    /--metrics-interval 100ms is below 1 second/,
  );
  const cmaes = program.commands.find((c) => c.name() === 'batch')!.commands.find((c) => c.name() === 'cmaes')!;
  const help = cmaes.helpInformation().replace(/\s+/g, ' ');
  assert.match(
    help,
    /--metrics-cluster <cluster> publish the backlog to CloudWatch for autoscaling: Synkti\/Batch BacklogPerWorker and Backlog with dimension Cluster=<cluster>/,
  );
  assert.match(help, /--metrics-interval <duration>/);
});
