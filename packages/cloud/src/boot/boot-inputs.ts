/**
 * Checks on every value the worker user data embeds. Each value ends up inside a bash
 * script that runs as root at boot and inside a systemd unit, so the checks are strict
 * allow-lists (no quoting tricks can get through), and each error names its field.
 */
import { SynktiError } from '@synkti/core';

const CODE = 'E_USER_DATA_OPTIONS';

function invalid(field: string, message: string, hint: string): SynktiError {
  return new SynktiError(CODE, `${field}: ${message}`, { hint });
}

function text(field: string, value: unknown, hint: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'is required', hint);
  return value;
}

/** An S3 bucket name by S3's rules (3-63 of a-z 0-9 . -, no IP address, no "..", no xn-- prefix). */
export function checkBucket(value: unknown, field = 'bucket'): string {
  const hint = 'use the cluster\'s own bucket, e.g. "acme-synkti-prod" (3-63 lowercase letters, digits, dots and dashes)';
  const bucket = text(field, value, hint);
  if (
    !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) ||
    bucket.includes('..') ||
    /^\d+\.\d+\.\d+\.\d+$/.test(bucket) ||
    bucket.startsWith('xn--') ||
    bucket.endsWith('-s3alias')
  ) {
    throw invalid(field, `${JSON.stringify(bucket)} is not a valid S3 bucket name`, hint);
  }
  return bucket;
}

/** A release version: it names a directory and an S3 key, so no "/" and no spaces. */
export function checkVersion(value: unknown, field = 'version'): string {
  const hint = 'use a release version such as "0.1.0" or "0.2.0-rc.1" (letters, digits, ".", "-", "+")';
  const version = text(field, value, hint);
  if (!/^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/.test(version) || version.includes('..')) {
    throw invalid(field, `${JSON.stringify(version)} is not a version`, hint);
  }
  return version;
}

/** A Node.js 20 release (the agent's runtime): "20.x.y". */
export function checkNodeVersion(value: unknown, field = 'node.version'): string {
  const hint = 'use a Node.js 20 release, e.g. "20.18.1" (the tarball node-v20.18.1-linux-x64.tar.xz)';
  const version = text(field, value, hint);
  if (!/^20\.\d{1,3}\.\d{1,3}$/.test(version)) throw invalid(field, `${JSON.stringify(version)} is not a Node.js 20 release`, hint);
  return version;
}

/** A SHA-256 as 64 hex digits; returned lowercase (sha256sum prints lowercase). */
export function checkSha256(value: unknown, field = 'sha256'): string {
  const hint = 'pass the SHA-256 of the uploaded file as 64 hex digits, as `sha256sum <file>` prints it';
  const sha = text(field, value, hint);
  if (!/^[0-9a-fA-F]{64}$/.test(sha)) {
    throw invalid(field, `is not a SHA-256 (expected 64 hex digits, got ${sha.length} characters)`, hint);
  }
  return sha.toLowerCase();
}

/** An AWS region name, e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5. */
export function checkRegion(value: unknown, field = 'region'): string {
  const hint = 'set region in synkti.config.ts to an AWS region, e.g. region: "us-east-1"';
  const region = text(field, value, hint);
  if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/.test(region)) {
    throw invalid(field, `${JSON.stringify(region)} is not an AWS region`, hint);
  }
  return region;
}

/** An SSM parameter name (absolute path form). */
export function checkParameterName(value: unknown, field = 'secretParameter'): string {
  const hint = 'use an SSM parameter path such as "/synkti/prod/cluster-secret"';
  const name = text(field, value, hint);
  if (!/^\/[A-Za-z0-9_.\-/]{1,1010}$/.test(name) || name.includes('//')) {
    throw invalid(field, `${JSON.stringify(name)} is not an SSM parameter path`, hint);
  }
  return name;
}

/** The metadata service URL: scheme, host (or IP) and optional port, nothing else. */
export function checkImdsEndpoint(value: unknown, field = 'imdsEndpoint'): string {
  const hint = 'use the metadata service\'s base URL, e.g. "http://169.254.169.254" (IPv6: "http://[fd00:ec2::254]")';
  const url = text(field, value, hint);
  if (!/^http:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/.test(url)) {
    throw invalid(field, `${JSON.stringify(url)} is not a metadata service URL`, hint);
  }
  return url.replace(/\/$/, '');
}

/** A 12-digit AWS account id. */
export function checkAccountId(value: unknown, field = 'bucketOwner'): string {
  const hint = "use the 12-digit id of the account that owns the bucket, or omit it to use the instance's own account";
  const id = text(field, value, hint);
  if (!/^\d{12}$/.test(id)) throw invalid(field, `${JSON.stringify(id)} is not a 12-digit AWS account id`, hint);
  return id;
}

/** A relative path inside the unpacked artifact (no "..", no leading "/"). */
export function checkRelativePath(value: unknown, field: string): string {
  const hint = 'use a path inside the artifact, e.g. "bin/synkti-agent.mjs"';
  const path = text(field, value, hint);
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(path) || path.split('/').some((part) => part === '..' || part === '.')) {
    throw invalid(field, `${JSON.stringify(path)} is not a relative path inside the artifact`, hint);
  }
  return path;
}

export function checkLogLevel(value: unknown, field = 'logLevel'): string {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
  if (typeof value !== 'string' || !levels.includes(value)) {
    throw invalid(field, `${JSON.stringify(value)} is not a log level`, `use one of ${levels.join(', ')}`);
  }
  return value;
}

export function checkArch(value: unknown, field = 'node.arch'): 'x64' | 'arm64' {
  if (value !== 'x64' && value !== 'arm64') {
    throw invalid(
      field,
      `${JSON.stringify(value)} is not a supported architecture`,
      'use "x64" (Intel/AMD instances such as g5) or "arm64" (Graviton)',
    );
  }
  return value;
}
