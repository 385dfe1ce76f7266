/**
 * `synkti bootstrap` and `synkti model upload` through the CLI program (buildProgram +
 * runProgram, in-process): flags, --json, exit codes, progress on stderr. S3 is a local
 * s3rver, EC2 a stateful mock, both handed to the command through bootstrapTestHooks.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeEc2, startTestS3, type TestS3 } from '@synkti/cloud/aws-testing';
import { FakeSsm } from './fake-ssm.ts';
import { buildProgram } from '../main.ts';
import { runProgram } from '../program.ts';
import { bootstrapTestHooks } from '../commands/bootstrap-command.ts';
import type { BootstrapReport, ModelUploadReport } from '@synkti/infra/bootstrap';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let s3: TestS3;
let work: string;

before(async () => {
  s3 = await startTestS3();
  work = await mkdtemp(join(tmpdir(), 'synkti-bootstrap-cli-'));
});
after(async () => {
  bootstrapTestHooks.deps = undefined;
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs `synkti <args>` in this process; returns what it printed and its exit code. */
async function synkti(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, write: process.stderr.write, exitCode: process.exitCode };
  console.log = (...parts: unknown[]) => {
    out.push(`${parts.join(' ')}\n`);
  };
  console.error = (...parts: unknown[]) => {
    err.push(`${parts.join(' ')}\n`);
  };
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await runProgram(buildProgram(), ['node', 'synkti', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: err.join('') };
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    process.stderr.write = saved.write;
    process.exitCode = saved.exitCode;
  }
}

