import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadClusterConfig, type ClusterSpec } from '@synkti/core';
import { renderWorkerUserData } from '@synkti/cloud';
import { createProgress } from '../output.ts';
import { packAgentArtifact } from '../worker/agent-artifact.ts';
import { launchWorkers, listWorkers, terminateWorkers } from '../worker/worker-fleet.ts';
import { renderWorkerTable, workersToJson } from '../worker/worker-output.ts';
import { openWorkerProvider, type WorkerProvider } from '../worker/worker-provider.ts';
import { DEFAULT_NODE_VERSION, asUsageError, userDataOptions, type AwsLaunchFlags, type UserDataFlags } from '../worker/worker-settings.ts';

function positiveCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function loadSpec(command: Command): Promise<{ spec: ClusterSpec; file: string }> {
  const { config } = command.optsWithGlobals<{ config?: string }>();
  return loadClusterConfig({ file: config, cwd: process.cwd() });
}

function addUserDataOptions(command: Command): Command {
  return command
    .addOption(new Option('--bucket <name>', 'the cluster\'s own S3 bucket holding artifacts/').env('SYNKTI_BUCKET'))
    .addOption(new Option('--version <version>', 'agent release to install: artifacts/synkti-agent-<version>.tgz (default: this CLI\'s version)').env('SYNKTI_AGENT_VERSION'))
    .addOption(new Option('--sha256 <hex>', 'SHA-256 of that artifact (64 hex digits); the worker refuses any other bytes').env('SYNKTI_AGENT_SHA256'))
    .addOption(new Option('--artifact <file>', 'local copy of the agent artifact: its SHA-256 is computed instead of --sha256'))
    .addOption(new Option('--node-version <version>', 'Node.js 20 release: artifacts/node-v<version>-linux-<arch>.tar.xz').default(DEFAULT_NODE_VERSION).env('SYNKTI_NODE_VERSION'))
    .addOption(new Option('--node-sha256 <hex>', 'SHA-256 of that Node.js tarball (from nodejs.org\'s SHASUMS256.txt)').env('SYNKTI_NODE_SHA256'))
    .addOption(new Option('--node-tarball <file>', 'local copy of the Node.js tarball: its SHA-256 is computed instead of --node-sha256'))
    .addOption(new Option('--arch <arch>', 'CPU architecture of the instances').choices(['x64', 'arm64']).default('x64'))
    .addOption(new Option('--bucket-owner <account>', 'account that must own the bucket (default: the instance\'s own account)'))
    .addOption(new Option('--secret-parameter <name>', 'SSM SecureString with the cluster secret (default: /synkti/<cluster>/cluster-secret)'))
    .addOption(new Option('--log-level <level>', 'agent log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'));
}

function addAwsOptions(command: Command): Command {
  return command
    .addOption(new Option('--image-id <ami>', 'aws: AMI the workers boot (Amazon Linux 2023 recommended)').env('SYNKTI_IMAGE_ID'))
    .addOption(new Option('--subnet <id:zone>', 'aws: subnet and its zone, e.g. subnet-0abc:us-east-1a (repeatable; capacity fallback tries each)').argParser(collect).env('SYNKTI_SUBNETS'))
    .addOption(new Option('--security-group <id>', 'aws: security group id (repeatable)').argParser(collect).env('SYNKTI_SECURITY_GROUPS'))
    .addOption(new Option('--instance-profile <name>', 'aws: instance profile (role) of the workers').env('SYNKTI_INSTANCE_PROFILE'))
    .addOption(new Option('--on-demand-fallback', 'aws: launch on-demand when no spot capacity is left'));
}

interface UserDataCliFlags extends UserDataFlags {
  output?: string;
}

function userDataFlags(options: UserDataCliFlags): UserDataFlags {
  return {
    bucket: options.bucket, version: options.version, sha256: options.sha256, artifact: options.artifact,
    nodeVersion: options.nodeVersion, nodeSha256: options.nodeSha256, nodeTarball: options.nodeTarball, arch: options.arch,
    bucketOwner: options.bucketOwner, secretParameter: options.secretParameter, logLevel: options.logLevel,
  };
}

