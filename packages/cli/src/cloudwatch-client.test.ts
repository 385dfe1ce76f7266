import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { isSynktiError } from '@synkti/core';
import { validateDimensionValue } from '@synkti/tasks';
import { importAwsSdk } from './lazy-aws-sdk.ts';
import { registerBatchCommands } from './commands/batch-command.ts';

test('--metrics-cluster values follow CloudWatch dimension value rules', () => {
  for (const ok of ['synkti-dev', 'prod_a.b:c/d', 'x', 'a'.repeat(1024)]) assert.equal(validateDimensionValue(ok), ok);
  const bad: Array<[string, RegExp]> = [
    ['', /empty/], ['   ', /empty/], ['a'.repeat(1025), /1025 characters.*at most 1024/], ['é-prod', /printable ASCII/],
    ['a\tb', /printable ASCII/], [' prod', /starts or ends with a space/], ['prod ', /starts or ends with a space/],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => validateDimensionValue(value), (e: unknown) => isSynktiError(e, 'E_USAGE') && message.test((e as Error).message) && /--metrics-cluster/.test((e as Error).message), JSON.stringify(value));
  }
});

test('synkti batch cmaes rejects a bad --metrics-cluster before doing anything, and documents the metric', async () => {
  const program = new Command('synkti').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerBatchCommands(program);
  await assert.rejects(
    program.parseAsync(['node', 'synkti', 'batch', 'cmaes', '--objective', 'sphere', '--dim', '2', '--metrics-cluster', 'bad\u0001name']),
    /--metrics-cluster <cluster>.*printable ASCII/,
  );
  await assert.rejects(
    program.parseAsync(['node', 'synkti', 'batch', 'cmaes', '--objective', 'sphere', '--dim', '2', '--metrics-cluster', 'synkti-dev', '--metrics-interval', '100ms']),
    /--metrics-interval 100ms is below 1 second/,
  );
  const cmaes = program.commands.find((c) => c.name() === 'batch')!.commands.find((c) => c.name() === 'cmaes')!;
  const help = cmaes.helpInformation().replace(/\s+/g, ' ');
  assert.match(help, /--metrics-cluster <cluster> publish the backlog to CloudWatch for autoscaling: Synkti\/Batch BacklogPerWorker and Backlog with dimension Cluster=<cluster>/);
  assert.match(help, /--metrics-interval <duration>/);
});

test('a missing AWS SDK package is a clear error saying what to install; other load errors pass through', async () => {
  const notFound = Object.assign(new Error("Cannot find package '@aws-sdk/client-cloudwatch'"), { code: 'ERR_MODULE_NOT_FOUND' });
  await assert.rejects(importAwsSdk(() => Promise.reject(notFound), '@aws-sdk/client-cloudwatch', 'publishing the batch backlog', 'drop --metrics-cluster'), (e: unknown) => {
    assert.ok(isSynktiError(e, 'E_AWS_SDK_MISSING'));
    assert.match(e.message, /publishing the batch backlog needs the AWS SDK package @aws-sdk\/client-cloudwatch/);
    assert.equal(e.hint, 'npm install @aws-sdk/client-cloudwatch@3 -w synkti, or drop --metrics-cluster');
    assert.equal(e.cause, notFound);
    return true;
  });
  const other = new SyntaxError('boom');
  await assert.rejects(importAwsSdk(() => Promise.reject(other), 'x', 'y', 'z'), (e: unknown) => e === other);
  const sdk = await importAwsSdk(() => import('@aws-sdk/client-cloudwatch'), '@aws-sdk/client-cloudwatch', 'y', 'z');
  assert.equal(typeof sdk.PutMetricDataCommand, 'function', 'installed as a dependency of the CLI');
});
