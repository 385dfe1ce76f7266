/**
 * The launch settings new EC2 workers need, as command-line options shared by every
 * command that launches them (`synkti worker launch`, `synkti scale`): what the boot
 * script installs (bucket, agent release, Node.js, checksums) and where instances launch
 * (AMI, subnets, security groups, instance profile). Each flag falls back to its SYNKTI_*
 * environment variable; a flag given on the command line always wins.
 *
 * Light on purpose (commander only): program.ts defines `scale`'s options at start, and
 * `synkti --help` must not load anything heavy.
 */
import { Option, type Command } from 'commander';
import { repeatable } from '../option-parsers.ts';

/** The Node.js 20 release the user data installs unless told otherwise. */
export const DEFAULT_NODE_VERSION = '20.18.1';

/** Flags (or their environment variables) that shape the user data. */
export interface UserDataFlags {
  bucket?: string | undefined;
  version?: string | undefined;
  sha256?: string | undefined;
  /** Local copy of the agent artifact: its SHA-256 is computed. */
  artifact?: string | undefined;
  nodeVersion?: string | undefined;
  nodeSha256?: string | undefined;
  /** Local copy of the Node.js tarball: its SHA-256 is computed. */
  nodeTarball?: string | undefined;
  arch?: string | undefined;
  bucketOwner?: string | undefined;
  secretParameter?: string | undefined;
  logLevel?: string | undefined;
}

/** Flags (or their environment variables) that say where EC2 instances launch. */
export interface AwsLaunchFlags {
  imageId?: string | undefined;
  subnet?: string[] | undefined;
  securityGroup?: string[] | undefined;
  instanceProfile?: string | undefined;
  onDemandFallback?: boolean | undefined;
}

/** What commander parses from addLaunchOptions' flags (both groups). */
export type LaunchOptionValues = UserDataFlags & AwsLaunchFlags;

/** Both groups of settings, flags and environment merged. */
export interface LaunchSettings {
  userData: UserDataFlags;
  aws: AwsLaunchFlags;
}

/** Each flag that has an environment variable, and the field it fills. */
export const LAUNCH_ENV: readonly { flag: string; env: string; field: keyof UserDataFlags | keyof AwsLaunchFlags; list?: true }[] = [
  { flag: '--bucket', env: 'SYNKTI_BUCKET', field: 'bucket' },
  { flag: '--version', env: 'SYNKTI_AGENT_VERSION', field: 'version' },
  { flag: '--sha256', env: 'SYNKTI_AGENT_SHA256', field: 'sha256' },
  { flag: '--node-version', env: 'SYNKTI_NODE_VERSION', field: 'nodeVersion' },
  { flag: '--node-sha256', env: 'SYNKTI_NODE_SHA256', field: 'nodeSha256' },
  { flag: '--image-id', env: 'SYNKTI_IMAGE_ID', field: 'imageId' },
  { flag: '--subnet', env: 'SYNKTI_SUBNETS', field: 'subnet', list: true },
  { flag: '--security-group', env: 'SYNKTI_SECURITY_GROUPS', field: 'securityGroup', list: true },
  { flag: '--instance-profile', env: 'SYNKTI_INSTANCE_PROFILE', field: 'instanceProfile' },
];

/** The settings an aws launch cannot do without, for error hints: "--image-id (SYNKTI_IMAGE_ID), ...". */
export const REQUIRED_LAUNCH_SETTINGS =
  '--image-id (SYNKTI_IMAGE_ID), --bucket (SYNKTI_BUCKET), --sha256 or --artifact (SYNKTI_AGENT_SHA256), --node-sha256 or --node-tarball (SYNKTI_NODE_SHA256)';

function envOf(field: string): string {
  const entry = LAUNCH_ENV.find((e) => e.field === field);
  if (!entry) throw new Error(`no environment variable for ${field}`);
  return entry.env;
}

