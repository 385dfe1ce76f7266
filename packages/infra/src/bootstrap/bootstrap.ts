/**
 * `synkti bootstrap --project <name>`: the reference's first-time setup as one idempotent
 * command. Steps, in order (a later step needs the earlier ones):
 *   1. infra     the Pulumi stack up (preview + apply exactly that plan), or --skip-infra
 *   2. secret    the cluster secret as an SSM SecureString, created once (cluster-secret.ts);
 *                early, so missing SSM permissions stop the run before any upload
 *   3. buckets   the models bucket (protected: artifacts/ and models/) and the checkpoints bucket
 *   4. artifact  the agent release (packed here, or --artifact) and the Node.js tarball,
 *                uploaded under artifacts/ with their SHA-256 only when the bucket's copy differs
 *   5. model     optional: a local model directory under models/<name>/ (see model-upload.ts)
 *   6. workers   launched only up to --workers, counting the live instances tagged for the
 *                project and pool (tags are set at launch, so a re-run sees them); they read
 *                the secret at every start
 * Each step reports what it created and what was already there; a second run creates
 * nothing. With dryRun nothing is changed (only reads: HeadBucket, DescribeInstances,
 * GetParameter without decryption, and no agent is packed): each step says what it would
 * do. A failed step stops the run (the later steps need it) and is reported with its hint.
 *
 * A library: the caller (the CLI's `bootstrap` command) supplies what only it has through
 * BootstrapDeps: how the agent release is packed, how workers are listed and launched,
 * its default versions and how errors name its flags.
 */
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SynktiError, isSynktiError, pickRole, validateCluster, type ClusterSpec } from '@synkti/core';
import {
  agentArtifactKey,
  createS3ObjectStore,
  defaultSecretParameter,
  nodeTarballKey,
  type S3ObjectStore,
  type S3ObjectStoreOptions,
} from '@synkti/cloud';
import type { InfraConfig } from '../infra-program.ts';
import {
  checkBucketFlag,
  checkKmsKeyId,
  checkProjectName,
  checkSecretParameter,
  defaultBucketNames,
  kmsKeyArnRegion,
  type BucketNames,
} from './bootstrap-names.ts';
import { countChanges, type InfraRunner } from './infra-runner.ts';
import { uploadModel, type ModelUploadProgress } from './model-upload.ts';
import { digestFile, uploadFileIfChanged, type UploadFileResult } from './s3-file-upload.ts';

export const BOOTSTRAP_STEPS = ['infra', 'secret', 'buckets', 'artifact', 'model', 'workers'] as const;
export type BootstrapStepName = (typeof BOOTSTRAP_STEPS)[number];

/**
 * created: something was created or changed; present: all there already; planned: a dry
 * run would create or change something; skipped: not asked for; failed; blocked: not run
 * because an earlier step failed.
 */
export type StepStatus = 'created' | 'present' | 'planned' | 'skipped' | 'failed' | 'blocked';

export interface BootstrapStep {
  step: BootstrapStepName;
  status: StepStatus;
  /** One line for people. */
  summary: string;
  /** What was (or, in a dry run, would be) created or updated. */
  changed: string[];
  /** What was already in place. */
  present: string[];
  error?: { code: string; message: string; hint?: string | undefined } | undefined;
}

export interface BootstrapReport {
  project: string;
  dryRun: boolean;
  ok: boolean;
  buckets: BucketNames;
  /** The SSM parameter holding the cluster secret (its value is never in the report). */
  secretParameter: string;
  artifact?: { key: string; version: string; sha256: string } | undefined;
  steps: BootstrapStep[];
}

/** What the workers step reads of the launch settings; the caller's own type may carry more (subnets, ...). */
export interface BootstrapAwsLaunch {
  imageId?: string | undefined;
  securityGroup?: string[] | undefined;
  instanceProfile?: string | undefined;
}

/** What the workers' boot script is rendered from. */
export interface BootstrapUserData {
  bucket: string;
  version: string;
  sha256: string | undefined;
  nodeVersion: string | undefined;
  arch: 'x64' | 'arm64' | undefined;
  nodeSha256: string | undefined;
  nodeTarball: string | undefined;
  bucketOwner: string | undefined;
  secretParameter: string;
  logLevel: string | undefined;
}

