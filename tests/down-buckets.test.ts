/**
 * `synkti down` and the cluster's buckets on the local provider: kept by default;
 * `--delete-buckets` deletes the unprotected ones and refuses protected ones, naming
 * them and the exact flags (exit 4); a protected bucket goes only when told twice
 * (`--delete-buckets` and `--delete-protected-buckets <its name>`); bad combinations are
 * usage errors raised before anything is stopped or deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isSynktiError, validateCluster } from '@synkti/core';
import { createLocalCloud } from '@synkti/cloud';
import { down } from '../packages/cli/src/commands/down.ts';
import { fakeEc2 } from '../packages/cli/src/fleet/aws-fleet-testing.ts';
import { makeProject, runCli, uniqueName } from './helpers/cli.ts';

async function projectWithBuckets(t: { after(fn: () => void): void }) {
  const name = uniqueName('e2e-down');
  const project = makeProject({ name, pools: { worker: { count: 1 } } });
  t.after(() => project.cleanup());
  const stateDir = join(project.dir, '.synkti', name);
  const cloud = createLocalCloud({ stateDir });
  t.after(() => cloud.close());
  await cloud.objects.createBucket('checkpoints');
  await cloud.objects.put('checkpoints', 'gen-1.json', '{"gen":1}');
  await cloud.objects.createBucket('scratch');
  await cloud.objects.createBucket('models', { protected: true });
  await cloud.objects.put('models', 'llama/weights.bin', 'weights');
  await cloud.objects.createBucket('datasets', { protected: true });
  const spec = validateCluster({ name, pools: { worker: { count: 1 } } });
  const file = join(project.dir, 'synkti.config.ts');
  const exists = (bucket: string) => existsSync(join(stateDir, 'objects', bucket));
  return { project, spec, file, cloud, exists };
}

const BASE = { force: true, timeoutMs: 10_000, quiet: true };

test('by default down keeps every bucket', async (t) => {
  const { spec, file, exists } = await projectWithBuckets(t);
  const result = await down(spec, file, BASE);
  assert.deepEqual(result.buckets, { deleted: [], kept: ['checkpoints', 'datasets', 'models', 'scratch'], refusedProtected: [] });
  for (const bucket of ['checkpoints', 'datasets', 'models', 'scratch']) assert.ok(exists(bucket), `${bucket} kept`);
});

test('--delete-buckets deletes unprotected buckets (with their objects) and refuses protected ones; the CLI names them and exits 4', async (t) => {
  const { project, exists } = await projectWithBuckets(t);
  const result = await runCli(['down', '--delete-buckets', '--json'], { cwd: project.dir });
  assert.equal(result.code, 4, result.stderr);
  const json = JSON.parse(result.stdout) as { buckets: { deleted: string[]; refusedProtected: string[] } };
  assert.deepEqual(json.buckets.deleted, ['checkpoints', 'scratch']);
  assert.deepEqual(json.buckets.refusedProtected, ['datasets', 'models']);
  assert.ok(!exists('checkpoints') && !exists('scratch'), 'unprotected buckets are gone');
  assert.ok(exists('models') && exists('datasets'), 'protected buckets are kept');
  assert.match(result.stderr, /refused to delete protected buckets datasets, models/);
  assert.ok(
    result.stderr.includes('synkti down --delete-buckets --delete-protected-buckets datasets --delete-protected-buckets models'),
    result.stderr,
  );
});

test('told twice: --delete-buckets and --delete-protected-buckets <name> delete that protected bucket only', async (t) => {
  const { spec, file, cloud, exists } = await projectWithBuckets(t);
  const result = await down(spec, file, { ...BASE, deleteBuckets: true, deleteProtectedBuckets: ['models'] });
  assert.deepEqual(result.buckets.deleted, ['checkpoints', 'models', 'scratch']);
  assert.deepEqual(result.buckets.refusedProtected, ['datasets'], 'a protected bucket not named is still refused');
  assert.ok(!exists('models'), 'the named protected bucket is gone, objects and all');
  assert.equal(
    await cloud.objects.head('models', 'llama/weights.bin').catch((e: unknown) => (isSynktiError(e, 'E_BUCKET_NOT_FOUND') ? 'gone' : e)),
    'gone',
  );
  assert.ok(exists('datasets'));
});

test('bad bucket flags are usage errors raised before anything is stopped or deleted', async (t) => {
  const { spec, file, exists } = await projectWithBuckets(t);
  await assert.rejects(
    down(spec, file, { ...BASE, deleteProtectedBuckets: ['models'] }),
    (e: unknown) => isSynktiError(e, 'E_USAGE') && /needs --delete-buckets too/.test(e.message) && /told twice/.test(e.hint ?? ''),
  );
  await assert.rejects(
    down(spec, file, { ...BASE, deleteBuckets: true, deleteProtectedBuckets: ['model'] }),
    (e: unknown) => isSynktiError(e, 'E_USAGE') && /no bucket named model\b/.test(e.message) && /models \(protected\)/.test(e.hint ?? ''),
  );
  await assert.rejects(
    down(spec, file, { ...BASE, deleteBuckets: true, deleteProtectedBuckets: ['scratch'] }),
    (e: unknown) => isSynktiError(e, 'E_USAGE') && /scratch is not protected/.test(e.message),
  );
  for (const bucket of ['checkpoints', 'datasets', 'models', 'scratch']) assert.ok(exists(bucket), `${bucket} untouched`);
});

test('aws: --delete-buckets points at the infrastructure stack, before any EC2 call', async () => {
  const spec = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
  const { client, mock } = fakeEc2([]);
  try {
    await assert.rejects(
      down(spec, '/nonexistent/synkti.config.ts', { ...BASE, deleteBuckets: true, ec2Client: client }),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /infra destroy/.test(e.hint ?? ''),
    );
    assert.equal(mock.calls().length, 0);
  } finally {
    mock.restore();
  }
});
