import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { isSynktiError } from '@synkti/core';
import { startMotoServer } from './moto-server.ts';
import { startMotoOrSkip } from './testing/moto-for-tests.ts';

test('moto_server answers the SDK on loopback and is gone after stop()', async (t) => {
  const started = await startMotoOrSkip();
  if (!started.service) return t.skip(started.skip);
  const moto = started.service;
  const ec2 = new EC2Client(moto.clientConfig());
  try {
    const launched = await ec2.send(
      new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
    );
    const id = launched.Instances?.[0]?.InstanceId;
    assert.match(id ?? '', /^i-/);
    const listed = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id!] }));
    assert.equal(listed.Reservations?.[0]?.Instances?.[0]?.InstanceId, id);
  } finally {
    ec2.destroy();
    await moto.stop();
  }
  await assert.rejects(fetch(`${moto.endpoint}/moto-api/data.json`), 'the server is gone after stop()');
});

test('a missing moto_server is E_TOOL_MISSING with the install hint', async () => {
  await assert.rejects(
    startMotoServer({ command: 'moto_server_that_does_not_exist' }),
    (e: unknown) => isSynktiError(e, 'E_TOOL_MISSING') && /pip install/.test(e.hint ?? ''),
  );
});

test('moto_server dies with the process that started it, even on SIGKILL', async (t) => {
  const started = await startMotoOrSkip();
  if (!started.service) return t.skip(started.skip);
  await started.service.stop();
  // A child node process starts moto, prints the endpoint, and is SIGKILLed.
  const script = `import { startMotoServer } from ${JSON.stringify(new URL('./moto-server.ts', import.meta.url).pathname)};
const moto = await startMotoServer(); console.log(moto.endpoint); process.kill(process.pid, 'SIGKILL');`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const endpoint = child.stdout.trim();
  assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/, child.stderr);
  // The guard notices EOF on its stdin and kills moto; wait for the port to close (bounded).
  const until = Date.now() + 20_000;
  let up = true;
  while (up && Date.now() < until) {
    up = await fetch(`${endpoint}/moto-api/data.json`).then(
      () => true,
      () => false,
    );
    if (up) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(up, false, 'moto_server outlived the process that started it');
});