/** The workers step's request: the pool, where to launch (flags merged with the stack's outputs) and the boot script's inputs. */
export interface BootstrapWorkersRequest<A extends BootstrapAwsLaunch = BootstrapAwsLaunch> {
  spec: ClusterSpec;
  role: string;
  aws: A;
  userData: BootstrapUserData;
}

/** The pool as the workers step sees it. */
export interface BootstrapWorkerPool {
  /** Ids of the pool's live instances. */
  list(): Promise<string[]>;
  /** Launches `count` workers (tags set at launch); resolves with their ids. */
  launch(count: number, onLaunched: (id: string, index: number, count: number) => void): Promise<string[]>;
  close(): void;
}

export interface BootstrapOptions<A extends BootstrapAwsLaunch = BootstrapAwsLaunch> {
  /** The project: the cluster name, SynktiCluster tag value and bucket-name prefix. */
  project: string;
  /**
   * The cluster (from synkti.config.ts; provider must be aws and its name the project).
   * @default a one-pool aws cluster named after the project, in `region`
   */
  spec?: ClusterSpec | undefined;
  /** Whether `spec` came from a config file (then --workers defaults to the pool's count). @default false */
  specFromConfig?: boolean | undefined;
  /** AWS region when no config names one. @default the SDK's default chain (AWS_REGION, profile) */
  region?: string | undefined;
  /** Leave the infrastructure to someone else (no Pulumi). @default false */
  skipInfra?: boolean | undefined;
  /** Pulumi stack name. @default the project */
  stack?: string | undefined;
  /** Infra config. @default { serve: { projectName: <project>, region, workerCount: 0 } } */
  infraConfig?: InfraConfig | undefined;
  /** Models/artifacts bucket. @default the stack's modelsBucketName output, else <project>-models */
  bucket?: string | undefined;
  /** Checkpoints bucket. @default the stack's checkpointsBucketName output, else <project>-checkpoints */
  checkpointsBucket?: string | undefined;
  /** A packed agent release to upload instead of packing one here. @default pack one */
  artifact?: string | undefined;
  /** Agent release version (with `artifact`). @default deps.defaults.version */
  version?: string | undefined;
  /** Local Node.js tarball to upload to artifacts/ (its SHA-256 goes into the boot script). */
  nodeTarball?: string | undefined;
  /** SHA-256 of a Node.js tarball already in the bucket (instead of nodeTarball). */
  nodeSha256?: string | undefined;
  /** @default deps.defaults.nodeVersion */
  nodeVersion?: string | undefined;
  /** @default 'x64' */
  arch?: 'x64' | 'arm64' | undefined;
  /** Local model directory to upload. @default none */
  modelDir?: string | undefined;
  /** Key prefix of the model. @default models/<directory name>/ */
  modelPrefix?: string | undefined;
  /** Workers wanted in the pool. @default the pool's count in the config, else 0 */
  workers?: number | undefined;
  /** The pool. @default the only pool */
  role?: string | undefined;
  /** Where EC2 instances launch (AMI, subnets, ...). Instance profile and security group default to the stack's outputs. */
  aws?: A | undefined;
  bucketOwner?: string | undefined;
  /**
   * SSM SecureString with the cluster secret: created if missing, never overwritten.
   * @default the infra config's serve.clusterSecretParameterName, else /synkti/<project>/cluster-secret
   */
  secretParameter?: string | undefined;
  /**
   * KMS key for a newly created secret. With the infra step it must be the key ARN: it goes
   * into the infra config as serve.clusterSecretKmsKeyArn and the stack grants the workers
   * kms:Decrypt on it (via SSM only). With --skip-infra any key id, ARN or alias (the
   * workers' role then needs kms:Decrypt on it from whoever manages IAM).
   * @default the infra config's serve.clusterSecretKmsKeyArn, else aws/ssm
   */
  kmsKeyId?: string | undefined;
  logLevel?: string | undefined;
  /** Change nothing; report what would be done. @default false */
  dryRun?: boolean | undefined;
}