async function withProvider<T>(command: Command, flags: { userData?: UserDataFlags; aws?: AwsLaunchFlags }, fn: (worker: WorkerProvider, spec: ClusterSpec) => Promise<T>): Promise<T> {
  const { spec, file } = await loadSpec(command);
  const worker = openWorkerProvider(spec, { configFile: file, userData: flags.userData, aws: flags.aws });
  try {
    return await fn(worker, spec);
  } catch (error) {
    throw asUsageError(error);
  } finally {
    worker.close();
  }
}

const USER_DATA_HELP = `
The script installs Node.js 20 and the agent from the cluster's bucket, checks both
against the SHA-256 values embedded in it (and refuses to install or run anything on a
mismatch), writes /etc/systemd/system/synkti.service and starts it. On the worker:
  journalctl -u synkti -f

Before launching, upload to s3://<bucket>/artifacts/:
  synkti-agent-<version>.tgz        the agent release
  node-v<node-version>-linux-<arch>.tar.xz   Node.js, as published on nodejs.org
and store the cluster secret as an SSM SecureString (never in user data):
  aws ssm put-parameter --type SecureString --name /synkti/<cluster>/cluster-secret --value "$(openssl rand -hex 32)"

Examples:
  synkti worker user-data --bucket acme-synkti --artifact synkti-agent-0.1.0.tgz \\
      --node-tarball node-v20.18.1-linux-x64.tar.xz > user-data.sh
  SYNKTI_BUCKET=acme-synkti SYNKTI_AGENT_SHA256=… SYNKTI_NODE_SHA256=… synkti worker user-data
`;

