/**
 * What `synkti worker` needs beyond synkti.config.ts to boot EC2 workers: the cluster
 * bucket, the agent release and its checksum, the Node.js tarball and its checksum, and
 * where instances launch (AMI, subnets, security groups, instance profile). Each comes
 * from a flag or its SYNKTI_* environment variable. Checksums are given, or computed
 * here from the local file that was uploaded: never read back from the bucket, so a
 * replaced object in the bucket cannot vouch for itself.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { SUBNET_ID, SynktiError, ZONE_NAME, isSynktiError, type ClusterSpec } from '@synkti/core';
import type { AwsSubnet, WorkerUserDataOptions } from '@synkti/cloud';
import { DEFAULT_NODE_VERSION, type UserDataFlags } from './launch-options.ts';

export { DEFAULT_NODE_VERSION, type AwsLaunchFlags, type UserDataFlags } from './launch-options.ts';

/** The agent release that matches this CLI (the cluster config format must match). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

export function usage(message: string, hint: string): SynktiError {
  return new SynktiError('E_USAGE', message, { hint });
}

/** SHA-256 of a local file, streamed (artifacts can be large). */
export async function fileSha256(file: string, flag: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (error) {
    throw new SynktiError('E_USAGE', `${flag}: cannot read ${file}`, {
      cause: error,
      hint: 'pass the path of the file you uploaded to the bucket',
    });
  }
  return hash.digest('hex');
}

async function checksum(
  given: string | undefined,
  file: string | undefined,
  shaFlag: string,
  fileFlag: string,
  envVar: string,
  what: string,
): Promise<string> {
  if (given !== undefined && file !== undefined) {
    const computed = await fileSha256(file, fileFlag);
    if (computed !== given.toLowerCase()) {
      throw usage(`${shaFlag} ${given} does not match ${file} (sha256 ${computed})`, `pass only one of ${shaFlag} and ${fileFlag}`);
    }
    return computed;
  }
  if (given !== undefined) return given;
  if (file !== undefined) return fileSha256(file, fileFlag);
  throw usage(
    `the SHA-256 of the ${what} is required`,
    `pass ${shaFlag} <64 hex digits> (or set ${envVar}) or ${fileFlag} <the file you uploaded>`,
  );
}

/** Turns flags into renderWorkerUserData options (renderWorkerUserData validates the values). */
export async function userDataOptions(spec: ClusterSpec, flags: UserDataFlags): Promise<WorkerUserDataOptions> {
  if (!flags.bucket) {
    throw usage(
      'the cluster bucket is required to boot EC2 workers',
      'pass --bucket <name> (or set SYNKTI_BUCKET): the bucket holding artifacts/synkti-agent-<version>.tgz',
    );
  }
  const version = flags.version ?? cliVersion();
  const sha256 = await checksum(
    flags.sha256,
    flags.artifact,
    '--sha256',
    '--artifact',
    'SYNKTI_AGENT_SHA256',
    `agent artifact artifacts/synkti-agent-${version}.tgz`,
  );
  const nodeVersion = flags.nodeVersion ?? DEFAULT_NODE_VERSION;
  const arch = flags.arch ?? 'x64';
  const nodeSha256 = await checksum(
    flags.nodeSha256,
    flags.nodeTarball,
    '--node-sha256',
    '--node-tarball',
    'SYNKTI_NODE_SHA256',
    `Node.js tarball artifacts/node-v${nodeVersion}-linux-${arch}.tar.xz`,
  );
  return {
    spec,
    bucket: flags.bucket,
    version,
    sha256,
    node: { version: nodeVersion, sha256: nodeSha256, arch: arch as 'x64' | 'arm64' },
    bucketOwner: flags.bucketOwner,
    secretParameter: flags.secretParameter,
    logLevel: flags.logLevel,
  };
}

/** "subnet-0abc:us-east-1a" -> { subnetId, zone }. */
export function parseSubnet(value: string): AwsSubnet {
  const match = /^([^:]+):([^:]+)$/.exec(value.trim());
  // The cluster config's rules (the subnets ride in it to the workers, which check them again).
  if (!match || !SUBNET_ID.test(match[1]!) || !ZONE_NAME.test(match[2]!))
    throw usage(
      `--subnet ${JSON.stringify(value)} is not <subnet-id>:<zone>`,
      'e.g. --subnet subnet-0123456789abcdef0:us-east-1a (repeat for more zones)',
    );
  return { subnetId: match[1]!, zone: match[2]! };
}

/** Comma- or space-separated lists from environment variables; repeated flags otherwise. */
export function splitList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(/[\s,]+/)).filter((v) => v !== '');
}

/** renderWorkerUserData names option fields; on the command line they are flags. */
const FIELD_TO_FLAG: [string, string][] = [
  ['bucketOwner: ', '--bucket-owner: '],
  ['bucket: ', '--bucket: '],
  ['version: ', '--version: '],
  ['sha256: ', '--sha256: '],
  ['node.version: ', '--node-version: '],
  ['node.sha256: ', '--node-sha256: '],
  ['node.arch: ', '--arch: '],
  ['secretParameter: ', '--secret-parameter: '],
  ['logLevel: ', '--log-level: '],
  ['spec.region: ', 'region (synkti.config.ts): '],
  ['spec.provider: ', 'provider (synkti.config.ts): '],
];

/** A bad user-data setting is a usage error (exit code 2) that names the flag. Other errors pass through. */
export function asUsageError(error: unknown): unknown {
  if (!isSynktiError(error, 'E_USER_DATA_OPTIONS')) return error;
  const pair = FIELD_TO_FLAG.find(([field]) => error.message.startsWith(field));
  const message = pair ? pair[1] + error.message.slice(pair[0].length) : error.message;
  return new SynktiError('E_USAGE', message, { cause: error, hint: error.hint });
}
