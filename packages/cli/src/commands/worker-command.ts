import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadClusterConfig, type ClusterSpec } from '@synkti/core';
import { renderWorkerUserData } from '@synkti/cloud';
import { createProgress } from '../output.ts';
import { packAgentArtifact } from '@synkti/agent/release';
import { launchWorkers, listWorkers, terminateWorkers } from '@synkti/agent/worker-fleet';
import { renderWorkerTable, workersToJson } from '../worker/worker-output.ts';
import { openWorkerProvider, type WorkerProvider } from '../worker/worker-provider.ts';
import {
  addLaunchOptions,
  addUserDataOptions,
  launchSettingsFrom,
  type LaunchOptionValues,
  type LaunchSettings,
} from '../worker/launch-options.ts';
import { asUsageError, cliVersion, userDataOptions } from '../worker/worker-settings.ts';

function positiveCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return n;
}

async function loadSpec(command: Command): Promise<{ spec: ClusterSpec; file: string }> {
  const { config } = command.optsWithGlobals<{ config?: string }>();
  return loadClusterConfig({ file: config, cwd: process.cwd() });
}

async function withProvider<T>(
  command: Command,
  flags: Partial<LaunchSettings>,
  fn: (worker: WorkerProvider, spec: ClusterSpec) => Promise<T>,
): Promise<T> {
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
  const worker = program
    .command('worker')
    .description('operate workers directly: agent release, boot script, launch, list, terminate')
    .addHelpText('after', '\nThe provider comes from synkti.config.ts: "local" (this machine) or "aws" (EC2).');

  worker
    .command('pack')
    .description('build the agent release workers install: synkti-agent-<version>.tgz, with its SHA-256')
    .option('--out <dir>', 'directory to write it to', '.')
    .option('--version <version>', "release version (default: this CLI's version)")
    .option('--platform <platform>', "the workers' OS and CPU: linux-x64 or linux-arm64 (default: this machine's)")
    .option('--json', 'print { file, key, sha256, bytes } as JSON', false)
    .addHelpText(
      'after',
      `
The tarball holds the agent compiled to JavaScript (no tsx, no TypeScript at run time;
source maps beside it, used with SYNKTI_SOURCE_MAPS=1) and npm's prebuilt native
packages (libsql) for --platform: this machine's installed ones, or for another
platform fetched from the npm registry once (cached in node_modules/.cache). It is
reproducible: the same checkout gives the same SHA-256.

Then:
  aws s3 cp synkti-agent-<version>.tgz s3://<bucket>/artifacts/synkti-agent-<version>.tgz
  synkti worker user-data --bucket <bucket> --artifact synkti-agent-<version>.tgz --node-tarball …`,
    )
    .action(async (options: { out: string; version?: string; platform?: string; json: boolean }) => {
      const progress = createProgress(process.stderr, options.json);
      progress.update('packing the agent');
      const artifact = await packAgentArtifact({
        outDir: options.out,
        version: options.version ?? cliVersion(),
        platform: options.platform,
      });
      progress.done();
      if (options.json) {
        console.log(JSON.stringify(artifact));
        return;
      }
      console.log(
        [
          `wrote ${artifact.file} (${(artifact.bytes / 1e6).toFixed(1)} MB, ${artifact.packages} packages, ${artifact.platform})`,
          `sha256 ${artifact.sha256}`,
          `next: aws s3 cp ${artifact.file} s3://<bucket>/${artifact.key}`,
          `      synkti worker user-data --bucket <bucket> --version ${artifact.version} --sha256 ${artifact.sha256} --node-sha256 <…>`,
        ].join('\n'),
      );
    });

  addUserDataOptions(worker.command('user-data').description('print the cloud-init user data that boots an EC2 worker (a bash script)'))
    .option('-o, --output <file>', 'write it to a file instead of stdout')
    .addHelpText('after', USER_DATA_HELP)
    .action(async (options: LaunchOptionValues & { output?: string }, command: Command) => {
      const { spec } = await loadSpec(command);
      let script: string;
      try {
        script = renderWorkerUserData(await userDataOptions(spec, launchSettingsFrom(options).userData));
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

  addLaunchOptions(
    worker
      .command('launch')
      .description('launch workers into a pool, tagged for the cluster at launch (aws: with the boot user data)')
      .option('-n, --count <n>', 'how many to launch', positiveCount, 1)
      .option('-r, --role <pool>', 'the pool they join (default: the only pool)')
      .addOption(new Option('--lifecycle <lifecycle>', "spot or on-demand (default: the pool's)").choices(['spot', 'on-demand']))
      .option('--json', 'print the launched instances as JSON', false),
  )
    .addHelpText(
      'after',
      `
Local clusters launch agent processes on this machine; aws clusters launch EC2 spot
instances (IMDSv2 required) that boot with \`synkti worker user-data\`'s script, so the
user-data flags apply. Launch returns once EC2 lists the new instances; agents report
ready a few minutes later (\`synkti worker list\`, \`journalctl -u synkti -f\` on the node).

Examples:
  synkti worker launch --count 3
  synkti worker launch -n 2 --role gpu --image-id ami-0123456789abcdef0 \\
      --subnet subnet-0aaa:us-east-1a --subnet subnet-0bbb:us-east-1b --instance-profile acme-synkti-worker`,
    )
    .action(
      async (
        options: LaunchOptionValues & { count: number; role?: string; lifecycle?: 'spot' | 'on-demand'; json: boolean },
        command: Command,
      ) => {
        await withProvider(command, launchSettingsFrom(options), async (workers, spec) => {
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
      },
    );

  worker
    .command('list')
    .description("list the cluster's instances (from the provider's API, by the SynktiCluster tag)")
    .option('-r, --role <pool>', 'only this pool')
    .option('--all', 'include terminated instances', false)
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { role?: string; all: boolean; json: boolean }, command: Command) => {
      await withProvider(command, {}, async (workers, spec) => {
        const records = await listWorkers(workers.provider, spec, { role: options.role, all: options.all });
        console.log(options.json ? JSON.stringify(workersToJson(records), null, 2) : renderWorkerTable(records));
      });
    });

  worker
    .command('terminate')
    .description('terminate instances of this cluster (agents drain and leave on the way out)')
    .argument('<id...>', "instance ids (a unique prefix is enough); only this cluster's instances are accepted")
    .option('--json', 'print the terminated ids as JSON', false)
    .action(async (ids: string[], options: { json: boolean }, command: Command) => {
      await withProvider(command, {}, async (workers, spec) => {
        const terminated = await terminateWorkers(workers.provider, spec, ids);
        console.log(options.json ? JSON.stringify({ terminated }) : `${spec.name}: terminating ${terminated.join(', ')}`);
      });
    });
}