/** The flags that shape the boot script (`synkti worker user-data` has only these). */
export function addUserDataOptions(command: Command): Command {
  return command
    .addOption(new Option('--bucket <name>', "the cluster's own S3 bucket holding artifacts/").env(envOf('bucket')))
    .addOption(
      new Option('--version <version>', "agent release to install: artifacts/synkti-agent-<version>.tgz (default: this CLI's version)").env(
        envOf('version'),
      ),
    )
    .addOption(
      new Option('--sha256 <hex>', 'SHA-256 of that artifact (64 hex digits); the worker refuses any other bytes').env(envOf('sha256')),
    )
    .addOption(new Option('--artifact <file>', 'local copy of the agent artifact: its SHA-256 is computed instead of --sha256'))
    .addOption(
      new Option('--node-version <version>', 'Node.js 20 release: artifacts/node-v<version>-linux-<arch>.tar.xz')
        .default(DEFAULT_NODE_VERSION)
        .env(envOf('nodeVersion')),
    )
    .addOption(
      new Option('--node-sha256 <hex>', "SHA-256 of that Node.js tarball (from nodejs.org's SHASUMS256.txt)").env(envOf('nodeSha256')),
    )
    .addOption(new Option('--node-tarball <file>', 'local copy of the Node.js tarball: its SHA-256 is computed instead of --node-sha256'))
    .addOption(new Option('--arch <arch>', 'CPU architecture of the instances').choices(['x64', 'arm64']).default('x64'))
    .addOption(new Option('--bucket-owner <account>', "account that must own the bucket (default: the instance's own account)"))
    .addOption(
      new Option('--secret-parameter <name>', 'SSM SecureString with the cluster secret (default: /synkti/<cluster>/cluster-secret)'),
    )
    .addOption(
      new Option('--log-level <level>', 'agent log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    );
}

/** The flags that say where EC2 instances launch. */
export function addAwsOptions(command: Command): Command {
  return command
    .addOption(new Option('--image-id <ami>', 'aws: AMI the workers boot (Amazon Linux 2023 recommended)').env(envOf('imageId')))
    .addOption(
      new Option('--subnet <id:zone>', 'aws: subnet and its zone, e.g. subnet-0abc:us-east-1a (repeatable; capacity fallback tries each)')
        .argParser(repeatable)
        .env(envOf('subnet')),
    )
    .addOption(new Option('--security-group <id>', 'aws: security group id (repeatable)').argParser(repeatable).env(envOf('securityGroup')))
    .addOption(new Option('--instance-profile <name>', 'aws: instance profile (role) of the workers').env(envOf('instanceProfile')))
    .addOption(new Option('--on-demand-fallback', 'aws: launch on-demand when no spot capacity is left'));
}

/** Every launch flag: the user-data ones and the aws ones. */
export function addLaunchOptions(command: Command): Command {
  return addAwsOptions(addUserDataOptions(command));
}

function given(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (Array.isArray(value)) return value.some((v) => typeof v === 'string' && v.trim() !== '');
  return true;
}

/**
 * The launch settings from parsed flags, each missing one taken from its SYNKTI_*
 * variable (a flag wins; an empty flag or variable counts as unset). Commander already
 * applies the variables of the process it runs in; `env` also covers callers that pass
 * their own environment (tests, `scale()` called directly).
 */
export function launchSettingsFrom(options: LaunchOptionValues, env: NodeJS.ProcessEnv = process.env): LaunchSettings {
  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (given(value)) merged[key] = value;
  for (const { env: name, field, list } of LAUNCH_ENV) {
    const value = env[name];
    if (merged[field] !== undefined || value === undefined || value.trim() === '') continue;
    merged[field] = list ? [value] : value;
  }
  const m = merged as LaunchOptionValues;
  return {
    userData: {
      bucket: m.bucket,
      version: m.version,
      sha256: m.sha256,
      artifact: m.artifact,
      nodeVersion: m.nodeVersion,
      nodeSha256: m.nodeSha256,
      nodeTarball: m.nodeTarball,
      arch: m.arch,
      bucketOwner: m.bucketOwner,
      secretParameter: m.secretParameter,
      logLevel: m.logLevel,
    },
    aws: {
      imageId: m.imageId,
      subnet: m.subnet,
      securityGroup: m.securityGroup,
      instanceProfile: m.instanceProfile,
      onDemandFallback: m.onDemandFallback,
    },
  };
}
