import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
// The registry is internal to @synkti/cloud; the test writes it as the local cloud does.
import { LocalRegistry } from '../../../cloud/src/providers/local/registry.ts';
import { nodeFinding, pulumiFinding, runDoctor } from './doctor.ts';
import { doctorExitCode, renderFindings, type Finding } from './doctor-finding.ts';

const BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-doctor-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeConfig(dir: string, config: unknown): string {
  const file = join(dir, 'synkti.config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** A bin directory with a fake `pulumi` that prints a version, and an empty one. */
function pathDirs(dir: string): { withPulumi: string; without: string } {
  const withPulumi = join(dir, 'bin-with');
  const without = join(dir, 'bin-without');
  mkdirSync(withPulumi);
  mkdirSync(without);
  writeFileSync(join(withPulumi, 'pulumi'), '#!/bin/sh\necho v3.200.0\n', { mode: 0o755 });
  return { withPulumi, without };
}

function finding(findings: Finding[], check: string): Finding {
  const f = findings.find((x) => x.check === check);
  assert.ok(f, `no ${check} finding in ${JSON.stringify(findings.map((x) => x.check))}`);
  return f;
}

function runCli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** An env with no AWS credentials anywhere the SDK's default chain looks. */
function bareEnv(home: string, path: string): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SYNKTI_STATE_DIR: join(home, 'state'),
  };
}

function instance(id: string, tags: Record<string, string>, metadata: Instance['MetadataOptions']): Instance {
  return { InstanceId: id, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), MetadataOptions: metadata };
}

const GOOD_IMDS = { HttpTokens: 'required', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled', HttpEndpoint: 'enabled' } as const;

// Every SSM client in this file is mocked (no test may reach AWS); by default the cluster
// secret's parameter does not exist.
const ssm = mockClient(SSMClient);
function ssmAnswers(answer: 'SecureString' | 'String' | 'ParameterNotFound' | 'AccessDeniedException'): void {
  ssm.reset();
  if (answer === 'SecureString' || answer === 'String')
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/x', Type: answer, Version: 1 } });
  else ssm.on(GetParameterCommand).rejects(Object.assign(new Error(answer), { name: answer }));
}
ssmAnswers('ParameterNotFound');

function mockedEc2(t: { after: (fn: () => void) => void }, instances: Instance[], dryRunError = 'DryRunOperation') {
  const client = new EC2Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDFAKEWXYZ', secretAccessKey: 'fake' },
    maxAttempts: 1,
  });
  const mock = mockClient(client);
  t.after(() => mock.restore());
  mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: instances }] });
  mock.on(DescribeInstancesCommand, { DryRun: true }).rejects(Object.assign(new Error('dry run'), { name: dryRunError }));
  return { client, mock };
}

test('a clean local project passes: every check ok with Pulumi on PATH, exit code 0', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'demo', provider: 'local', pools: { web: { count: 2 } } });
  const report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir } });
  assert.deepEqual(
    report.findings.map((f) => [f.check, f.status]),
    [
      ['node', 'ok'],
      ['config', 'ok'],
      ['state-dir', 'ok'],
      ['stale-instances', 'ok'],
      ['pulumi', 'ok'],
    ],
  );
  assert.match(finding(report.findings, 'pulumi').message, /v3\.200\.0/);
  assert.equal(report.exitCode, 0);
  assert.match(renderFindings(report.findings), /all checks passed/);
});

test('Pulumi missing from PATH: a warning with the install link, not a failure', async (t) => {
  const dir = tempDir(t);
  const { without } = pathDirs(dir);
  const f = await pulumiFinding({ PATH: without, HOME: dir });
  assert.equal(f.status, 'warn');
  assert.match(f.message, /not on PATH/);
  assert.match(f.fix ?? '', /https:\/\/www\.pulumi\.com\/docs\/install\//);
  assert.equal(doctorExitCode([f]), 0);
});

test('CLI: a bad config field is a failure naming the field (exit 1); a clean local project exits 0 with Pulumi missing', async (t) => {
  const dir = tempDir(t);
  const { without } = pathDirs(dir);
  writeConfig(dir, { name: 'demo', provider: 'local', pools: { web: { count: -1 } } });
  const bad = await runCli(['doctor'], dir, bareEnv(dir, without));
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stdout, /FAIL\s+config\s+.*synkti\.config\.json has 1 problem/);
  assert.match(bad.stdout, /pools\.web\.count: must be at least 0/);
  assert.match(bad.stdout, /fix: /);
  assert.match(bad.stdout, /WARN\s+pulumi/);

  writeConfig(dir, { name: 'demo', provider: 'local', pools: { web: { count: 1 } } });
  const good = await runCli(['doctor', '--json'], dir, bareEnv(dir, without));
  assert.equal(good.code, 0, good.stdout + good.stderr);
  const report = JSON.parse(good.stdout) as { ok: boolean; findings: Finding[] };
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.findings.filter((f) => f.status !== 'ok').map((f) => f.check),
    ['pulumi'],
  );
});