describe('synkti bootstrap / model upload (CLI)', () => {
  it('bootstrap --json twice with a config: workers default to the pool count, the second run creates nothing', async () => {
    const dir = join(work, 'cfg');
    await mkdir(join(dir, 'model'), { recursive: true });
    const config = join(dir, 'synkti.config.ts');
    await writeFile(config, "export default { name: 'clitest', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 2 } } };\n");
    await writeFile(join(dir, 'agent.tgz'), 'agent');
    await writeFile(join(dir, 'node.tar.xz'), 'node');
    await writeFile(join(dir, 'model', 'w.bin'), 'weights');
    const ec2 = new FakeEc2();
    const ssm = new FakeSsm();
    bootstrapTestHooks.deps = {
      s3: { endpoint: s3.endpoint, credentials: s3.credentials, secureNewBuckets: false },
      ec2Client: ec2.client,
      ssmClient: ssm.client,
    };
    const args = [
      '-c',
      config,
      'bootstrap',
      '--project',
      'clitest',
      '--skip-infra',
      '--artifact',
      join(dir, 'agent.tgz'),
      '--version',
      '0.1.0',
      '--node-tarball',
      join(dir, 'node.tar.xz'),
      '--model-dir',
      join(dir, 'model'),
      '--image-id',
      'ami-0123456789abcdef0',
      '--json',
    ];

    const first = await synkti(args);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const report = JSON.parse(first.stdout) as BootstrapReport;
    assert.deepEqual(
      report.steps.map((s) => `${s.step}:${s.status}`),
      ['infra:skipped', 'secret:created', 'buckets:created', 'artifact:created', 'model:created', 'workers:created'],
    );
    assert.equal(report.steps[5]!.changed.length, 2, "the config's count of 2");
    assert.equal(ec2.instances.size, 2);
    const secret = ssm.parameters.get('/synkti/clitest/cluster-secret');
    assert.equal(secret?.type, 'SecureString');
    assert.match(secret.value, /^[0-9a-f]{64}$/);
    assert.ok(!first.stdout.includes(secret.value) && !first.stderr.includes(secret.value), 'the secret is printed nowhere');
    assert.equal(report.secretParameter, '/synkti/clitest/cluster-secret');

    const second = await synkti(args);
    assert.equal(second.code, 0, second.stderr);
    const again = JSON.parse(second.stdout) as BootstrapReport;
    assert.deepEqual(
      again.steps.map((s) => `${s.step}:${s.status}`),
      ['infra:skipped', 'secret:present', 'buckets:present', 'artifact:present', 'model:present', 'workers:present'],
    );
    assert.equal(ec2.instances.size, 2);

    const text = await synkti(args.filter((a) => a !== '--json'));
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^ {2}buckets +present +present: clitest-models, clitest-checkpoints$/m);
    assert.match(text.stdout, /nothing created: everything was already present/);
    assert.match(text.stdout, /^ {2}secret +present +present: SSM SecureString \/synkti\/clitest\/cluster-secret \(left as it is\)$/m);
    assert.ok(!(text.stdout + text.stderr + second.stdout + second.stderr).includes(secret.value));
    assert.equal(ssm.writeCalls().length, 1, 'one PutParameter over three runs');
  });

  it('SSM access denied: exit 1, the secret step FAILED naming ssm:PutParameter, nothing after it runs', async () => {
    const ssm = new FakeSsm();
    ssm.denied.add('ssm:PutParameter');
    bootstrapTestHooks.deps = {
      s3: { endpoint: s3.endpoint, credentials: s3.credentials, secureNewBuckets: false },
      ssmClient: ssm.client,
    };
    const run = await synkti([
      'bootstrap',
      '--project',
      'ssmdenied',
      '--skip-infra',
      '--region',
      'us-east-1',
      '--kms-key-id',
      'alias/synkti',
    ]);
    assert.equal(run.code, 1, run.stderr + run.stdout);
    assert.match(
      run.stdout,
      /^ {2}secret +FAILED +these AWS credentials may not create SSM parameter \/synkti\/ssmdenied\/cluster-secret \(ssm:PutParameter or ssm:AddTagsToResource denied\)$/m,
    );
    assert.match(
      run.stdout,
      /hint: grant ssm:GetParameter, ssm:PutParameter and ssm:AddTagsToResource on arn:aws:ssm:<region>:<account>:parameter\/synkti\/ssmdenied\/cluster-secret \(plus kms:Encrypt/,
    );
    assert.match(run.stdout, /^ {2}buckets +blocked +not run: secret failed$/m);
    const bad = await synkti(['bootstrap', '--project', 'ssmdenied', '--skip-infra', '--region', 'us-east-1', '--kms-key-id', 'not a key']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--kms-key-id "not a key" is not a KMS key id/);
    const alias = await synkti(['bootstrap', '--project', 'ssmdenied', '--region', 'us-east-1', '--kms-key-id', 'alias/synkti']);
    assert.equal(alias.code, 2, alias.stderr + alias.stdout);
    assert.match(alias.stderr, /--kms-key-id "alias\/synkti" is not a key ARN/);
    assert.match(
      alias.stderr,
      /pass the key ARN \(aws kms describe-key --key-id alias\/synkti --query KeyMetadata\.Arn --output text\), or --skip-infra/,
    );
  });

  it('without the Pulumi CLI: exit code 5 (missingTool), the infra step FAILED with the install link and the --skip-infra hint', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'synkti-nopulumi-cli-'));
    bootstrapTestHooks.deps = {
      s3: { endpoint: s3.endpoint, credentials: s3.credentials, secureNewBuckets: false },
      ssmClient: new FakeSsm().client,
    };
    const saved = { PATH: process.env.PATH, HOME: process.env.HOME };
    process.env.PATH = empty;
    process.env.HOME = empty;
    try {
      const run = await synkti(['bootstrap', '--project', 'nopulumi', '--region', 'us-east-1']);
      assert.equal(run.code, 5);
      assert.match(run.stdout, /^ {2}infra +FAILED +synkti infra preview needs the Pulumi CLI/m);
      assert.match(run.stdout, /hint: install the Pulumi CLI \(https:\/\/www\.pulumi\.com\/docs\/install\/\).*--skip-infra/);
      assert.match(run.stdout, /^ {2}workers +blocked +not run: infra failed$/m);
    } finally {
      process.env.PATH = saved.PATH;
      process.env.HOME = saved.HOME;
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('bad flags exit 2 and name the flag', async () => {
    const workers = await synkti(['bootstrap', '--project', 'x1', '--workers', 'many']);
    assert.equal(workers.code, 2);
    assert.match(workers.stderr, /--workers/);
    const project = await synkti(['bootstrap', '--project', 'Has Spaces', '--skip-infra']);
    assert.equal(project.code, 2);
    assert.match(project.stderr, /--project "Has Spaces" must be/);
    const missing = await synkti(['bootstrap']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--project/);
    const bucket = await synkti(['model', 'upload', work, '--project', 'x1', '--bucket', 'UPPER']);
    assert.equal(bucket.code, 2);
    assert.match(bucket.stderr, /--bucket: bucket name "UPPER"/);
  });

  it('model upload --json: summary on stdout, progress (files, bytes) on stderr; a re-run uploads nothing', async () => {
    const dir = join(work, 'llm');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), '{}');
    await writeFile(join(dir, 'model.safetensors'), Buffer.alloc(50_000, 5));
    bootstrapTestHooks.deps = {
      s3: { endpoint: s3.endpoint, credentials: s3.credentials, secureNewBuckets: false },
      ssmClient: new FakeSsm().client,
    };
    // The bucket bootstrap would create; here made by a bootstrap that only does buckets.
    const setup = await synkti([
      'bootstrap',
      '--project',
      'mu',
      '--skip-infra',
      '--region',
      'us-east-1',
      '--artifact',
      join(dir, 'config.json'),
      '--json',
    ]);
    assert.equal(setup.code, 0, setup.stderr);

    const first = await synkti(['model', 'upload', dir, '--project', 'mu', '--prefix', 'models/llm-v1', '--region', 'us-east-1', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as ModelUploadReport;
    assert.equal(report.bucket, 'mu-models');
    assert.equal(report.manifestKey, 'models/llm-v1/synkti-manifest.json');
    assert.equal(report.uploadedFiles, 2);
    assert.match(first.stderr, /model: 2\/2 files, 0\.1 MB/);

    const second = await synkti(['model', 'upload', dir, '--project', 'mu', '--prefix', 'models/llm-v1', '--region', 'us-east-1']);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /uploaded 0 file\(s\) \(0 B\), 2 already present/);
    assert.match(second.stdout, /manifest models\/llm-v1\/synkti-manifest\.json: present/);
  });

  it('--help lists the flags; model has its upload command', () => {
    const command = buildProgram().commands.find((c) => c.name() === 'bootstrap');
    assert.ok(command, 'synkti bootstrap exists');
    const help = command.helpInformation();
    assert.match(help, /--skip-infra/);
    assert.match(help, /--dry-run/);
    assert.deepEqual(
      buildProgram()
        .commands.find((c) => c.name() === 'model')
        ?.commands.map((c) => c.name()),
      ['upload'],
    );
  });
});