export interface BootstrapDeps<A extends BootstrapAwsLaunch = BootstrapAwsLaunch> {
  /** The infrastructure step (tests pass a fake). */
  infra: InfraRunner;
  /** How S3 is reached. @default the SDK's default chain, in the cluster's region */
  s3?: S3ObjectStoreOptions | undefined;
  /** SSM client (tests pass a mocked one). @default the SDK's default chain, in the cluster's region */
  ssmClient?: SSMClient | undefined;
  /** Packs the agent release (`version`: the one asked for, if any) into `outDir`. */
  packArtifact: (outDir: string, version: string | undefined) => Promise<{ file: string; version: string }>;
  /** Opens the pool the workers step lists and launches into. */
  openWorkers: (request: BootstrapWorkersRequest<A>) => BootstrapWorkerPool;
  /** The agent release and Node.js versions used when the options name none. */
  defaults: { version: string; nodeVersion: string };
  /** Says an error in the caller's terms (the CLI names its flags). @default the error as it is */
  mapError?: ((error: unknown) => unknown) | undefined;
  /** Progress lines (stderr in the CLI). */
  progress?: ((line: string) => void) | undefined;
  /** Model upload progress. */
  modelProgress?: ((progress: ModelUploadProgress) => void) | undefined;
}

function errorOf(error: unknown): { code: string; message: string; hint?: string | undefined } {
  if (isSynktiError(error)) return { code: error.code, message: error.message, hint: error.hint };
  return { code: 'E_UNEXPECTED', message: String((error as Error)?.message ?? error) };
}

function step(name: BootstrapStepName, status: StepStatus, summary: string, changed: string[] = [], present: string[] = []): BootstrapStep {
  return { step: name, status, summary, changed, present };
}

function stringOutput(outputs: Record<string, unknown>, key: string): string | undefined {
  const value = outputs[key];
  return typeof value === 'string' && value !== '' && value !== '[secret]' ? value : undefined;
}

/** The region of the SDK's default chain (AWS_REGION, AWS_DEFAULT_REGION, the profile). */
async function defaultRegion(): Promise<string> {
  const client = new S3Client({});
  try {
    return await client.config.region();
  } catch (cause) {
    throw new SynktiError('E_USAGE', 'no AWS region is set', {
      cause,
      hint: 'pass --region us-east-1 (or set AWS_REGION, or region in synkti.config.ts)',
    });
  } finally {
    client.destroy();
  }
}

