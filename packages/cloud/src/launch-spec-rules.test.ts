import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { checkLaunchSpec } from './launch-spec-rules.ts';
import { LocalInstanceProvider } from './providers/local/local-instance-provider.ts';
import type { LaunchSpec } from './types.ts';

const ok: LaunchSpec = { tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker' }, instanceType: 't3.micro', lifecycle: 'spot' };

test("ClientToken: EC2's rule, 1 to 64 printable ASCII characters", () => {
  assert.deepEqual(checkLaunchSpec({ ...ok, clientToken: 'replace-i-0123456789abcdef0' }), ok.tags);
  assert.doesNotThrow(() => checkLaunchSpec({ ...ok, clientToken: 'x'.repeat(64) }));
  for (const bad of ['', 'x'.repeat(65), 'has space', 'naïve', 'tab\there']) {
    assert.throws(
      () => checkLaunchSpec({ ...ok, clientToken: bad }),
      { code: 'E_LAUNCH_SPEC', message: /clientToken/ },
      JSON.stringify(bad),
    );
  }
});

test('tags: cluster and role set at launch, keys readable from metadata', () => {
  assert.throws(() => checkLaunchSpec({ ...ok, tags: { [TAG_CLUSTER]: 'c' } }), /missing the tag SynktiRole/);
  assert.throws(() => checkLaunchSpec({ ...ok, tags: { ...ok.tags, 'a key': 'v' } }), /tag key "a key" is not allowed/);
  assert.throws(() => checkLaunchSpec({ ...ok, tags: { ...ok.tags, 'aws:x': 'v' } }), /not allowed/);
});

test('the local cloud refuses the client token EC2 refuses (it used to take any 1-64 characters)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-launch-rules-'));
  const local = new LocalInstanceProvider({ stateDir: dir });
  t.after(async () => {
    local.close();
    await rm(dir, { recursive: true, force: true });
  });
  await assert.rejects(local.launch({ ...ok, instanceType: 'local.small', clientToken: 'token with spaces' }), {
    code: 'E_LAUNCH_SPEC',
    message: /printable ASCII/,
  });
});
