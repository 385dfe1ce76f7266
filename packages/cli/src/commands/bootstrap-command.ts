import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CONFIG_FILE_NAMES, loadClusterConfig, type ClusterSpec } from '@synkti/core';
import { createS3ObjectStore } from '@synkti/cloud';
import { createProgress } from '../output.ts';
import { EXIT } from '../exit-codes.ts';
import { repeatable } from '../option-parsers.ts';
import {
  checkBucketFlag,
  checkProjectName,
  createPulumiInfraRunner,
  defaultBucketNames,
  modelPrefix,
  runBootstrap,
  uploadModel,
  type ModelUploadProgress,
} from '@synkti/infra/bootstrap';
import { cliBootstrapDeps, type CliBootstrapDepsInput } from '../bootstrap/bootstrap-deps.ts';
import { renderBootstrapReport, renderModelUploadReport } from '../bootstrap/bootstrap-output.ts';
import { DEFAULT_NODE_VERSION } from '../worker/worker-settings.ts';

/**
 * Stand-ins for tests that drive the command through `buildProgram()`: a fake infra
 * runner, a local S3 server, mocked EC2 and SSM clients, a packer. Empty in real use.
 */
export const bootstrapTestHooks: { deps?: Partial<CliBootstrapDepsInput> | undefined } = {};

function workerCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n > 1000) throw new InvalidArgumentError('expected a whole number from 0 to 1000');
  return n;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function modelProgressLine(p: ModelUploadProgress): string {
  return `model: ${p.filesDone}/${p.files} files, ${mb(p.bytesDone)} of ${mb(p.bytes)} (${p.path})`;
}

/** synkti.config.ts when given or present; bootstrap works without one (a one-pool aws cluster). */
async function optionalSpec(command: Command): Promise<{ spec: ClusterSpec; file: string } | undefined> {
  const { config } = command.optsWithGlobals<{ config?: string }>();
  if (config === undefined && !CONFIG_FILE_NAMES.some((name) => existsSync(resolve(name)))) return undefined;
  return loadClusterConfig({ file: config, cwd: process.cwd() });
}

interface BootstrapCliOptions {
  project: string;
  region?: string;
  skipInfra: boolean;
  stack?: string;
  infraConfig?: string;
  backend?: string;
  bucket?: string;
  checkpointsBucket?: string;
  artifact?: string;
  version?: string;
  nodeTarball?: string;
  nodeSha256?: string;
  nodeVersion: string;
  arch: 'x64' | 'arm64';
  modelDir?: string;
  modelPrefix?: string;
  workers?: number;
  role?: string;
  imageId?: string;
  subnet?: string[];
  securityGroup?: string[];
  instanceProfile?: string;
  onDemandFallback?: boolean;
  bucketOwner?: string;
  secretParameter?: string;
  kmsKeyId?: string;
  logLevel: string;
  dryRun: boolean;
  json: boolean;
}

const BOOTSTRAP_HELP = `
Steps, each reported as created / present / skipped (a second run creates nothing):
  infra     the Pulumi stack (preview, then apply exactly that plan); needs the Pulumi
            CLI, or --skip-infra when the infrastructure is managed elsewhere
  secret    the cluster secret workers read at every start: an SSM SecureString
            (--secret-parameter), created with a random value if missing, never
            overwritten, never printed (needs ssm:GetParameter, ssm:PutParameter,
            ssm:AddTagsToResource); with --kms-key-id <key ARN> the stack grants the
            workers kms:Decrypt on that key (via SSM only); an alias or key id works only
            with --skip-infra, where whoever manages IAM grants it
  buckets   <project>-models (protected: artifacts/ and models/) and <project>-checkpoints,
            unless the stack's outputs or --bucket / --checkpoints-bucket name them
  artifact  the agent release (packed here, or --artifact) and the Node.js tarball
            (--node-tarball) under artifacts/, uploaded only when their SHA-256 differs
  model     --model-dir <dir>: under models/<dir name>/ with a manifest written last
  workers   launched up to --workers, counting live instances tagged SynktiCluster=<project>

Region and credentials come from the AWS SDK's default chain (AWS_REGION, AWS_PROFILE, ...)
or the config's region. --dry-run only reads (no stack, plan file, pack or upload).
Exit codes: 0 done, 2 bad flags, 1 a step failed (it is named), 5 the Pulumi CLI is
missing (install it, or --skip-infra).

Examples:
  synkti bootstrap --project my-prod --dry-run
  synkti bootstrap --project my-prod --skip-infra --bucket my-prod-models-123456789012
  synkti bootstrap --project my-prod --node-tarball node-v${DEFAULT_NODE_VERSION}-linux-x64.tar.xz \\
      --model-dir ./Qwen2.5-7B-Instruct --workers 3 --image-id ami-0123456789abcdef0`;