/** Everything a flag decides is checked before anything is changed. */
async function validate<A extends BootstrapAwsLaunch>(
  options: BootstrapOptions<A>,
  deps: BootstrapDeps<A>,
): Promise<{ spec: ClusterSpec; role: string; workers: number; secretParameter: string; kmsKeyId: string | undefined }> {
  const project = checkProjectName(options.project);
  const secretParameter = checkSecretParameter(
    options.secretParameter ?? options.infraConfig?.serve?.clusterSecretParameterName ?? defaultSecretParameter(project),
    options.secretParameter !== undefined ? '--secret-parameter' : "the infra config's serve.clusterSecretParameterName",
  );
  if (options.kmsKeyId !== undefined) checkKmsKeyId(options.kmsKeyId);
  if (options.bucket !== undefined) checkBucketFlag(options.bucket, '--bucket');
  if (options.checkpointsBucket !== undefined) checkBucketFlag(options.checkpointsBucket, '--checkpoints-bucket');
  const spec =
    options.spec ??
    validateCluster(
      {
        name: project,
        provider: 'aws',
        region: options.region ?? (await defaultRegion()),
        pools: { worker: { count: options.workers ?? 0 } },
      },
      '--project',
    );
  if (spec.name !== project) {
    throw new SynktiError('E_USAGE', `the config names cluster "${spec.name}" but --project is "${project}"`, {
      hint: `pass --project ${spec.name}, or set name: "${project}" in the config`,
    });
  }
  if (spec.provider !== 'aws') {
    throw new SynktiError('E_USAGE', `bootstrap sets up AWS, but the config's provider is "${spec.provider}"`, {
      hint: "set provider: 'aws' in synkti.config.ts (locally, `synkti up` needs no bootstrap)",
    });
  }
  const role = pickRole(spec, options.role);
  const workers = options.workers ?? (options.specFromConfig ? spec.pools[role]!.count : 0);
  if (!Number.isInteger(workers) || workers < 0 || workers > 1000) {
    throw new SynktiError('E_USAGE', `--workers must be a whole number from 0 to 1000, not ${workers}`, { hint: 'e.g. --workers 3' });
  }
  if (workers > 0 && !options.aws?.imageId) {
    throw new SynktiError('E_USAGE', `launching ${workers} worker(s) needs the AMI: --image-id is missing`, {
      hint: 'pass --image-id ami-… (or set SYNKTI_IMAGE_ID; Amazon Linux 2023 or the Deep Learning AMI), or --workers 0 to launch none',
    });
  }
  if (workers > 0 && options.nodeTarball === undefined && options.nodeSha256 === undefined) {
    throw new SynktiError('E_USAGE', 'workers install Node.js from the bucket: --node-tarball (or --node-sha256) is missing', {
      hint: `download node-v${options.nodeVersion ?? deps.defaults.nodeVersion}-linux-${options.arch ?? 'x64'}.tar.xz from nodejs.org and pass --node-tarball <file>`,
    });
  }
  try {
    // Names that become S3 keys: a bad one is refused before anything is created.
    if (options.version !== undefined) agentArtifactKey(options.version);
    nodeTarballKey(options.nodeVersion ?? deps.defaults.nodeVersion, options.arch ?? 'x64');
  } catch (error) {
    throw deps.mapError?.(error) ?? error;
  }
  for (const [flag, path, kind] of [
    ['--artifact', options.artifact, 'file'],
    ['--node-tarball', options.nodeTarball, 'file'],
    ['--model-dir', options.modelDir, 'directory'],
  ] as const) {
    if (path === undefined) continue;
    const info = statSync(path, { throwIfNoEntry: false });
    if (info === undefined || (kind === 'file' ? !info.isFile() : !info.isDirectory())) {
      throw new SynktiError('E_USAGE', `${flag} ${path}: no such ${kind}`, { hint: `check the path given to ${flag}` });
    }
  }
  const serve = options.infraConfig?.serve;
  if (
    !options.skipInfra &&
    options.secretParameter !== undefined &&
    serve?.clusterSecretParameterName !== undefined &&
    serve.clusterSecretParameterName !== options.secretParameter
  ) {
    throw new SynktiError(
      'E_USAGE',
      `the infra config's serve.clusterSecretParameterName is "${serve.clusterSecretParameterName}" but --secret-parameter is "${options.secretParameter}"`,
      {
        hint: 'make them the same (the worker role the stack makes may read only that parameter), or leave --secret-parameter out',
      },
    );
  }
  const configKey = serve?.clusterSecretKmsKeyArn;
  if (configKey !== undefined && typeof configKey !== 'string') {
    throw new SynktiError('E_USAGE', "the infra config's serve.clusterSecretKmsKeyArn is not a string", {
      hint: 'write the key ARN: "clusterSecretKmsKeyArn": "arn:aws:kms:<region>:<account>:key/<id>"',
    });
  }
  const kmsKeyId = options.kmsKeyId ?? configKey;
  if (!options.skipInfra && kmsKeyId !== undefined) {
    const flag =
      options.kmsKeyId !== undefined
        ? `--kms-key-id ${JSON.stringify(kmsKeyId)}`
        : `the infra config's serve.clusterSecretKmsKeyArn ${JSON.stringify(kmsKeyId)}`;
    const keyRegion = kmsKeyArnRegion(kmsKeyId);
    if (keyRegion === undefined) {
      // IAM authorizes kms:Decrypt against the key ARN: an id or alias cannot go into the worker role.
      throw new SynktiError(
        'E_USAGE',
        `${flag} is not a key ARN: the stack grants the workers kms:Decrypt on the key ARN, not on a key id or alias`,
        {
          hint: `pass the key ARN (aws kms describe-key --key-id ${kmsKeyId} --query KeyMetadata.Arn --output text), or --skip-infra if you grant the workers' role kms:Decrypt yourself`,
        },
      );
    }
    if (keyRegion !== spec.region) {
      throw new SynktiError('E_USAGE', `${flag} is in region ${keyRegion}, not the cluster's ${spec.region}`, {
        hint: "an SSM parameter is encrypted with a key of its own region: pass that region's key ARN",
      });
    }
    if (options.kmsKeyId !== undefined && configKey !== undefined && configKey !== options.kmsKeyId) {
      throw new SynktiError(
        'E_USAGE',
        `the infra config's serve.clusterSecretKmsKeyArn is "${configKey}" but --kms-key-id is "${options.kmsKeyId}"`,
        {
          hint: 'make them the same (the worker role the stack makes may decrypt with only that key), or leave --kms-key-id out',
        },
      );
    }
  }
  if (serve?.projectName !== undefined && serve.projectName !== project) {
    throw new SynktiError('E_USAGE', `the infra config's serve.projectName is "${serve.projectName}" but --project is "${project}"`, {
      hint: 'make them the same (it is the SynktiCluster tag of the fleet)',
    });
  }
  if (options.nodeSha256 !== undefined && !/^[0-9a-f]{64}$/i.test(options.nodeSha256)) {
    throw new SynktiError('E_USAGE', `--node-sha256 ${JSON.stringify(options.nodeSha256)} is not 64 hex digits`, {
      hint: "copy it from nodejs.org's SHASUMS256.txt",
    });
  }
  return { spec, role, workers, secretParameter, kmsKeyId };
}