test('CLI: provider aws with no credentials anywhere fails aws-credentials with how to set them (exit 1)', async (t) => {
  const dir = tempDir(t);
  const { without } = pathDirs(dir);
  writeConfig(dir, { name: 'demo', provider: 'aws', region: 'eu-west-1', pools: { web: { count: 1 } } });
  const result = await runCli(['doctor', '--json'], dir, bareEnv(dir, without));
  assert.equal(result.code, 1, result.stderr);
  const report = JSON.parse(result.stdout) as { findings: Finding[] };
  const creds = finding(report.findings, 'aws-credentials');
  assert.equal(creds.status, 'fail');
  assert.match(creds.message, /no AWS credentials/);
  assert.match(creds.fix ?? '', /aws configure|aws sso login/);
  assert.equal(
    report.findings.some((f) => f.check === 'imds'),
    false,
    'nothing is listed without credentials',
  );
});

test('EC2 instance with HttpTokens optional and a missing SynktiRole tag: imds and tags fail naming it, exit 1', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { web: { count: 2 } } });
  const { client, mock } = mockedEc2(t, [
    instance('i-0good', { SynktiCluster: 'prod', SynktiRole: 'web' }, GOOD_IMDS),
    instance('i-0bad', { SynktiCluster: 'prod' }, { ...GOOD_IMDS, HttpTokens: 'optional' }),
    instance('i-0other', { SynktiCluster: 'another-cluster', SynktiRole: 'web' }, { ...GOOD_IMDS, HttpTokens: 'optional' }),
  ]);
  const report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir, AWS_REGION: 'eu-west-1' }, ec2Client: client });
  assert.equal(finding(report.findings, 'aws-credentials').status, 'ok');
  assert.doesNotMatch(finding(report.findings, 'aws-credentials').message, /fake|AKIDFAKE/, 'no secret, not even the whole key id');
  assert.equal(finding(report.findings, 'ec2-permissions').status, 'ok');
  const imds = finding(report.findings, 'imds');
  assert.equal(imds.status, 'fail');
  assert.match(imds.message, /i-0bad: HttpTokens optional/);
  assert.doesNotMatch(imds.message, /i-0good|i-0other/, "only this cluster's bad instance");
  assert.match(imds.fix ?? '', /--http-tokens required/);
  const tags = finding(report.findings, 'tags');
  assert.equal(tags.status, 'fail');
  assert.match(tags.message, /i-0bad: SynktiCluster=prod but no SynktiRole/);
  assert.match(tags.fix ?? '', /create-tags --resources i-0bad --tags Key=SynktiRole/);
  assert.equal(report.exitCode, 1);
  // The listing asked EC2 only for running instances carrying a Synkti tag.
  const listCall = mock.commandCalls(DescribeInstancesCommand).find((c) => !c.args[0].input.DryRun);
  assert.deepEqual(listCall?.args[0].input.Filters?.find((f) => f.Name === 'tag-key')?.Values, ['SynktiCluster', 'SynktiRole']);
});

test('EC2: hop limit 1 and metadata tags disabled are reported; a role-tagged stray without a cluster tag is a warning', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { web: { count: 1 } } });
  const { client } = mockedEc2(t, [
    instance('i-0hop', { SynktiCluster: 'prod', SynktiRole: 'web' }, { ...GOOD_IMDS, HttpPutResponseHopLimit: 1 }),
    instance('i-0stray', { SynktiRole: 'web' }, GOOD_IMDS),
  ]);
  let report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir }, ec2Client: client });
  assert.equal(finding(report.findings, 'imds').status, 'warn');
  assert.match(finding(report.findings, 'imds').message, /i-0hop: HttpPutResponseHopLimit 1/);
  assert.equal(finding(report.findings, 'tags').status, 'warn');
  assert.match(finding(report.findings, 'tags').message, /i-0stray: SynktiRole=web but no SynktiCluster/);
  assert.equal(report.exitCode, 0, 'warnings alone do not fail');

  const second = mockedEc2(t, [
    instance('i-0notags', { SynktiCluster: 'prod', SynktiRole: 'web' }, { ...GOOD_IMDS, InstanceMetadataTags: 'disabled' }),
  ]);
  report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir }, ec2Client: second.client });
  assert.equal(finding(report.findings, 'imds').status, 'fail');
  assert.match(finding(report.findings, 'imds').message, /InstanceMetadataTags disabled/);
});

