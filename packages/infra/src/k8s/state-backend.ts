/**
 * `PulumiStateBackend`: the shared state store of multicloud-k8s-infra.md "State
 * Management" (separate, versioned, encrypted state bucket per environment) in Pulumi's
 * form: an S3 bucket for the DIY backend (`pulumi login s3://...`; Pulumi locks a stack
 * with a lock file in it, no DynamoDB table needed) and a KMS key with rotation for the
 * stacks' secrets provider (`--secrets-provider awskms://alias/...`). Kept on destroy.
 * It exists so that no shared state lives only on a laptop (docs/field-notes.md).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER } from '@synkti/core';
import { SecureBucket } from '../aws/secure-bucket.ts';
import { ENVIRONMENTS, environmentFromStack, type EnvironmentName } from '../environments.ts';
import { checkProjectName, checkRegion, inputError } from '../validate.ts';

const C = 'PulumiStateBackend';

export interface PulumiStateBackendArgs {
  /** Namespace of the bucket and key alias. @default 'synkti' */
  projectName?: string | undefined;
  /** Environment whose stacks it holds (one backend per environment). @default from the stack name */
  environment?: EnvironmentName | undefined;
  /** AWS region. @default 'us-east-1' */
  region?: string | undefined;
  /** Days old state versions are kept. @default 90 */
  keepVersionsDays?: number | undefined;
  tags?: Record<string, string> | undefined;
}

export class PulumiStateBackend extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  /** `s3://<bucket>?region=<region>`: for `pulumi login` / PULUMI_BACKEND_URL. */
  readonly backendUrl: pulumi.Output<string>;
  /** `awskms://alias/<project>-pulumi-<environment>?region=<region>`: for `--secrets-provider`. */
  readonly secretsProvider: pulumi.Output<string>;
  readonly kmsKeyArn: pulumi.Output<string>;

  constructor(name: string, args: PulumiStateBackendArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    const project = checkProjectName(C, 'projectName', args.projectName ?? 'synkti');
    if (args.environment !== undefined && !(ENVIRONMENTS as readonly string[]).includes(args.environment)) {
      throw inputError(
        C,
        'environment',
        `"${String(args.environment)}" is not one of ${ENVIRONMENTS.join(', ')}`,
        'use dev, staging or production',
      );
    }
    const environment = args.environment ?? environmentFromStack(pulumi.getStack());
    const region = checkRegion(C, 'region', args.region ?? 'us-east-1');
    const keepDays = args.keepVersionsDays ?? 90;
    if (!Number.isInteger(keepDays) || keepDays < 1)
      throw inputError(
        C,
        'keepVersionsDays',
        `must be a positive integer (got ${String(keepDays)})`,
        'keep old state versions at least a day',
      );
    super('synkti:aws:PulumiStateBackend', name, {}, opts);
    const provider = new aws.Provider(`${name}-aws`, { region: region as aws.Region }, { parent: this });
    const o = { parent: this, provider };
    const tags = { ...args.tags, [TAG_CLUSTER]: `${project}-${environment}`, Purpose: 'pulumi-state' };
    const account = aws.getCallerIdentityOutput({}, o).accountId;
    // Account id in the name: nobody else can register the bucket name first.
    const bucket = new SecureBucket(
      `${name}-state`,
      {
        bucket: pulumi.interpolate`${project}-pulumi-state-${environment}-${account}`,
        versioned: true,
        keep: true,
        lifecycleRules: [{ id: 'expire-old-state-versions', prefix: '', noncurrentExpireDays: keepDays }],
        tags,
      },
      o,
    );
    const key = new aws.kms.Key(
      `${name}-secrets`,
      {
        description: `Pulumi secrets provider of ${project} ${environment} stacks`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        tags,
      },
      { ...o, protect: true, retainOnDelete: true },
    );
    const alias = `alias/${project}-pulumi-${environment}`;
    new aws.kms.Alias(`${name}-secrets`, { name: alias, targetKeyId: key.keyId }, o);
    this.bucketName = bucket.name;
    this.backendUrl = pulumi.interpolate`s3://${bucket.name}?region=${region}`;
    this.secretsProvider = pulumi.output(`awskms://${alias}?region=${region}`);
    this.kmsKeyArn = key.arn;
    this.registerOutputs({ bucketName: this.bucketName, backendUrl: this.backendUrl, secretsProvider: this.secretsProvider });
  }
}