async function bucketExists(store: S3ObjectStore, bucket: string): Promise<boolean> {
  try {
    await store.client.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) return false;
    if (status === 403) {
      throw new SynktiError('E_BUCKET_EXISTS', `bucket "${bucket}" exists but these credentials may not use it (403)`, {
        cause: error,
        hint: 'bucket names are global: pass --bucket with a name of your own (e.g. with your account id), or grant s3:ListBucket on it',
      });
    }
    throw new SynktiError('E_AWS_S3', `cannot check bucket "${bucket}": ${(error as Error).message}`, {
      cause: error,
      hint: 'check the AWS credentials and region (AWS_REGION, AWS_PROFILE)',
    });
  }
}

function uploadLine(bucket: string, result: UploadFileResult): string {
  return `s3://${bucket}/${result.key} (sha256 ${result.sha256.slice(0, 12)}…)`;
}

export async function runBootstrap<A extends BootstrapAwsLaunch>(
  options: BootstrapOptions<A>,
  deps: BootstrapDeps<A>,
): Promise<BootstrapReport> {
  const { spec, role, workers, secretParameter, kmsKeyId } = await validate(options, deps);
  const project = spec.name;
  const dryRun = options.dryRun ?? false;
  const say = deps.progress ?? (() => undefined);
  const report: BootstrapReport = { project, dryRun, ok: true, buckets: defaultBucketNames(project), secretParameter, steps: [] };
  const remaining = [...BOOTSTRAP_STEPS];
  const finish = (s: BootstrapStep): void => {
    report.steps.push(s);
    remaining.shift();
  };
  const fail = (name: BootstrapStepName, error: unknown, extraHint?: string): BootstrapReport => {
    const e = errorOf(deps.mapError?.(error) ?? error);
    const hint = [e.hint, extraHint].filter(Boolean).join('; ') || undefined;
    finish({ ...step(name, 'failed', e.message), error: { ...e, hint } });
    for (const rest of remaining) report.steps.push(step(rest, 'blocked', `not run: ${name} failed`));
    report.ok = false;
    return report;
  };

  // 1. infra
  let outputs: Record<string, unknown> = {};
  if (options.skipInfra) {
    finish(step('infra', 'skipped', '--skip-infra: the infrastructure is managed elsewhere'));
  } else {
    const stack = options.stack ?? project;
    const given = options.infraConfig;
    // A serve component without a projectName would be named "synkti": it is this project.
    // Its worker role may read one secret parameter: the one this run creates.
    const secretName = {
      ...(options.secretParameter === undefined ? {} : { clusterSecretParameterName: secretParameter }),
      // ...and decrypt it with the key this run encrypts it with (a key ARN, checked above).
      ...(kmsKeyId === undefined ? {} : { clusterSecretKmsKeyArn: kmsKeyId }),
    };
    const config: InfraConfig =
      given === undefined
        ? { serve: { projectName: project, region: spec.region, workerCount: 0, ...secretName } }
        : given.serve === undefined
          ? given
          : { ...given, serve: { ...given.serve, projectName: project, ...secretName } };
    say(`infra: stack ${stack}${dryRun ? ' (preview)' : ''}`);
    try {
      const request = { stack, config, onOutput: (line: string) => say(`infra: ${line.trimEnd()}`) };
      const result = dryRun ? await deps.infra.preview(request) : await deps.infra.up(request);
      outputs = 'outputs' in result ? (result as { outputs: Record<string, unknown> }).outputs : {};
      const n = countChanges(result.changes);
      if (result.planned !== undefined) {
        finish(step('infra', 'planned', result.planned, [`stack ${stack}`]));
      } else {
        const kinds =
          Object.entries(result.changes)
            .map(([kind, count]) => `${count} ${kind}`)
            .join(', ') || 'no resources';
        finish(
          n > 0
            ? step(
                'infra',
                dryRun ? 'planned' : 'created',
                `stack ${stack}: ${kinds}`,
                Object.entries(result.changes)
                  .filter(([k]) => k !== 'same')
                  .map(([k, c]) => `${c} ${k}`),
                [],
              )
            : step('infra', 'present', `stack ${stack}: up to date (${kinds})`, [], [`stack ${stack}`]),
        );
      }
    } catch (error) {
      return fail('infra', error, 'or pass --skip-infra if the infrastructure (buckets, worker role, security group) is managed elsewhere');
    }
  }

  // 2. secret
  {
    say(`secret: ${secretParameter}`);
    let client = deps.ssmClient;
    try {
      // Loaded here: only this step needs the SSM SDK.
      const ssm = await import('./cluster-secret.ts');
      client ??= new ssm.SSMClient({ region: spec.region });
      const result = await ssm.ensureSsmClusterSecret({ client, name: secretParameter, cluster: project, kmsKeyId, dryRun });
      const what = `SSM SecureString ${secretParameter}`;
      // Without the stack nothing grants the workers Decrypt on a customer key: say so.
      const noteText =
        options.skipInfra && kmsKeyId !== undefined
          ? `--skip-infra, so the workers' role needs kms:Decrypt on ${kmsKeyId} (granted by whoever manages IAM)`
          : undefined;
      if (noteText !== undefined) say(`secret: note: ${noteText}`);
      const note = noteText === undefined ? '' : `; note: ${noteText}`;
      finish(
        result.status === 'present'
          ? step('secret', 'present', `present: ${what} (left as it is)${note}`, [], [secretParameter])
          : step(
              'secret',
              result.status,
              `${result.status === 'planned' ? 'would create' : 'created'} ${what} with a new random secret${kmsKeyId ? ` (KMS key ${kmsKeyId})` : ''}${note}`,
              [secretParameter],
            ),
      );
    } catch (error) {
      return fail('secret', error);
    } finally {
      if (deps.ssmClient === undefined) client?.destroy();
    }
  }

  const buckets: BucketNames = {
    models: options.bucket ?? stringOutput(outputs, 'modelsBucketName') ?? report.buckets.models,
    checkpoints: options.checkpointsBucket ?? stringOutput(outputs, 'checkpointsBucketName') ?? report.buckets.checkpoints,
  };
  report.buckets = buckets;
  const store = createS3ObjectStore({ region: spec.region, ...deps.s3 });
  let packDir: string | undefined;
  try {
    // 3. buckets
    let modelsBucketMissing = false;
    try {
      const changed: string[] = [];
      const present: string[] = [];
      for (const [bucket, isModels] of [
        [buckets.models, true],
        [buckets.checkpoints, false],
      ] as const) {
        say(`buckets: ${bucket}`);
        if (await bucketExists(store, bucket)) {
          present.push(bucket);
          continue;
        }
        if (isModels) modelsBucketMissing = true;
        // The models bucket outlives the fleet: protected, so `synkti down` never deletes it.
        if (!dryRun) await store.createBucket(bucket, { protected: isModels });
        changed.push(bucket);
      }
      finish(
        changed.length > 0
          ? step(
              'buckets',
              dryRun ? 'planned' : 'created',
              `${dryRun ? 'would create' : 'created'} ${changed.join(', ')}${present.length ? `; present: ${present.join(', ')}` : ''}`,
              changed,
              present,
            )
          : step('buckets', 'present', `present: ${present.join(', ')}`, [], present),
      );
    } catch (error) {
      return fail('buckets', error);
    }
    // In a dry run a bucket that does not exist yet cannot be asked about its objects.
    const assumeEmpty = dryRun && modelsBucketMissing;

    // 4. artifact (and the Node.js runtime workers install)
    let agentSha256: string | undefined;
    let version: string;
    try {
      let file = options.artifact;
      version = options.version ?? deps.defaults.version;
      if (file === undefined && dryRun) {
        // Packing takes a while and writes files: a dry run only says it would.
        const key = agentArtifactKey(version);
        const changed = [`s3://${buckets.models}/${key} (packed now)`];
        if (options.nodeTarball !== undefined)
          changed.push(
            `s3://${buckets.models}/${nodeTarballKey(options.nodeVersion ?? deps.defaults.nodeVersion, options.arch ?? 'x64')} (if it differs)`,
          );
        finish(
          step(
            'artifact',
            'planned',
            `would pack and upload the agent release ${version} to s3://${buckets.models}/${key}${options.nodeTarball !== undefined ? ' and the Node.js tarball' : ''}`,
            changed,
          ),
        );
      }
      if (file === undefined && !dryRun) {
        say('artifact: packing the agent');
        packDir = await mkdtemp(join(tmpdir(), 'synkti-bootstrap-'));
        const packed = await deps.packArtifact(packDir, options.version);
        file = packed.file;
        version = packed.version;
      }
      if (file !== undefined) {
        const key = agentArtifactKey(version);
        const uploads: UploadFileResult[] = [];
        const digest = await digestFile(file);
        agentSha256 = digest.sha256;
        say(`artifact: ${key}`);
        uploads.push(
          assumeEmpty
            ? { key, status: 'created', sha256: digest.sha256, bytes: digest.bytes }
            : await uploadFileIfChanged(store, { bucket: buckets.models, key, file, digest, dryRun }),
        );
        report.artifact = { key, version, sha256: agentSha256 };
        const nodeVersion = options.nodeVersion ?? deps.defaults.nodeVersion;
        const nodeKey = nodeTarballKey(nodeVersion, options.arch ?? 'x64');
        const present: string[] = [];
        const missing: string[] = [];
        if (options.nodeTarball !== undefined) {
          say(`artifact: ${nodeKey}`);
          const nodeDigest = await digestFile(options.nodeTarball);
          if (options.nodeSha256 !== undefined && options.nodeSha256.toLowerCase() !== nodeDigest.sha256) {
            throw new SynktiError(
              'E_USAGE',
              `--node-sha256 ${options.nodeSha256} does not match ${options.nodeTarball} (sha256 ${nodeDigest.sha256})`,
              { hint: 'pass only one of --node-sha256 and --node-tarball' },
            );
          }
          uploads.push(
            assumeEmpty
              ? { key: nodeKey, status: 'created', sha256: nodeDigest.sha256, bytes: nodeDigest.bytes }
              : await uploadFileIfChanged(store, {
                  bucket: buckets.models,
                  key: nodeKey,
                  file: options.nodeTarball,
                  digest: nodeDigest,
                  dryRun,
                }),
          );
        } else if (options.nodeSha256 !== undefined) {
          // Uploaded by hand (e.g. `aws s3 cp`): it must be there; the boot script checks its bytes.
          const info = assumeEmpty ? undefined : await store.head(buckets.models, nodeKey);
          if (info === undefined) missing.push(nodeKey);
          else present.push(`s3://${buckets.models}/${nodeKey}`);
        }
        if (missing.length > 0 && !dryRun) {
          throw new SynktiError('E_ARTIFACT_MISSING', `s3://${buckets.models}/${missing[0]} is missing (workers install Node.js from it)`, {
            hint: 'pass --node-tarball <the file from nodejs.org> so bootstrap uploads it',
          });
        }
        for (const u of uploads)
          (u.status === 'present' ? present : missing).push(uploadLine(buckets.models, u) + (u.status === 'updated' ? ' (replaced)' : ''));
        finish(
          missing.length > 0
            ? step(
                'artifact',
                dryRun ? 'planned' : 'created',
                `${dryRun ? 'would upload' : 'uploaded'} ${missing.join(', ')}`,
                missing,
                present,
              )
            : step('artifact', 'present', `present: ${present.join(', ')}`, [], present),
        );
      }
    } catch (error) {
      return fail('artifact', error);
    }

    // 5. model
    if (options.modelDir === undefined) {
      finish(step('model', 'skipped', 'no --model-dir'));
    } else {
      try {
        say(`model: ${options.modelDir}`);
        if (assumeEmpty) {
          finish(
            step('model', 'planned', `would upload ${options.modelDir} to s3://${buckets.models}/ (bucket not created yet)`, [
              options.modelDir,
            ]),
          );
        } else {
          const model = await uploadModel({
            store,
            bucket: buckets.models,
            dir: options.modelDir,
            prefix: options.modelPrefix,
            dryRun,
            onProgress: deps.modelProgress,
          });
          const where = `s3://${model.bucket}/${model.prefix}`;
          const changed = model.files.filter((f) => f.status !== 'present').map((f) => f.key);
          if (model.manifest !== 'present') changed.push(model.manifestKey);
          finish(
            changed.length > 0
              ? step(
                  'model',
                  dryRun ? 'planned' : 'created',
                  `${where}: ${dryRun ? 'would upload' : 'uploaded'} ${model.uploadedFiles} file(s), ${model.uploadedBytes} bytes; ${model.presentFiles} already present; manifest ${model.manifest}`,
                  changed,
                  model.files.filter((f) => f.status === 'present').map((f) => f.key),
                )
              : step(
                  'model',
                  'present',
                  `${where}: all ${model.files.length} file(s) and the manifest present`,
                  [],
                  [...model.files.map((f) => f.key), model.manifestKey],
                ),
          );
        }
      } catch (error) {
        return fail('model', error);
      }
    }

    // 6. workers
    if (workers === 0) {
      finish(
        step('workers', 'skipped', '--workers 0: none launched (launch later with `synkti worker launch` or re-run with --workers N)'),
      );
    } else {
      // validate() refused workers > 0 without options.aws.imageId: options.aws is given here.
      const given = options.aws ?? ({} as A);
      const aws: A = {
        ...given,
        instanceProfile: given.instanceProfile ?? stringOutput(outputs, 'workerInstanceProfileName'),
        securityGroup: given.securityGroup?.length
          ? given.securityGroup
          : [stringOutput(outputs, 'workerSecurityGroupId')].filter((g): g is string => g !== undefined),
      };
      const fleet = deps.openWorkers({
        spec,
        role,
        aws,
        userData: {
          bucket: buckets.models,
          version,
          sha256: agentSha256,
          nodeVersion: options.nodeVersion,
          arch: options.arch,
          nodeSha256: options.nodeSha256,
          nodeTarball: options.nodeTarball,
          bucketOwner: options.bucketOwner,
          secretParameter,
          logLevel: options.logLevel,
        },
      });
      try {
        say(`workers: listing ${project}/${role}`);
        const live = await fleet.list();
        const present = live;
        const missing = Math.max(0, workers - live.length);
        if (missing === 0) {
          finish(
            step(
              'workers',
              'present',
              `${live.length} running in pool ${role} (wanted ${workers}${live.length > workers ? '; bootstrap never terminates any' : ''})`,
              [],
              present,
            ),
          );
        } else if (dryRun) {
          finish(
            step(
              'workers',
              'planned',
              `would launch ${missing} in pool ${role} (${live.length} running, wanted ${workers})`,
              [`${missing} instance(s)`],
              present,
            ),
          );
        } else {
          const launched = await fleet.launch(missing, (id, i, count) => say(`workers: launched ${id} (${i + 1}/${count})`));
          finish(
            step(
              'workers',
              'created',
              `launched ${launched.length} in pool ${role}${live.length ? `; ${live.length} already running` : ''}`,
              launched,
              present,
            ),
          );
        }
      } catch (error) {
        return fail('workers', error);
      } finally {
        fleet.close();
      }
    }
    return report;
  } finally {
    store.client.destroy();
    if (packDir !== undefined) await rm(packDir, { recursive: true, force: true });
  }
}