/** Adds `synkti bootstrap` and `synkti model upload`. */
export function registerBootstrapCommands(program: Command): void {
  program
    .command('bootstrap')
    .description('first-time AWS setup in one idempotent command: infrastructure, buckets, agent artifact, model, workers')
    .requiredOption('--project <name>', 'project (cluster) name: SynktiCluster tag, bucket prefix, Pulumi stack')
    .option('--region <region>', "AWS region (default: the config's, else the SDK's default chain)")
    .option('--skip-infra', 'do not run Pulumi: the infrastructure is managed elsewhere', false)
    .option('--stack <name>', 'Pulumi stack (default: the project name)')
    .option('--infra-config <file>', 'infra config JSON (default: ./synkti.infra.json, else a serve stack for the project)')
    .option('--backend <url>', 'Pulumi state backend (default: PULUMI_BACKEND_URL, else file://~/.synkti/pulumi)')
    .option('--bucket <name>', "models/artifacts bucket (default: the stack's, else <project>-models)")
    .option('--checkpoints-bucket <name>', "checkpoints bucket (default: the stack's, else <project>-checkpoints)")
    .option('--artifact <file>', 'an agent release already packed by `synkti worker pack` (default: pack one now)')
    .addOption(new Option('--version <version>', "agent release version (default: this CLI's)").env('SYNKTI_AGENT_VERSION'))
    .option('--node-tarball <file>', 'Node.js tarball from nodejs.org, uploaded to artifacts/ (needed to launch workers)')
    .addOption(new Option('--node-sha256 <hex>', 'SHA-256 of a Node.js tarball already in the bucket').env('SYNKTI_NODE_SHA256'))
    .addOption(new Option('--node-version <version>', 'Node.js 20 release').default(DEFAULT_NODE_VERSION).env('SYNKTI_NODE_VERSION'))
    .addOption(new Option('--arch <arch>', 'CPU architecture of the instances').choices(['x64', 'arm64']).default('x64'))
    .option('--model-dir <dir>', 'local model directory to upload (default: none)')
    .option('--model-prefix <prefix>', 'its key prefix (default: models/<directory name>/)')
    .option(
      '--workers <n>',
      "workers wanted in the pool; only the missing ones are launched (default: the config's count, else 0)",
      workerCount,
    )
    .option('-r, --role <pool>', 'the pool (default: the only pool)')
    .addOption(new Option('--image-id <ami>', 'AMI the workers boot').env('SYNKTI_IMAGE_ID'))
    .addOption(
      new Option('--subnet <id:zone>', 'subnet and zone, e.g. subnet-0abc:us-east-1a (repeatable)')
        .argParser(repeatable)
        .env('SYNKTI_SUBNETS'),
    )
    .addOption(
      new Option('--security-group <id>', "security group (default: the stack's; repeatable)")
        .argParser(repeatable)
        .env('SYNKTI_SECURITY_GROUPS'),
    )
    .addOption(
      new Option('--instance-profile <name>', "instance profile of the workers (default: the stack's)").env('SYNKTI_INSTANCE_PROFILE'),
    )
    .option('--on-demand-fallback', 'launch on-demand when no spot capacity is left')
    .option('--bucket-owner <account>', "account that must own the bucket (default: the instance's own)")
    .option(
      '--secret-parameter <name>',
      'SSM SecureString with the cluster secret, created if missing (default: /synkti/<project>/cluster-secret)',
    )
    .option(
      '--kms-key-id <key>',
      'KMS key ARN encrypting a newly created secret; the stack lets the workers decrypt with it (an id or alias/<name> only with --skip-infra) (default: aws/ssm)',
    )
    .addOption(
      new Option('--log-level <level>', 'agent log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    )
    .option('--dry-run', 'change nothing: print what each step would do', false)
    .option('--json', 'print the per-step report as JSON', false)
    .addHelpText('after', BOOTSTRAP_HELP)
    .action(async (options: BootstrapCliOptions, command: Command) => {
      const project = checkProjectName(options.project);
      const loaded = await optionalSpec(command);
      let infraConfig;
      if (!options.skipInfra) {
        const file = options.infraConfig ?? (existsSync('synkti.infra.json') ? 'synkti.infra.json' : undefined);
        if (file !== undefined) infraConfig = (await import('@synkti/infra')).loadInfraConfig(resolve(file));
      }
      const progress = createProgress(process.stderr, options.json);
      const hooks = bootstrapTestHooks.deps ?? {};
      const report = await runBootstrap(
        {
          project,
          spec: loaded?.spec,
          specFromConfig: loaded !== undefined,
          region: options.region,
          skipInfra: options.skipInfra,
          stack: options.stack,
          infraConfig,
          bucket: options.bucket,
          checkpointsBucket: options.checkpointsBucket,
          artifact: options.artifact,
          version: options.version,
          nodeTarball: options.nodeTarball,
          nodeSha256: options.nodeSha256,
          nodeVersion: options.nodeVersion,
          arch: options.arch,
          modelDir: options.modelDir,
          modelPrefix: options.modelPrefix,
          workers: options.workers,
          role: options.role,
          aws: {
            imageId: options.imageId,
            subnet: options.subnet,
            securityGroup: options.securityGroup,
            instanceProfile: options.instanceProfile,
            onDemandFallback: options.onDemandFallback,
          },
          bucketOwner: options.bucketOwner,
          secretParameter: options.secretParameter,
          kmsKeyId: options.kmsKeyId,
          logLevel: options.logLevel,
          dryRun: options.dryRun,
        },
        cliBootstrapDeps({
          infra: createPulumiInfraRunner({ backendUrl: options.backend }),
          progress: (line) => progress.update(line),
          modelProgress: (p) => progress.update(modelProgressLine(p)),
          ...hooks,
        }),
      );
      progress.done();
      console.log(options.json ? JSON.stringify(report, null, 2) : renderBootstrapReport(report));
      if (!report.ok) {
        const failed = report.steps.find((s) => s.status === 'failed');
        process.exitCode = failed?.error?.code === 'E_PULUMI_CLI_MISSING' ? EXIT.missingTool : EXIT.failure;
      }
    });

  const model = program
    .command('model')
    .description("model weights in the project's bucket: upload a local directory with checksums and a manifest");

  model
    .command('upload')
    .description('upload a model directory to s3://<bucket>/models/<name>/, skipping files already there, manifest last')
    .argument('<dir>', 'local directory holding the model files')
    .requiredOption('--project <name>', 'project (cluster) name')
    .option('--bucket <name>', "bucket (default: <project>-models; pass the stack's modelsBucketName if Pulumi made it)")
    .option('--prefix <prefix>', 'key prefix under models/ (default: models/<directory name>/)')
    .option('--region <region>', "AWS region (default: the SDK's default chain)")
    .option('--dry-run', 'upload nothing: say what would be uploaded', false)
    .option('--json', 'print the summary as JSON', false)
    .addHelpText(
      'after',
      `
Each file goes up with its SHA-256 (object metadata synkti-sha256) unless the bucket's copy
already has the same checksum; then <prefix>synkti-manifest.json lists every file, size and
SHA-256. A model is complete only when its manifest is there: an interrupted upload leaves
none (an older one is withdrawn before the first changed file is sent), so run the same
command again to finish it. One PutObject per file: files over 5 GiB are refused (shard them).
Progress (files and bytes) goes to stderr.

Example:
  synkti model upload ./Qwen2.5-7B-Instruct --project my-prod --prefix models/qwen2.5-7b`,
    )
    .action(
      async (
        dir: string,
        options: { project: string; bucket?: string; prefix?: string; region?: string; dryRun: boolean; json: boolean },
      ) => {
        const project = checkProjectName(options.project);
        const bucket = options.bucket === undefined ? defaultBucketNames(project).models : checkBucketFlag(options.bucket, '--bucket');
        modelPrefix(options.prefix, basename(resolve(dir))); // a bad --prefix is refused before any client is made
        const store = createS3ObjectStore({ region: options.region, ...bootstrapTestHooks.deps?.s3 });
        const progress = createProgress(process.stderr);
        try {
          const report = await uploadModel({
            store,
            bucket,
            dir,
            prefix: options.prefix,
            dryRun: options.dryRun,
            onProgress: (p) => progress.update(modelProgressLine(p)),
          });
          progress.done(`model: ${report.files.length}/${report.files.length} files, ${mb(report.totalBytes)}`);
          console.log(options.json ? JSON.stringify(report, null, 2) : renderModelUploadReport(report));
        } finally {
          store.client.destroy();
        }
      },
    );
}
