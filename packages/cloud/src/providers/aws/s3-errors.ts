/**
 * What S3's errors mean to the object store: a missing bucket or key (answered, not
 * thrown, where the interface says so), or a stop with what to fix (the missing
 * permission named as `s3:<Action>`, the credential chain explained).
 */
import { SynktiError } from '@synkti/core';
import { CREDENTIALS_HINT, CREDENTIAL_CODES, PERMISSION_CODES, ec2ErrorCode, ec2ErrorMessage } from './ec2-errors.ts';

/** S3's error code (the SDK's exception name), or the HTTP status for bodiless answers (HEAD). */
export function s3ErrorCode(error: unknown): string | undefined {
  return ec2ErrorCode(error);
}

export function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isNoSuchBucket(error: unknown): boolean {
  return s3ErrorCode(error) === 'NoSuchBucket';
}

/** A key that does not exist: `NoSuchKey` from GET, a bare 404 `NotFound` from HEAD. */
export function isMissingObjectOrBucket(error: unknown): boolean {
  const code = s3ErrorCode(error);
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket' || httpStatusOf(error) === 404;
}

export function bucketNotFound(bucket: string, cause?: unknown): SynktiError {
  return new SynktiError('E_BUCKET_NOT_FOUND', `bucket "${bucket}" does not exist`, {
    cause,
    hint: "create it first (the cluster's buckets are created by `synkti bootstrap` or the infrastructure stack), or check the region",
  });
}

/** Maps an S3 error the caller does not handle to a SynktiError; `action` is the S3 API action, e.g. `PutObject`. */
export function toS3Error(action: string, target: string, error: unknown): SynktiError {
  if (error instanceof SynktiError) return error;
  const code = s3ErrorCode(error);
  const message = ec2ErrorMessage(error);
  const permission = `s3:${action}`;
  if (code === 'NoSuchBucket') return bucketNotFound(target.split('/')[0] ?? target, error);
  if (code !== undefined && (PERMISSION_CODES.has(code) || code === 'AllAccessDisabled')) {
    return new SynktiError('E_AWS_PERMISSION', `not allowed to call ${permission} on ${target}: ${code}`, {
      cause: error,
      hint: `add ${permission} on arn:aws:s3:::${target} to the IAM role or policy of these credentials (a bucket policy or an SCP can also deny it)`,
    });
  }
  if (code !== undefined && (CREDENTIAL_CODES.has(code) || code === 'InvalidAccessKeyId')) {
    const what = code === 'CredentialsProviderError' ? 'no AWS credentials were found' : `AWS did not accept the credentials (${code})`;
    return new SynktiError('E_AWS_CREDENTIALS', `cannot call ${permission}: ${what}`, { cause: error, hint: CREDENTIALS_HINT });
  }
  if (/Region is missing/i.test(message)) {
    return new SynktiError('E_AWS_REGION', `cannot call ${permission}: no AWS region is set`, {
      cause: error,
      hint: 'pass the region option, or set AWS_REGION (or a region in your AWS profile)',
    });
  }
  return new SynktiError('E_AWS_S3', `${permission} on ${target} failed: ${code ?? 'error'}: ${message}`, {
    cause: error,
    hint: "retry; if it keeps failing check the bucket's region and policy",
  });
}