test('EC2: a healthy fleet passes; DescribeInstances denied fails ec2-permissions', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { web: { count: 1 } } });
  const healthy = mockedEc2(t, [instance('i-0a', { SynktiCluster: 'prod', SynktiRole: 'web' }, GOOD_IMDS)]);
  ssmAnswers('SecureString');
  let report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir }, ec2Client: healthy.client });
  assert.deepEqual(
    report.findings.filter((f) => f.status !== 'ok'),
    [],
  );
  assert.equal(report.exitCode, 0);
  const asked = ssm.commandCalls(GetParameterCommand)[0]?.args[0].input;
  assert.deepEqual(asked, { Name: '/synkti/prod/cluster-secret', WithDecryption: false }, 'the value is never fetched');

  const denied = mockedEc2(t, [], 'UnauthorizedOperation');
  report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir }, ec2Client: denied.client });
  const perms = finding(report.findings, 'ec2-permissions');
  assert.equal(perms.status, 'fail');
  assert.match(perms.fix ?? '', /ec2:Describe/);
  assert.equal(report.exitCode, 1);
});

test('EC2: the cluster secret parameter: missing is a warning, plaintext a failure, denied a warning naming ssm:GetParameter', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { web: { count: 1 } } });
  const healthy = mockedEc2(t, [instance('i-0a', { SynktiCluster: 'prod', SynktiRole: 'web' }, GOOD_IMDS)]);
  const secretFinding = async () =>
    finding((await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir }, ec2Client: healthy.client })).findings, 'cluster-secret');
  ssmAnswers('ParameterNotFound');
  let f = await secretFinding();
  assert.equal(f.status, 'warn');
  assert.match(f.message, /\/synkti\/prod\/cluster-secret does not exist/);
  assert.match(f.fix ?? '', /synkti bootstrap --project prod/);
  ssmAnswers('String');
  f = await secretFinding();
  assert.equal(f.status, 'fail');
  assert.match(f.fix ?? '', /SecureString/);
  ssmAnswers('AccessDeniedException');
  f = await secretFinding();
  assert.equal(f.status, 'warn');
  assert.match(f.message, /ssm:GetParameter is denied/);
  ssmAnswers('ParameterNotFound');
});

test('Node older than 20.11 fails; 22 is ok', () => {
  assert.equal(nodeFinding('20.10.0').status, 'fail');
  assert.equal(nodeFinding('18.19.1').status, 'fail');
  assert.match(nodeFinding('20.10.0').fix ?? '', /Node 20\.11/);
  assert.equal(nodeFinding('22.1.0').status, 'ok');
});

test('Node 20 passes, with the note the CLI keeps out of every AWS command: SDK releases from 2027 need Node 22', () => {
  const on20 = nodeFinding('20.11.0');
  assert.equal(on20.status, 'ok');
  assert.match(on20.message, /Node >= 22/);
  assert.doesNotMatch(nodeFinding('22.1.0').message, /note/);
});

test('local: an instance recorded as running whose host died is reported as stale', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'demo', provider: 'local', pools: { web: { count: 1 } } });
  // A pid that surely existed and has exited.
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  const registry = LocalRegistry.open(join(dir, '.synkti', 'demo'));
  t.after(() => registry.close());
  const row = {
    privateIp: '127.0.0.1',
    instanceType: 'local',
    zone: 'local-a',
    lifecycle: 'spot' as const,
    launchedAt: Date.now(),
    userData: null,
    clientToken: null,
  };
  registry.insertInstance({ ...row, id: 'i-dead' }, { SynktiCluster: 'demo' });
  registry.recordHost('i-dead', child.pid!, undefined);
  registry.markRunning('i-dead', 'http://127.0.0.1:1');
  registry.insertInstance({ ...row, id: 'i-alive' }, { SynktiCluster: 'demo' });
  registry.recordHost('i-alive', process.pid, undefined);
  registry.markRunning('i-alive', 'http://127.0.0.1:2');

  const report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir } });
  const stale = finding(report.findings, 'stale-instances');
  assert.equal(stale.status, 'warn');
  assert.match(stale.message, /i-dead/);
  assert.doesNotMatch(stale.message, /i-alive/);
  assert.match(stale.fix ?? '', /synkti status/);
  assert.equal(registry.getInstance('i-dead')?.state, 'running', 'doctor only reads the registry');
});

test('local: a state directory that cannot be created or written fails (exit 1)', async (t) => {
  const dir = tempDir(t);
  const { withPulumi } = pathDirs(dir);
  writeConfig(dir, { name: 'demo', provider: 'local', pools: { web: { count: 1 } } });
  // .synkti is a file, so .synkti/demo can never be made (works as root too, unlike chmod).
  writeFileSync(join(dir, '.synkti'), 'not a directory');
  const report = await runDoctor({ cwd: dir, env: { PATH: withPulumi, HOME: dir } });
  const f = finding(report.findings, 'state-dir');
  assert.equal(f.status, 'fail');
  assert.match(f.message, /\.synkti\/demo is not writable.*ENOTDIR/);
  assert.match(f.fix ?? '', /SYNKTI_STATE_DIR/);
  assert.equal(report.exitCode, 1);
});
