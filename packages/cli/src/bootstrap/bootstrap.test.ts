/**
 * bootstrap against a real local S3 server (s3rver), a stateful in-memory EC2 behind
 * aws-sdk-client-mock (DescribeInstances returns what RunInstances launched), a stateful
 * SSM Parameter Store mock (fake-ssm.ts) and a fake infra runner: idempotence is checked
 * on the resources themselves, not on the report.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListBucketsCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { isSynktiError, validateCluster } from '@synkti/core';
import { createS3ObjectStore, renderWorkerUserData, type S3ObjectStoreOptions } from '@synkti/cloud';
import { FakeEc2, startTestS3, type TestS3 } from '@synkti/cloud/aws-testing';
import {
  MODEL_MANIFEST_NAME,
  createPulumiInfraRunner,
  digestFile,
  fileBackendHasStack,
  runBootstrap as runBootstrapSteps,
  type BootstrapOptions,
  type BootstrapReport,
  type InfraRunner,
  type InfraRunRequest,
} from '@synkti/infra/bootstrap';
import type { AwsLaunchFlags } from '../worker/worker-settings.ts';
import { cliBootstrapDeps, type CliBootstrapDepsInput } from './bootstrap-deps.ts';
import { renderBootstrapReport } from './bootstrap-output.ts';
import { FakeSsm } from './fake-ssm.ts';
import { SpotServeFleet, defaultPlanFile, runMockStack, type PolicyDocument } from '@synkti/infra';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The bootstrap library with this CLI's packer, worker pool and versions: what `synkti bootstrap` runs. */
function runBootstrap(options: BootstrapOptions<AwsLaunchFlags>, deps: CliBootstrapDepsInput): Promise<BootstrapReport> {
  return runBootstrapSteps(options, cliBootstrapDeps(deps));
}

const AMI = 'ami-0123456789abcdef0';
const ACCOUNT_ID = '123456789012';
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

/** A stack that exists after its first `up`: the second reports every resource "same". */
function fakeInfra(outputs: Record<string, unknown> = {}): InfraRunner & { ups: InfraRunRequest[]; previews: number } {
  let deployed = false;
  const changes = (): Record<string, number> => (deployed ? { same: 7 } : { create: 7 });
  const runner = {
    ups: [] as InfraRunRequest[],
    previews: 0,
    async preview() {
      runner.previews += 1;
      return { changes: changes() };
    },
    async up(request: InfraRunRequest) {
      runner.ups.push(request);
      const result = { changes: changes(), outputs };
      deployed = true;
      return result;
    },
  };
  return runner;
}

let s3: TestS3;
let work: string;
let s3Options: S3ObjectStoreOptions;
let raw: S3Client;