/** Adds `synkti worker user-data|launch|list|terminate`. */
export function registerWorkerCommands(program: Command): void {
  const worker = program.command('worker')
    .description('operate workers directly: agent release, boot script, launch, list, terminate')
    .addHelpText('after', '\nThe provider comes from synkti.config.ts: "local" (this machine) or "aws" (EC2).');

  worker.command('pack')
    .description('build the agent release workers install: synkti-agent-<version>.tgz, with its SHA-256')
    .option('--out <dir>', 'directory to write it to', '.')
    .option('--version <version>', 'release version (default: this CLI\'s version)')
    .option('--json', 'print { file, key, sha256, bytes } as JSON', false)
    .addHelpText('after', `
The tarball holds the agent's sources, tsx and every installed dependency they need,
including native modules (esbuild, libsql) built for THIS machine: pack on Linux with
the workers' CPU (x64 or arm64). It is reproducible: the same checkout gives the same
SHA-256.

Then:
  aws s3 cp synkti-agent-<version>.tgz s3://<bucket>/artifacts/synkti-agent-<version>.tgz
  synkti worker user-data --bucket <bucket> --artifact synkti-agent-<version>.tgz --node-tarball …`)
    .action(async (options: { out: string; version?: string; json: boolean }) => {
      const progress = createProgress(process.stderr, options.json);
      progress.update('packing the agent');
      const artifact = await packAgentArtifact({ outDir: options.out, version: options.version });
      progress.done();
      if (options.json) {
        console.log(JSON.stringify(artifact));
        return;
      }
      console.log([
        `wrote ${artifact.file} (${(artifact.bytes / 1e6).toFixed(1)} MB, ${artifact.packages} packages, ${artifact.platform})`,
        `sha256 ${artifact.sha256}`,
        `next: aws s3 cp ${artifact.file} s3://<bucket>/${artifact.key}`,
        `      synkti worker user-data --bucket <bucket> --version ${artifact.version} --sha256 ${artifact.sha256} --node-sha256 <…>`,
      ].join('\n'));
    });

  addUserDataOptions(worker.command('user-data')
    .description('print the cloud-init user data that boots an EC2 worker (a bash script)'))
    .option('-o, --output <file>', 'write it to a file instead of stdout')
    .addHelpText('after', USER_DATA_HELP)
    .action(async (options: UserDataCliFlags, command: Command) => {
      const { spec } = await loadSpec(command);
      let script: string;
      try {
        script = renderWorkerUserData(await userDataOptions(spec, userDataFlags(options)));
      } catch (error) {
        throw asUsageError(error);
      }
      if (options.output) {
        writeFileSync(options.output, script, { mode: 0o644 });
        console.error(`wrote ${options.output} (${Buffer.byteLength(script)} bytes of 16384)`);
      } else {
        process.stdout.write(script);
      }
    });

  addAwsOptions(addUserDataOptions(worker.command('launch')
    .description('launch workers into a pool, tagged for the cluster at launch (aws: with the boot user data)')
    .option('-n, --count <n>', 'how many to launch', positiveCount, 1)
    .option('-r, --role <pool>', 'the pool they join (default: the only pool)')
    .addOption(new Option('--lifecycle <lifecycle>', 'spot or on-demand (default: the pool\'s)').choices(['spot', 'on-demand']))
    .option('--json', 'print the launched instances as JSON', false)))
    .addHelpText('after', `
Local clusters launch agent processes on this machine; aws clusters launch EC2 spot
instances (IMDSv2 required) that boot with \`synkti worker user-data\`'s script, so the
user-data flags apply. Launch returns once EC2 lists the new instances; agents report
ready a few minutes later (\`synkti worker list\`, \`journalctl -u synkti -f\` on the node).

Examples:
  synkti worker launch --count 3
  synkti worker launch -n 2 --role gpu --image-id ami-0123456789abcdef0 \\
      --subnet subnet-0aaa:us-east-1a --subnet subnet-0bbb:us-east-1b --instance-profile acme-synkti-worker`)
    .action(async (options: UserDataCliFlags & AwsLaunchFlags & { count: number; role?: string; lifecycle?: 'spot' | 'on-demand'; json: boolean }, command: Command) => {
      const aws: AwsLaunchFlags = {
        imageId: options.imageId, subnet: options.subnet, securityGroup: options.securityGroup,
        instanceProfile: options.instanceProfile, onDemandFallback: options.onDemandFallback,
      };
      await withProvider(command, { userData: userDataFlags(options), aws }, async (workers, spec) => {
        const progress = createProgress(process.stderr, options.json);
        const userData = await workers.userData();
        progress.update(`launching ${options.count} instance${options.count === 1 ? '' : 's'} for ${spec.name}`);
        const launched = await launchWorkers(workers.provider, spec, {
          count: options.count,
          role: options.role,
          lifecycle: options.lifecycle,
          userData,
          onLaunched: (record, i, count) => progress.update(`launched ${record.id} (${i + 1}/${count})`),
        });
        progress.done(`${spec.name}: launched ${launched.length} instance${launched.length === 1 ? '' : 's'}`);
        console.log(options.json ? JSON.stringify(workersToJson(launched), null, 2) : renderWorkerTable(launched));
      });
    });

  worker.command('list')
    .description('list the cluster\'s instances (from the provider\'s API, by the SynktiCluster tag)')
    .option('-r, --role <pool>', 'only this pool')
    .option('--all', 'include terminated instances', false)
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { role?: string; all: boolean; json: boolean }, command: Command) => {
      await withProvider(command, {}, async (workers, spec) => {
        const records = await listWorkers(workers.provider, spec, { role: options.role, all: options.all });
        console.log(options.json ? JSON.stringify(workersToJson(records), null, 2) : renderWorkerTable(records));
      });
    });

  worker.command('terminate')
    .description('terminate instances of this cluster (agents drain and leave on the way out)')
    .argument('<id...>', 'instance ids (a unique prefix is enough); only this cluster\'s instances are accepted')
    .option('--json', 'print the terminated ids as JSON', false)
    .action(async (ids: string[], options: { json: boolean }, command: Command) => {
      await withProvider(command, {}, async (workers, spec) => {
        const terminated = await terminateWorkers(workers.provider, spec, ids);
        console.log(options.json ? JSON.stringify({ terminated }) : `${spec.name}: terminating ${terminated.join(', ')}`);
      });
    });
}
