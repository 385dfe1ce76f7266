/**
 * An S3 bucket that is safe without thinking: owner-enforced objects (no ACLs), every
 * public-access block on, server-side encryption by default, TLS-only bucket policy,
 * optional versioning and lifecycle rules. `keep` protects it from `pulumi destroy`
 * (protect + retainOnDelete, no forceDestroy): model weights outlive the stack.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { policyJson } from './iam-policy.ts';

export interface LifecycleRuleSpec {
  /** Rule id (shown in the console). */
  id: string;
  /** Key prefix the rule applies to ('' = the whole bucket). */
  prefix: string;
  /** Delete current objects this many days after creation. */
  expireDays?: number | undefined;
  /** Move current objects to another storage class. */
  transitions?: Array<{ days: number; storageClass: 'STANDARD_IA' | 'INTELLIGENT_TIERING' | 'GLACIER_IR' | 'GLACIER' }> | undefined;
  /** Delete non-current versions this many days after they are replaced (versioned buckets). */
  noncurrentExpireDays?: number | undefined;
}

export interface SecureBucketArgs {
  /** Exact bucket name; when absent a unique name is generated from `bucketPrefix`. */
  bucket?: pulumi.Input<string> | undefined;
  /** Prefix of the generated name. @default the resource name */
  bucketPrefix?: string | undefined;
  /** Turn versioning on. @default false */
  versioned?: boolean | undefined;
  /** Kept on destroy: protect + retainOnDelete, never force-destroyed. @default false */
  keep?: boolean | undefined;
  /** Let destroy delete a non-empty bucket (ignored when `keep`). @default false */
  forceDestroy?: boolean | undefined;
  /** Lifecycle rules; an abort-incomplete-multipart rule is always added. @default [] */
  lifecycleRules?: LifecycleRuleSpec[] | undefined;
  /** Days after which incomplete multipart uploads are aborted. @default 7 */
  abortMultipartDays?: number | undefined;
  tags?: Record<string, string> | undefined;
}

export class SecureBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: SecureBucketArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super('synkti:aws:SecureBucket', name, {}, opts);
    const keep = args.keep ?? false;
    const child = { parent: this };
    this.bucket = new aws.s3.Bucket(
      name,
      {
        ...(args.bucket !== undefined ? { bucket: args.bucket } : { bucketPrefix: `${args.bucketPrefix ?? name}-` }),
        forceDestroy: keep ? false : (args.forceDestroy ?? false),
        tags: args.tags,
      },
      keep ? { ...child, protect: true, retainOnDelete: true } : child,
    );
    this.name = this.bucket.bucket;
    this.arn = this.bucket.arn;
    const id = this.bucket.id;

    new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket: id, rule: { objectOwnership: 'BucketOwnerEnforced' } }, child);
    const publicBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      child,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
      },
      child,
    );
    // Deny plain HTTP; applied after the public-access block so it can never be a public policy.
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        bucket: id,
        policy: policyJson([
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 's3:*',
            Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ]),
      },
      { ...child, dependsOn: [publicBlock] },
    );
    if (args.versioned) {
      new aws.s3.BucketVersioning(`${name}-versioning`, { bucket: id, versioningConfiguration: { status: 'Enabled' } }, child);
    }
    const rules: aws.types.input.s3.BucketLifecycleConfigurationRule[] = (args.lifecycleRules ?? []).map((rule) => ({
      id: rule.id,
      status: 'Enabled',
      filter: { prefix: rule.prefix },
      ...(rule.expireDays !== undefined ? { expiration: { days: rule.expireDays } } : {}),
      ...(rule.transitions ? { transitions: rule.transitions.map((t) => ({ days: t.days, storageClass: t.storageClass })) } : {}),
      ...(rule.noncurrentExpireDays !== undefined ? { noncurrentVersionExpiration: { noncurrentDays: rule.noncurrentExpireDays } } : {}),
    }));
    rules.push({
      id: 'abort-incomplete-multipart',
      status: 'Enabled',
      filter: { prefix: '' },
      abortIncompleteMultipartUpload: { daysAfterInitiation: args.abortMultipartDays ?? 7 },
    });
    new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket: id, rules }, child);
    this.registerOutputs({ name: this.name, arn: this.arn });
  }
}
