/**
 * The ECS task emulator against moto's ECS: a service's desiredCount becomes that many
 * local processes running the task definition's command with its environment, whose AWS
 * SDK finds the task role's credentials at the task's own loopback credentials endpoint;
 * a preempted task gets SIGTERM (and exits on its own), a killed one is gone; both are
 * replaced by the service; a lower desiredCount stops tasks; stop() ends every process.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { MOTO_ADMIN_CREDENTIALS } from './moto-server.ts';
import { startMotoOrSkip } from './testing/moto-for-tests.ts';
import { EcsTaskEmulator, type EcsTaskEvent } from './ecs-task-emulator.ts';

// The task's program: its SDK resolves credentials through the default chain (the container
// endpoint), calls STS, prints who it is and its variable, and exits 0 on SIGTERM.
const PROBE = `
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
const sts = new STSClient({});
const who = await sts.send(new GetCallerIdentityCommand({}));
const creds = await sts.config.credentials();
// The handler first: the test sends SIGTERM as soon as it reads the probe line.
process.on('SIGTERM', () => { console.log('probe got SIGTERM'); process.exit(0); });
console.log('probe ' + JSON.stringify({ account: who.Account, key: creds.accessKeyId, token: creds.sessionToken, mode: process.env.PROBE_MODE }));
setInterval(() => {}, 1000);
`;

type MotoService = NonNullable<Awaited<ReturnType<typeof startMotoOrSkip>>['service']>;

/** Moto with an ECS cluster named `cluster` and a client for it, both closed after the test; undefined (test skipped) without moto. */
async function openEcs(t: TestContext, cluster: string): Promise<{ aws: MotoService; ecs: ECSClient } | undefined> {
  const moto = await startMotoOrSkip();
  if (moto.service === undefined) {
    t.skip(moto.skip);
    return undefined;
  }
  const aws = moto.service;
  t.after(() => aws.stop());
  const ecs = new ECSClient(aws.clientConfig());
  t.after(() => ecs.destroy());
  await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
  return { aws, ecs };
}

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

test('ECS services run as local processes with their task role; preempted and killed tasks are replaced', async (t) => {
  const opened = await openEcs(t, 'emu');
  if (opened === undefined) return;
  const { aws, ecs } = opened;
  const roleArn = `arn:aws:iam::${aws.accountId}:role/emu-task`;
  const def = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'emu-worker',
      taskRoleArn: roleArn,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        {
          name: 'worker',
          image: 'node:20',
          essential: true,
          command: ['probe'],
          stopTimeout: 120,
          environment: [{ name: 'PROBE_MODE', value: 'from-task-definition' }],
        },
      ],
    }),
  );
  await ecs.send(
    new CreateServiceCommand({
      cluster: 'emu',
      serviceName: 'emu-worker',
      taskDefinition: def.taskDefinition!.taskDefinitionArn!,
      desiredCount: 2,
      launchType: 'FARGATE',
    }),
  );

  const minted: string[] = [];
  const events: EcsTaskEvent[] = [];
  const emulator = new EcsTaskEmulator({
    ecs,
    cluster: 'emu',
    reconcileEveryMs: 200,
    maxStopTimeoutMs: 5000,
    cwd: process.cwd(),
    // moto accepts the administrator's keys; the session token marks which task they were minted for.
    credentialsFor: async (arn, taskId) => {
      assert.equal(arn, roleArn);
      minted.push(taskId);
      return { ...MOTO_ADMIN_CREDENTIALS, sessionToken: `session-of-${taskId}`, expiration: new Date(Date.now() + 3600_000) };
    },
    resolveCommand: (command) => (command[0] === 'probe' ? [process.execPath, '--input-type=module', '-e', PROBE] : undefined),
    baseEnv: { PATH: process.env.PATH ?? '', AWS_ENDPOINT_URL: aws.endpoint, AWS_REGION: aws.region, AWS_ACCESS_KEY_ID: 'must-be-removed' },
    onEvent: (e) => events.push(e),
  });
  t.after(() => emulator.stop());
  await emulator.start();

  const probed = (taskId: string): boolean => emulator.running().some((x) => x.id === taskId && /probe \{/.test(x.log()));
  await until(
    'two tasks that reached STS with their role',
    () => emulator.running('emu-worker').length === 2 && emulator.running().every((x) => probed(x.id)),
  );
  for (const task of emulator.running()) {
    const line = JSON.parse(/probe (\{.*\})/.exec(task.log())![1]!) as { account: string; key: string; token: string; mode: string };
    assert.deepEqual(line, {
      account: aws.accountId,
      key: MOTO_ADMIN_CREDENTIALS.accessKeyId,
      token: `session-of-${task.id}`,
      mode: 'from-task-definition',
    });
  }

  // Fargate Spot interruption: SIGTERM; the task exits on its own (0); the service starts another.
  const [victim, other] = emulator.running();
  const victimLog = victim!.log;
  assert.deepEqual(await emulator.preemptTask(victim!.id), { code: 0, signal: null });
  assert.match(victimLog(), /probe got SIGTERM/);
  await until('a replacement after the preemption', () => emulator.startedCount() === 3 && emulator.running('emu-worker').length === 2);

  // A crash: the process dies; the service replaces it.
  emulator.killTask(other!.id);
  await until(
    'a replacement after the kill',
    () =>
      emulator.startedCount() === 4 && emulator.running('emu-worker').length === 2 && !emulator.running().some((x) => x.id === other!.id),
  );

  // Scale in.
  await ecs.send(new UpdateServiceCommand({ cluster: 'emu', service: 'emu-worker', desiredCount: 1 }));
  await until('one task after scale-in', () => emulator.running('emu-worker').length === 1);
  assert.ok(
    events.some((e) => e.type === 'stopped' && e.signal === 'SIGKILL'),
    'the kill was seen',
  );

  const last = emulator.running()[0]!;
  // (Once it has its handler: a task stopped before it listens for SIGTERM dies of it, as on ECS.)
  await until('the last task to be up', () => probed(last.id));
  await emulator.stop();
  assert.deepEqual(await last.exited, { code: 0, signal: null });
  assert.equal(emulator.running().length, 0);
});

