/**
 * `synkti batch cmaes --backend postgres|sqs`: the same small run through a real
 * PostgreSQL (started by the harness) and an SQS server (fauxqs) ends with the same
 * result as on the local backend, every task accounted for.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { startTestPostgres } from '../scripts/test-services/postgres.ts';
import { startOrSkip } from '../scripts/test-services/services.ts';
import { startTestSqs } from '../scripts/test-services/sqs.ts';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-backends-'));
after(async () => {
  for (const backend of ['local', 'postgres', 'sqs']) {
    const cloud = createLocalCloud({ stateDir: join(dir, backend) });
    try {
      const left = await listAllInstances(cloud.instances, {});
      await Promise.all(left.map((r) => cloud.instances.kill(r.id).catch(() => undefined)));
    } finally {
      cloud.close();
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const RUN_ARGS = [
  'batch',
  'cmaes',
  '--objective',
  'rosenbrock',
  '--dim',
  '4',
  '--generations',
  '4',
  '--population',
  '6',
  '--seed',
  '99',
  '--workers',
  '2',
  '--json',
];

async function run(backend: string, extra: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const result = await runCli([...RUN_ARGS, '--backend', backend, '--run', `b-${backend}`, '--state-dir', join(dir, backend), ...extra], {
    cwd: dir,
    env,
    timeoutMs: 150_000,
  });
  assert.equal(result.code, 0, `${backend}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

// Did-it-hang bounds: each run boots its workers as agent nodes (agent, then worker), slow on a loaded machine.
test("postgres and sqs backends give the local backend's exact result", { timeout: 450_000 }, async (t) => {
  const pg = await startOrSkip(startTestPostgres);
  const sqs = await startOrSkip(startTestSqs);
  t.after(async () => {
    await pg.service?.stop();
    await sqs.service?.stop();
  });
  const local = await run('local', [], {});
  assert.equal(local.lost_tasks, 0);
  if (pg.service) {
    const summary = await run('postgres', [], { SYNKTI_POSTGRES_URL: pg.service.url });
    assert.equal(summary.best_f, local.best_f);
    assert.deepEqual(summary.mean, local.mean);
    assert.equal(summary.lost_tasks, 0);
  } else {
    t.diagnostic(`postgres skipped: ${pg.skip}`);
  }
  if (sqs.service) {
    const summary = await run('sqs', ['--sqs-endpoint', sqs.service.endpoint, '--region', sqs.service.region], {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    assert.equal(summary.best_f, local.best_f);
    assert.deepEqual(summary.mean, local.mean);
    assert.equal(summary.lost_tasks, 0);
  } else {
    t.diagnostic(`sqs skipped: ${sqs.skip}`);
  }
});