before(async () => {
  s3 = await startTestS3();
  work = await mkdtemp(join(tmpdir(), 'synkti-bootstrap-test-'));
  s3Options = { endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1', secureNewBuckets: false };
  raw = new S3Client({ endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1', forcePathStyle: true });
});
after(async () => {
  raw?.destroy();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function bucketNames(): Promise<string[]> {
  return ((await raw.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? '').sort();
}

async function keys(bucket: string): Promise<string[]> {
  return ((await raw.send(new ListObjectsCommand({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function modifiedAt(bucket: string, key: string): Promise<number> {
  const store = createS3ObjectStore(s3Options);
  try {
    return (await store.head(bucket, key))!.modifiedAt;
  } finally {
    store.client.destroy();
  }
}

async function project(name: string): Promise<{ dir: string; artifact: string; node: string; model: string }> {
  const dir = join(work, name);
  const model = join(dir, 'tiny-model');
  await mkdir(join(model, 'tokenizer'), { recursive: true });
  await writeFile(join(model, 'config.json'), '{"hidden_size": 8}\n');
  await writeFile(join(model, 'model.safetensors'), Buffer.alloc(300_000, 3));
  await writeFile(join(model, 'tokenizer', 'vocab.txt'), 'a\nb\nc\n');
  await writeFile(join(dir, 'synkti-agent-0.1.0.tgz'), 'agent release 0.1.0');
  await writeFile(join(dir, 'node-v20.18.1-linux-x64.tar.xz'), 'node tarball');
  return { dir, artifact: join(dir, 'synkti-agent-0.1.0.tgz'), node: join(dir, 'node-v20.18.1-linux-x64.tar.xz'), model };
}

function statuses(report: BootstrapReport): Record<string, string> {
  return Object.fromEntries(report.steps.map((s) => [s.step, s.status]));
}

describe('synkti bootstrap (s3rver + stateful EC2 mock + fake infra runner)', () => {
  it('run twice: one bucket set, one artifact, one model manifest, exactly N instances; the second run reports everything present', async () => {
    const p = await project('twice');
    const ec2 = new FakeEc2();
    const infra = fakeInfra();
    const options: BootstrapOptions = {
      project: 'twice',
      region: 'us-east-1',
      artifact: p.artifact,
      version: '0.1.0',
      nodeTarball: p.node,
      modelDir: p.model,
      workers: 3,
      aws: { imageId: AMI },
    };
    const ssm = new FakeSsm();
    const deps = { infra, s3: s3Options, ec2Client: ec2.client, ssmClient: ssm.client };

    const first = await runBootstrap(options, deps);
    assert.equal(first.ok, true, JSON.stringify(first.steps));
    assert.deepEqual(statuses(first), {
      infra: 'created',
      secret: 'created',
      buckets: 'created',
      artifact: 'created',
      model: 'created',
      workers: 'created',
    });
    assert.deepEqual([...ssm.parameters.keys()], ['/synkti/twice/cluster-secret']);
    assert.deepEqual(first.buckets, { models: 'twice-models', checkpoints: 'twice-checkpoints' });
    assert.equal(first.steps.find((s) => s.step === 'workers')!.changed.length, 3);
    assert.equal(infra.ups[0]?.stack, 'twice', 'the Pulumi stack defaults to the project name');
    assert.deepEqual(infra.ups[0]?.config, { serve: { projectName: 'twice', region: 'us-east-1', workerCount: 0 } });
    // That stack's worker role can replace itself (spot notice) and untag itself (shutdown).
    const stack = await runMockStack((opts) => new SpotServeFleet('serve', infra.ups[0]!.config.serve, opts), { stack: 'twice' });
    const grants = (
      JSON.parse(stack.resources.find((r) => r.type === 'aws:iam/rolePolicy:RolePolicy')!.inputs.policy as string) as PolicyDocument
    ).Statement.flatMap((s) => s.Action);
    for (const action of ['ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:CreateTags', 'ec2:DeleteTags', 'iam:PassRole'])
      assert.ok(grants.includes(action), `the worker role may ${action}`);

    const artifactSha = (await digestFile(p.artifact)).sha256;
    assert.deepEqual(first.artifact, { key: 'artifacts/synkti-agent-0.1.0.tgz', version: '0.1.0', sha256: artifactSha });
    const stamps = {
      artifact: await modifiedAt('twice-models', 'artifacts/synkti-agent-0.1.0.tgz'),
      manifest: await modifiedAt('twice-models', `models/tiny-model/${MODEL_MANIFEST_NAME}`),
    };

    const second = await runBootstrap(options, deps);
    assert.equal(second.ok, true);
    assert.deepEqual(statuses(second), {
      infra: 'present',
      secret: 'present',
      buckets: 'present',
      artifact: 'present',
      model: 'present',
      workers: 'present',
    });
    assert.equal(ssm.mock.commandCalls(PutParameterCommand).length, 1, 'the secret was put once, by the first run');
    for (const s of second.steps) assert.deepEqual(s.changed, [], `${s.step} changed nothing on the second run`);

    // The resources themselves, after both runs.
    assert.deepEqual(await bucketNames(), ['twice-checkpoints', 'twice-models']);
    assert.deepEqual(await keys('twice-models'), [
      '.synkti/bucket.json', // the protection marker: the models bucket outlives the fleet
      '.synkti/owner.json', // the owner marker: ObjectStore.listBuckets knows it as Synkti's
      'artifacts/node-v20.18.1-linux-x64.tar.xz',
      'artifacts/synkti-agent-0.1.0.tgz',
      'models/tiny-model/config.json',
      'models/tiny-model/model.safetensors',
      `models/tiny-model/${MODEL_MANIFEST_NAME}`,
      'models/tiny-model/tokenizer/vocab.txt',
    ]);
    assert.equal(
      await modifiedAt('twice-models', 'artifacts/synkti-agent-0.1.0.tgz'),
      stamps.artifact,
      'the artifact was not uploaded again',
    );
    assert.equal(
      await modifiedAt('twice-models', `models/tiny-model/${MODEL_MANIFEST_NAME}`),
      stamps.manifest,
      'the manifest was not rewritten',
    );
    assert.equal(ec2.mock.commandCalls(RunInstancesCommand).length, 3, 'exactly 3 RunInstances in both runs');
    const instances = [...ec2.instances.values()];
    assert.equal(instances.length, 3);
    for (const instance of instances) {
      assert.equal(instance.tags.get('SynktiCluster'), 'twice');
      assert.equal(instance.tags.get('SynktiRole'), 'worker');
    }

    // The workers boot from exactly what was uploaded: the boot script pins both checksums.
    const userData = Buffer.from(ec2.mock.commandCalls(RunInstancesCommand)[0]!.args[0].input.UserData ?? '', 'base64').toString('utf8');
    const spec = validateCluster({ name: 'twice', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 3 } } });
    assert.equal(
      userData,
      renderWorkerUserData({
        spec,
        bucket: 'twice-models',
        version: '0.1.0',
        sha256: artifactSha,
        node: { version: '20.18.1', sha256: (await digestFile(p.node)).sha256, arch: 'x64' },
      }),
    );
  });

  it('more workers wanted later: only the missing ones are launched', async () => {
    const p = await project('grow');
    const ec2 = new FakeEc2();
    const deps = { infra: fakeInfra(), s3: s3Options, ec2Client: ec2.client, ssmClient: new FakeSsm().client };
    const base: BootstrapOptions = {
      project: 'grow',
      region: 'us-east-1',
      artifact: p.artifact,
      nodeTarball: p.node,
      aws: { imageId: AMI },
    };
    await runBootstrap({ ...base, workers: 2 }, deps);
    const grown = await runBootstrap({ ...base, workers: 5 }, deps);
    const workers = grown.steps.find((s) => s.step === 'workers')!;
    assert.equal(workers.status, 'created');
    assert.equal(workers.changed.length, 3);
    assert.equal(workers.present.length, 2);
    assert.equal(ec2.instances.size, 5);
  });

  it('a changed model file: only that file and the manifest are uploaded again', async () => {
    const p = await project('change');
    const deps = { infra: fakeInfra(), s3: s3Options, ssmClient: new FakeSsm().client };
    const options: BootstrapOptions = { project: 'change', region: 'us-east-1', artifact: p.artifact, modelDir: p.model, skipInfra: true };
    await runBootstrap(options, deps);
    const before = {
      weights: await modifiedAt('change-models', 'models/tiny-model/model.safetensors'),
      vocab: await modifiedAt('change-models', 'models/tiny-model/tokenizer/vocab.txt'),
    };
    await writeFile(join(p.model, 'config.json'), '{"hidden_size": 16}\n');

    const again = await runBootstrap(options, deps);
    const model = again.steps.find((s) => s.step === 'model')!;
    assert.equal(model.status, 'created');
    assert.deepEqual(model.changed, ['models/tiny-model/config.json', `models/tiny-model/${MODEL_MANIFEST_NAME}`]);
    assert.deepEqual(model.present, ['models/tiny-model/model.safetensors', 'models/tiny-model/tokenizer/vocab.txt']);
    assert.equal(statuses(again).artifact, 'present');
    assert.equal(await modifiedAt('change-models', 'models/tiny-model/model.safetensors'), before.weights);
    assert.equal(await modifiedAt('change-models', 'models/tiny-model/tokenizer/vocab.txt'), before.vocab);
    const store = createS3ObjectStore(s3Options);
    try {
      const manifest = JSON.parse(
        Buffer.from((await store.get('change-models', `models/tiny-model/${MODEL_MANIFEST_NAME}`))!).toString('utf8'),
      );
      const config = manifest.files.find((f: { path: string }) => f.path === 'config.json');
      assert.equal(config.sha256, (await digestFile(join(p.model, 'config.json'))).sha256, 'the manifest lists the new checksum');
    } finally {
      store.client.destroy();
    }
  });

  it('no Pulumi CLI: the infra step fails with the install message, nothing else runs, nothing is created', async () => {
    const home = await mkdtemp(join(tmpdir(), 'synkti-nopulumi-'));
    const ec2 = new FakeEc2();
    const ssm = new FakeSsm();
    try {
      const report = await runBootstrap(
        { project: 'nopulumi', region: 'us-east-1', workers: 1, aws: { imageId: AMI }, nodeSha256: 'a'.repeat(64) },
        {
          // The real Automation-API runner, on a PATH and HOME without `pulumi`.
          infra: createPulumiInfraRunner({ env: { PATH: home, HOME: home } }),
          s3: s3Options,
          ec2Client: ec2.client,
          ssmClient: ssm.client,
        },
      );
      assert.equal(report.ok, false);
      const infra = report.steps[0]!;
      assert.equal(infra.status, 'failed');
      assert.equal(infra.error?.code, 'E_PULUMI_CLI_MISSING');
      assert.match(infra.error?.hint ?? '', /install the Pulumi CLI \(https:\/\/www\.pulumi\.com\/docs\/install\/\)/);
      assert.match(infra.error?.hint ?? '', /--skip-infra/);
      assert.deepEqual(
        report.steps.slice(1).map((s) => s.status),
        ['blocked', 'blocked', 'blocked', 'blocked', 'blocked'],
      );
      assert.equal(ssm.mock.calls().length, 0, 'SSM never called');
      assert.ok(!(await bucketNames()).some((b) => b.startsWith('nopulumi')), 'no bucket created');
      assert.equal(ec2.mock.calls().length, 0, 'EC2 never called');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('--dry-run changes nothing and says what each step would do; the stack outputs name the buckets', async () => {
    const p = await project('dry');
    const ec2 = new FakeEc2();
    const infra = fakeInfra({ modelsBucketName: 'dry-models-123456789012', checkpointsBucketName: 'dry-checkpoints-abc' });
    const ssm = new FakeSsm();
    const report = await runBootstrap(
      {
        project: 'dry',
        region: 'us-east-1',
        artifact: p.artifact,
        nodeTarball: p.node,
        modelDir: p.model,
        workers: 2,
        aws: { imageId: AMI },
        dryRun: true,
      },
      { infra, s3: s3Options, ec2Client: ec2.client, ssmClient: ssm.client },
    );
    assert.equal(report.ok, true);
    assert.deepEqual(statuses(report), {
      infra: 'planned',
      secret: 'planned',
      buckets: 'planned',
      artifact: 'planned',
      model: 'planned',
      workers: 'planned',
    });
    assert.equal(ssm.parameters.size, 0, 'no secret created');
    assert.equal(infra.ups.length, 0, 'dry run: preview only');
    assert.equal(infra.previews, 1);
    assert.ok(!(await bucketNames()).some((b) => b.startsWith('dry')), 'no bucket created');
    assert.equal(ec2.mock.commandCalls(RunInstancesCommand).length, 0);

    // Applied for real: the buckets are the ones the stack named (its outputs win over the derived names).
    const applied = await runBootstrap(
      { project: 'dry', region: 'us-east-1', artifact: p.artifact, skipInfra: false },
      { infra, s3: s3Options, ssmClient: ssm.client },
    );
    assert.deepEqual(applied.buckets, { models: 'dry-models-123456789012', checkpoints: 'dry-checkpoints-abc' });
    assert.ok((await bucketNames()).includes('dry-models-123456789012'));
  });

  it('bad flags are refused before anything changes, naming the flag', async () => {
    const ssm = new FakeSsm();
    const deps = { infra: fakeInfra(), s3: s3Options, ssmClient: ssm.client };
    const cases: [Partial<BootstrapOptions>, RegExp][] = [
      [{ project: 'Bad_Name' }, /--project "Bad_Name"/],
      [{ project: 'flags', bucket: 'Not A Bucket' }, /--bucket: bucket name "Not A Bucket"/],
      [{ project: 'flags', workers: 2 }, /--image-id is missing/],
      [{ project: 'flags', workers: 2, aws: { imageId: AMI } }, /--node-tarball \(or --node-sha256\) is missing/],
      [{ project: 'flags', nodeSha256: 'xyz' }, /--node-sha256 "xyz" is not 64 hex digits/],
      [{ project: 'flags', artifact: join(work, 'nope.tgz') }, /^--artifact .*nope\.tgz: no such file/],
      [{ project: 'flags', modelDir: join(work, 'no-model') }, /^--model-dir .*no-model: no such directory/],
      [{ project: 'flags', version: '../x' }, /^--version: "\.\.\/x" is not a version/],
      [{ project: 'flags', nodeVersion: '18.0.0' }, /^--node-version: "18\.0\.0" is not a Node\.js 20 release/],
      [{ project: 'flags', infraConfig: { serve: { projectName: 'else' } } }, /serve\.projectName is "else" but --project is "flags"/],
      [
        { project: 'flags', spec: validateCluster({ name: 'other', provider: 'aws', pools: { worker: { count: 1 } } }) },
        /names cluster "other" but --project is "flags"/,
      ],
      [{ project: 'flags', spec: validateCluster({ name: 'flags', pools: { worker: { count: 1 } } }) }, /provider is "local"/],
      [{ project: 'flags', secretParameter: 'no-slash' }, /^--secret-parameter "no-slash" is not an SSM parameter path/],
      [
        { project: 'flags', infraConfig: { serve: { clusterSecretParameterName: '/a//b' } } },
        /^the infra config's serve\.clusterSecretParameterName "\/a\/\/b"/,
      ],
      [{ project: 'flags', kmsKeyId: 'my key' }, /^--kms-key-id "my key" is not a KMS key id/],
      [
        { project: 'flags', kmsKeyId: 'alias/synkti' },
        /^--kms-key-id "alias\/synkti" is not a key ARN: the stack grants the workers kms:Decrypt on the key ARN/,
      ],
      [{ project: 'flags', kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }, /^--kms-key-id "1234abcd-.*" is not a key ARN/],
      [{ project: 'flags', kmsKeyId: `arn:aws:kms:us-east-1:${ACCOUNT_ID}:alias/synkti` }, /is not a key ARN/],
      [
        { project: 'flags', kmsKeyId: KEY_ARN.replace('us-east-1', 'eu-west-1') },
        /^--kms-key-id .* is in region eu-west-1, not the cluster's us-east-1/,
      ],
      [
        { project: 'flags', infraConfig: { serve: { clusterSecretKmsKeyArn: 'alias/synkti' } } },
        /^the infra config's serve\.clusterSecretKmsKeyArn "alias\/synkti" is not a key ARN/,
      ],
      [
        {
          project: 'flags',
          kmsKeyId: KEY_ARN,
          infraConfig: { serve: { clusterSecretKmsKeyArn: KEY_ARN.replace('1234abcd', 'ffffffff') } },
        },
        /clusterSecretKmsKeyArn is ".*ffffffff.*" but --kms-key-id is/,
      ],
      [
        { project: 'flags', secretParameter: '/a/b', infraConfig: { serve: { clusterSecretParameterName: '/a/c' } } },
        /clusterSecretParameterName is "\/a\/c" but --secret-parameter is "\/a\/b"/,
      ],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(runBootstrap({ region: 'us-east-1', project: 'x', ...options } as BootstrapOptions, deps), (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USAGE'), String(error));
        assert.match(error.message, message);
        return true;
      });
    }
    assert.equal(deps.infra.ups.length, 0);
    assert.equal(ssm.mock.calls().length, 0);
    assert.ok(!(await bucketNames()).some((b) => b.startsWith('flags')));
  });

  it('packs the agent when no --artifact is given (the packer is injectable) and cleans up its temp dir', async () => {
    let packedIn = '';
    const report = await runBootstrap(
      { project: 'packs', region: 'us-east-1', skipInfra: true },
      {
        infra: fakeInfra(),
        s3: s3Options,
        ssmClient: new FakeSsm().client,
        packArtifact: async (outDir) => {
          packedIn = outDir;
          const file = join(outDir, 'synkti-agent-0.2.0.tgz');
          await writeFile(file, 'packed');
          return { file, version: '0.2.0' };
        },
      },
    );
    assert.equal(report.artifact?.key, 'artifacts/synkti-agent-0.2.0.tgz');
    assert.equal(statuses(report).infra, 'skipped');
    assert.deepEqual(await keys('packs-models'), ['.synkti/bucket.json', '.synkti/owner.json', 'artifacts/synkti-agent-0.2.0.tgz']);
    await assert.rejects(digestFile(join(packedIn, 'synkti-agent-0.2.0.tgz')), /ENOENT/);
  });
});

describe('bootstrap: the cluster secret (stateful SSM Parameter Store mock)', () => {
  it('first run creates a SecureString of 64 hex characters, tagged, never shown; a second run reports it present and puts nothing', async () => {
    const p = await project('secret');
    const ssm = new FakeSsm();
    const lines: string[] = [];
    const deps = { infra: fakeInfra(), s3: s3Options, ssmClient: ssm.client, progress: (line: string) => lines.push(line) };
    const options: BootstrapOptions = { project: 'secret', region: 'us-east-1', artifact: p.artifact, skipInfra: true };

    const first = await runBootstrap(options, deps);
    assert.equal(first.ok, true, JSON.stringify(first.steps));
    const param = ssm.parameters.get('/synkti/secret/cluster-secret');
    assert.ok(param, 'the parameter the boot script reads was created');
    assert.equal(param.type, 'SecureString');
    assert.match(param.value, /^[0-9a-f]{64}$/, "32 random bytes as hex, like a local fleet's secret");
    assert.deepEqual(param.tags, { SynktiCluster: 'secret' });
    assert.equal(param.keyId, undefined, "SSM's own key unless --kms-key-id");
    assert.equal(ssm.mock.commandCalls(PutParameterCommand)[0]!.args[0].input.Overwrite, false);
    const secretStep = first.steps.find((s) => s.step === 'secret')!;
    assert.equal(secretStep.status, 'created');
    assert.deepEqual(secretStep.changed, ['/synkti/secret/cluster-secret']);
    assert.equal(first.secretParameter, '/synkti/secret/cluster-secret');
    const shown = [...lines, JSON.stringify(first), renderBootstrapReport(first)].join('\n');
    assert.ok(!shown.includes(param.value), 'the value is in no progress line and no report');
    assert.match(
      renderBootstrapReport(first),
      /^ {2}secret +created +created SSM SecureString \/synkti\/secret\/cluster-secret with a new random secret$/m,
    );

    const second = await runBootstrap(options, deps);
    assert.equal(statuses(second).secret, 'present');
    assert.equal(ssm.mock.commandCalls(PutParameterCommand).length, 1, 'no PutParameter on the second run');
    assert.equal(ssm.parameters.get('/synkti/secret/cluster-secret')!.value, param.value, 'the secret is unchanged');
    assert.equal(ssm.parameters.get('/synkti/secret/cluster-secret')!.version, 1);
    for (const call of ssm.mock.calls()) {
      const input = call.args[0].input as { WithDecryption?: boolean };
      if ('WithDecryption' in input) assert.equal(input.WithDecryption, false, 'the value is never decrypted');
    }
  });

  it("--secret-parameter and --kms-key-id: that name is created with that key; the stack's worker role and the workers' boot script use that name", async () => {
    const p = await project('custom');
    const ssm = new FakeSsm();
    const ec2 = new FakeEc2();
    const infra = fakeInfra();
    const report = await runBootstrap(
      {
        project: 'custom',
        region: 'us-east-1',
        artifact: p.artifact,
        nodeTarball: p.node,
        workers: 1,
        aws: { imageId: AMI },
        secretParameter: '/team/custom/secret',
        kmsKeyId: KEY_ARN,
      },
      { infra, s3: s3Options, ssmClient: ssm.client, ec2Client: ec2.client },
    );
    assert.equal(report.ok, true, JSON.stringify(report.steps));
    assert.equal(
      infra.ups[0]?.config.serve?.clusterSecretParameterName,
      '/team/custom/secret',
      "the stack's worker role may read that parameter",
    );
    assert.equal(infra.ups[0]?.config.serve?.clusterSecretKmsKeyArn, KEY_ARN, "the stack's worker role may decrypt with that key");
    assert.deepEqual([...ssm.parameters.keys()], ['/team/custom/secret']);
    assert.equal(ssm.parameters.get('/team/custom/secret')!.keyId, KEY_ARN);
    assert.doesNotMatch(report.steps.find((s) => s.step === 'secret')!.summary, /note:/, 'the stack grants Decrypt: no note');
    const userData = Buffer.from(ec2.mock.commandCalls(RunInstancesCommand)[0]!.args[0].input.UserData ?? '', 'base64').toString('utf8');
    assert.match(userData, /ssm get-parameter --region 'us-east-1' --name '\/team\/custom\/secret' --with-decryption/);
  });

  it('AccessDenied: reading names ssm:GetParameter, creating names ssm:PutParameter; the run stops before any bucket', async () => {
    for (const [action, named] of [
      ['ssm:GetParameter', /may not read SSM parameter \/synkti\/denied-\w+\/cluster-secret \(ssm:GetParameter denied\)/],
      ['ssm:PutParameter', /may not create SSM parameter .* \(ssm:PutParameter or ssm:AddTagsToResource denied\)/],
    ] as const) {
      const name = `denied-${action.endsWith('GetParameter') ? 'get' : 'put'}`;
      const ssm = new FakeSsm();
      ssm.denied.add(action);
      const report = await runBootstrap(
        { project: name, region: 'us-east-1', skipInfra: true },
        {
          infra: fakeInfra(),
          s3: s3Options,
          ssmClient: ssm.client,
          packArtifact: async () => assert.fail('nothing is packed after a failed step'),
        },
      );
      assert.equal(report.ok, false);
      const secret = report.steps.find((s) => s.step === 'secret')!;
      assert.equal(secret.status, 'failed');
      assert.equal(secret.error?.code, 'E_SSM_ACCESS_DENIED');
      assert.match(secret.error?.message ?? '', named);
      assert.match(
        secret.error?.hint ?? '',
        /grant ssm:GetParameter, ssm:PutParameter and ssm:AddTagsToResource on arn:aws:ssm:<region>:<account>:parameter\/synkti\/denied-\w+\/cluster-secret/,
      );
      assert.match(renderBootstrapReport(report), /^ {2}secret +FAILED +these AWS credentials may not/m);
      assert.deepEqual(
        report.steps.slice(2).map((s) => s.status),
        ['blocked', 'blocked', 'blocked', 'blocked'],
      );
      assert.equal(ssm.parameters.size, 0);
      assert.ok(!(await bucketNames()).some((b) => b.startsWith(name)), 'no bucket created');
    }
  });

  it('created by someone else between the look and the put (ParameterAlreadyExists): reported present, theirs stands', async () => {
    const p = await project('race');
    const ssm = new FakeSsm();
    ssm.beforePut = (input) => {
      ssm.beforePut = undefined;
      ssm.parameters.set(input.Name!, { type: 'SecureString', value: 'theirs-'.padEnd(64, 'x'), keyId: undefined, tags: {}, version: 1 });
    };
    const report = await runBootstrap(
      { project: 'race', region: 'us-east-1', artifact: p.artifact, skipInfra: true },
      { infra: fakeInfra(), s3: s3Options, ssmClient: ssm.client },
    );
    assert.equal(report.ok, true, JSON.stringify(report.steps));
    assert.equal(statuses(report).secret, 'present');
    assert.equal(ssm.parameters.get('/synkti/race/cluster-secret')!.value, 'theirs-'.padEnd(64, 'x'));
  });

  it('--kms-key-id alias with --skip-infra: allowed, the secret is created with it and the report notes the workers need kms:Decrypt on it', async () => {
    const ssm = new FakeSsm();
    const lines: string[] = [];
    const report = await runBootstrap(
      { project: 'kmsalias', region: 'us-east-1', skipInfra: true, kmsKeyId: 'alias/synkti' },
      {
        infra: fakeInfra(),
        s3: s3Options,
        ssmClient: ssm.client,
        progress: (line) => lines.push(line),
      },
    );
    const secret = report.steps.find((s) => s.step === 'secret')!;
    assert.equal(secret.status, 'created', JSON.stringify(report.steps));
    assert.equal(ssm.parameters.get('/synkti/kmsalias/cluster-secret')!.keyId, 'alias/synkti');
    assert.match(secret.summary, /note: --skip-infra, so the workers' role needs kms:Decrypt on alias\/synkti/);
    assert.match(renderBootstrapReport(report), /kms:Decrypt on alias\/synkti/);
    assert.ok(
      lines.some((l) => /^secret: note: .*kms:Decrypt on alias\/synkti/.test(l)),
      lines.join('\n'),
    );
  });

  it("the infra config's serve.clusterSecretKmsKeyArn (no --kms-key-id) encrypts the new secret and stays in the stack config", async () => {
    const ssm = new FakeSsm();
    const infra = fakeInfra();
    await runBootstrap(
      { project: 'kmsconf', region: 'us-east-1', infraConfig: { serve: { clusterSecretKmsKeyArn: KEY_ARN } } },
      { infra, s3: s3Options, ssmClient: ssm.client },
    );
    assert.equal(ssm.parameters.get('/synkti/kmsconf/cluster-secret')?.keyId, KEY_ARN);
    assert.equal(infra.ups[0]?.config.serve?.clusterSecretKmsKeyArn, KEY_ARN);
  });

  it('an existing plaintext String parameter is refused, not used and not changed', async () => {
    const ssm = new FakeSsm();
    ssm.parameters.set('/synkti/plain/cluster-secret', { type: 'String', value: 'p'.repeat(40), keyId: undefined, tags: {}, version: 1 });
    const report = await runBootstrap(
      { project: 'plain', region: 'us-east-1', skipInfra: true },
      { infra: fakeInfra(), s3: s3Options, ssmClient: ssm.client },
    );
    const secret = report.steps.find((s) => s.step === 'secret')!;
    assert.equal(secret.status, 'failed');
    assert.equal(secret.error?.code, 'E_SECRET_NOT_SECURE');
    assert.ok(!JSON.stringify(report).includes('p'.repeat(40)));
    assert.equal(ssm.mock.commandCalls(PutParameterCommand).length, 0);
  });
});

/** An S3 client that records the name of every command it sends. */
function recordingS3(): { client: S3Client; commands: string[] } {
  const commands: string[] = [];
  const client = new S3Client({
    endpoint: s3.endpoint,
    credentials: s3.credentials,
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, commands };
}

const S3_READS = new Set(['HeadBucketCommand', 'HeadObjectCommand', 'ListObjectsCommand', 'ListObjectsV2Command', 'GetObjectCommand']);

describe('bootstrap --dry-run: only reads', () => {
  it('a new project without --artifact: nothing packed, no write call to S3, EC2 or SSM, well under a second', async (t) => {
    const p = await project('dryfast');
    const ec2 = new FakeEc2();
    const ssm = new FakeSsm();
    const infra = fakeInfra();
    const s3rec = recordingS3();
    const started = performance.now();
    const report = await runBootstrap(
      {
        project: 'dryfast',
        region: 'us-east-1',
        nodeTarball: p.node,
        modelDir: p.model,
        workers: 2,
        aws: { imageId: AMI },
        dryRun: true,
      },
      {
        infra,
        s3: { ...s3Options, client: s3rec.client },
        ec2Client: ec2.client,
        ssmClient: ssm.client,
        packArtifact: async () => assert.fail('a dry run packs nothing'),
      },
    );
    const ms = performance.now() - started;
    t.diagnostic(`dry run took ${ms.toFixed(0)} ms`);
    assert.equal(report.ok, true, JSON.stringify(report.steps));
    assert.deepEqual(statuses(report), {
      infra: 'planned',
      secret: 'planned',
      buckets: 'planned',
      artifact: 'planned',
      model: 'planned',
      workers: 'planned',
    });
    const artifact = report.steps.find((s) => s.step === 'artifact')!;
    assert.match(
      artifact.summary,
      /^would pack and upload the agent release \S+ to s3:\/\/dryfast-models\/artifacts\/synkti-agent-\S+\.tgz and the Node\.js tarball$/,
    );
    assert.deepEqual(
      s3rec.commands.filter((c) => !S3_READS.has(c)),
      [],
      `S3 calls: ${s3rec.commands.join(', ')}`,
    );
    assert.deepEqual(
      ec2.mock
        .calls()
        .map((c) => c.args[0].constructor.name)
        .filter((n) => n !== DescribeInstancesCommand.name),
      [],
    );
    assert.deepEqual(ssm.writeCalls(), []);
    assert.equal(ssm.parameters.size, 0);
    assert.equal(infra.ups.length, 0);
    assert.ok(!(await bucketNames()).some((b) => b.startsWith('dryfast')), 'no bucket created');
    assert.ok(ms < 3000, `a dry run is quick (took ${ms.toFixed(0)} ms; typically well under a second)`);
  });

  it('an existing project with a changed model file: the dry run plans the upload and writes nothing', async () => {
    const p = await project('drychange');
    const ssm = new FakeSsm();
    const ec2 = new FakeEc2();
    const options: BootstrapOptions = {
      project: 'drychange',
      region: 'us-east-1',
      artifact: p.artifact,
      nodeTarball: p.node,
      modelDir: p.model,
      workers: 1,
      aws: { imageId: AMI },
    };
    const applied = await runBootstrap(options, { infra: fakeInfra(), s3: s3Options, ssmClient: ssm.client, ec2Client: ec2.client });
    assert.equal(applied.ok, true, JSON.stringify(applied.steps));
    await writeFile(join(p.model, 'config.json'), '{"hidden_size": 32}\n');
    const calls = { ssm: ssm.mock.calls().length, ec2: ec2.mock.calls().length };
    const before = await keys('drychange-models');
    const s3rec = recordingS3();

    const report = await runBootstrap(
      { ...options, dryRun: true },
      { infra: fakeInfra(), s3: { ...s3Options, client: s3rec.client }, ssmClient: ssm.client, ec2Client: ec2.client },
    );
    assert.equal(report.ok, true, JSON.stringify(report.steps));
    assert.deepEqual(statuses(report), {
      infra: 'planned',
      secret: 'present',
      buckets: 'present',
      artifact: 'present',
      model: 'planned',
      workers: 'present',
    });
    assert.deepEqual(
      s3rec.commands.filter((c) => !S3_READS.has(c)),
      [],
      `S3 calls: ${s3rec.commands.join(', ')}`,
    );
    assert.deepEqual(ssm.writeCalls(), ['PutParameterCommand'], "only the applied run's put");
    assert.equal(ssm.mock.calls().length, calls.ssm + 1, 'one GetParameter');
    assert.deepEqual(
      ec2.mock
        .calls()
        .slice(calls.ec2)
        .map((c) => c.args[0].constructor.name),
      [DescribeInstancesCommand.name],
    );
    assert.deepEqual(await keys('drychange-models'), before);
  });

  it('the real Pulumi runner, stack not created yet: planned without running pulumi, no stack, no plan file', async () => {
    const home = await mkdtemp(join(tmpdir(), 'synkti-drypulumi-'));
    try {
      const bin = join(home, 'bin');
      const backend = join(home, 'state');
      await mkdir(bin);
      await mkdir(backend);
      const marker = join(home, 'pulumi-was-run');
      // A stand-in `pulumi` that only records that it was run.
      await writeFile(join(bin, 'pulumi'), `#!/bin/sh\necho "$@" >> '${marker}'\nexit 1\n`, { mode: 0o755 });
      const stack = `drypulumi-${process.pid}`;
      const report = await runBootstrap(
        { project: 'drypulumi', region: 'us-east-1', stack, dryRun: true },
        {
          infra: createPulumiInfraRunner({ backendUrl: `file://${backend}`, env: { PATH: bin, HOME: home } }),
          s3: s3Options,
          ssmClient: new FakeSsm().client,
          packArtifact: async () => assert.fail('a dry run packs nothing'),
        },
      );
      assert.equal(report.ok, true, JSON.stringify(report.steps));
      const infra = report.steps[0]!;
      assert.equal(infra.status, 'planned');
      assert.equal(infra.summary, `stack ${stack} does not exist yet: would create it, run pulumi preview, then up exactly that plan`);
      await assert.rejects(readFile(marker), /ENOENT/, 'pulumi was not run');
      assert.deepEqual(await readdir(backend), [], 'the state backend is untouched');
      assert.equal(existsSync(defaultPlanFile(stack)), false, 'no plan file');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('fileBackendHasStack finds a stack in the project-scoped and the legacy layout of a file:// backend', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-backend-'));
    try {
      assert.equal(fileBackendHasStack(`file://${dir}`, 'synkti-infra', 'prod'), false);
      await mkdir(join(dir, '.pulumi', 'stacks', 'synkti-infra'), { recursive: true });
      await writeFile(join(dir, '.pulumi', 'stacks', 'synkti-infra', 'prod.json'), '{}');
      await writeFile(join(dir, '.pulumi', 'stacks', 'old.json.gz'), '');
      assert.equal(fileBackendHasStack(`file://${dir}`, 'synkti-infra', 'prod'), true);
      assert.equal(fileBackendHasStack(`file://${dir}`, 'synkti-infra', 'old'), true);
      assert.equal(fileBackendHasStack(`file://${dir}`, 'synkti-infra', 'staging'), false);
      assert.equal(fileBackendHasStack('s3://bucket/state', 'synkti-infra', 'prod'), undefined, 'other backends: ask Pulumi');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