test('container secrets reach the task as environment through secretFor, and a task with secrets is refused without it', async (t) => {
  const opened = await openEcs(t, 'sec');
  if (opened === undefined) return;
  const { aws, ecs } = opened;
  const secretArn = `arn:aws:secretsmanager:${aws.region}:${aws.accountId}:secret:sec/api-keys-AbCdEf`;
  const def = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'sec-api',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        { name: 'api', image: 'node:20', essential: true, command: ['show'], secrets: [{ name: 'API_KEYS', valueFrom: secretArn }] },
      ],
    }),
  );
  await ecs.send(
    new CreateServiceCommand({
      cluster: 'sec',
      serviceName: 'sec-api',
      taskDefinition: def.taskDefinition!.taskDefinitionArn!,
      desiredCount: 1,
      launchType: 'FARGATE',
    }),
  );
  const common = {
    ecs,
    cluster: 'sec',
    cwd: process.cwd(),
    baseEnv: { PATH: process.env.PATH ?? '' },
    credentialsFor: () => Promise.reject(new Error('no task role')),
    resolveCommand: (command: string[]) =>
      command[0] === 'show'
        ? [process.execPath, '-e', 'console.log("secret=" + process.env.API_KEYS); setInterval(() => {}, 1000)']
        : undefined,
  };
  const refusing = new EcsTaskEmulator(common);
  t.after(() => refusing.stop());
  await assert.rejects(refusing.start(), /has secret API_KEYS and the emulator has no secretFor/);
  assert.equal(refusing.running().length, 0, 'nothing started without its secrets');
  await refusing.stop();

  const asked: string[] = [];
  const emulator = new EcsTaskEmulator({
    ...common,
    secretFor: async (valueFrom, secret) => {
      asked.push(`${secret.name} ${valueFrom}`);
      return 'k'.repeat(16) + ':demo';
    },
  });
  t.after(() => emulator.stop());
  await emulator.start();
  await until('the task printing its secret', () => emulator.running().some((x) => /secret=k{16}:demo/.test(x.log())));
  assert.deepEqual(asked, [`API_KEYS ${secretArn}`]);
});
