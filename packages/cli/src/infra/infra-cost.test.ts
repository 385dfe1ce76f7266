import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../../tests/helpers/cli.ts';

test('synkti infra cost prices a stack as JSON and refuses a bad flag naming it', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-infra-cost-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const json = await runCli(
    ['infra', 'cost', 'dev', '--component', 'batch', '--hours-per-day', '10', '--sqs-requests', '1000000', '--json'],
    { cwd: dir, timeoutMs: 110_000 },
  );
  assert.equal(json.code, 0, json.stderr);
  const estimate = JSON.parse(json.stdout) as {
    stack: string;
    hoursPerDay: number;
    monthly: number;
    lines: { resource: string; monthly: number }[];
  };
  assert.equal(estimate.stack, 'dev');
  assert.equal(estimate.hoursPerDay, 10);
  assert.ok(estimate.lines.some((l) => l.resource === 'SQS' && l.monthly === 0.4));
  assert.ok(estimate.monthly > 0);
  const bad = await runCli(['infra', 'cost', '--hours-per-day', '30'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--hours-per-day/);
});
