import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
// Light imports only (no zod, no cloud SDKs): `synkti --help` loads this file and nothing
// else of Synkti; each command loads its implementation when it runs.
import { SynktiError, isSynktiError } from '@synkti/core/errors';
import { EXIT, exitCodeForError } from './exit-codes.ts';
import { describeDurationDefaults } from './output.ts';
import { cliBundle, loadImplementation, missingPackage, registerTsx } from './ts-loader.ts';
import { chaosRateOption, durationOption as durationParser, repeatable, wholeNumberOption } from './option-parsers.ts';
// commander only: scale defines the launch flags of `synkti worker launch` at start.
import { addLaunchOptions, type LaunchOptionValues } from './worker/launch-options.ts';

const durationOption = durationParser();
const countOption = wholeNumberOption(0, 10_000);

type ClusterSpec = import('@synkti/core').ClusterSpec;

/** The CLI package's version (packages/cli/package.json, next to src/ and dist/). */
function cliVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function loadConfig(command: Command): Promise<{ spec: ClusterSpec; file: string }> {
  const { config } = command.optsWithGlobals<{ config?: string }>();
  const { loadClusterConfig, provideCoreToConfigs } = await loadImplementation(() => import('@synkti/core'), { tsx: false });
  const bundle = cliBundle();
  // Compiled CLI: the config is compiled once and cached, so a read command needs no tsx.
  const importConfig = bundle
    ? (await import('./compiled-config.ts')).compiledConfigImporter({
        provided: {
          '@synkti/core': bundle.core,
          '@synkti/core/errors': new URL('./core-errors.mjs', bundle.core).href,
          '@synkti/core/duration': new URL('./core-duration.mjs', bundle.core).href,
        },
        fallback: async (file) => {
          await registerTsx();
          provideCoreToConfigs();
          return (await import(pathToFileURL(file).href)) as { default?: unknown };
        },
      })
    : undefined;
  return loadClusterConfig({ file: config, cwd: process.cwd(), importConfig });
}

/** The root command with its global options and error handling, and no commands. */
export function baseProgram(): Command {
  return (
    new Command('synkti')
      // `synkti --version` is answered in runProgram, not as a root option: a root option
      // would also capture subcommands' own --version flags (synkti worker user-data --version).
      .addHelpText('after', '\nsynkti --version prints the version.')
      .description(
        'Run compute fleets on spot capacity with no control plane.\nEvery node runs the same agent; the fleet keeps its size, traffic and work through preemptions.',
      )
      .option('-c, --config <file>', 'cluster config file (default: ./synkti.config.ts)')
      .showHelpAfterError('(run `synkti --help` or `synkti <command> --help` for usage)')
      .configureOutput({ outputError: (text, write) => write(text) })
      // Before the subcommands are added, so they inherit it: errors come back to run().
      .exitOverride()
  );
}

/** init, up, status, down, preempt, demo, logs: defined here, implemented in modules loaded on use. */
export function addCoreCommands(program: Command): Command {
  program
    .command('init')
    .description('write a commented starter synkti.config.ts in this directory')
    .option('--name <name>', 'cluster name (lowercase letters, digits and dashes)')
    .option('--force', 'overwrite an existing synkti.config.ts', false)
    .action(async (options: { name?: string; force: boolean }) => {
      const { init } = await loadImplementation(() => import('./commands/init.ts'));
      const file = init({ ...options, cwd: process.cwd() });
      console.log(`wrote ${file}\nnext: \`synkti up\` to start the fleet, \`synkti status\` to see it`);
    });

  addLaunchOptions(
    program
      .command('up')
      .description('start the fleet (launch what is missing) and wait until every node is ready')
      .option('-n, --nodes <count>', 'number of nodes in the pool (overrides the config)', countOption)
      .option('-p, --pool <name>', 'which pool --nodes applies to (default: the only pool)')
      .option('--timeout <duration>', 'how long to wait for the fleet', durationOption, 60_000)
      .option(
        '--chaos-rate <rate>',
        'local cloud only: random spot interruptions per instance, e.g. 6/h or 1/min (0 = off)',
        chaosRateOption,
      )
      .option('--chaos-notice <duration>', 'warning each chaos interruption gives', durationOption, 120_000)
      .option('--json', 'print the fleet as JSON', false),
  )
    .addHelpText(
      'after',
      `
Local: launches the missing nodes on this machine and waits until every agent is ready
and all agree on membership. With provider 'aws' it launches the missing EC2 instances
(tagged at launch, booting the verified agent of \`synkti worker launch\`) with the launch
flags above, each read from its SYNKTI_* variable when not given, and waits until EC2
lists every pool at its count, running; agents are ready minutes later (\`synkti status\`).
It never terminates anything (\`synkti scale\` does). First time on AWS: \`synkti bootstrap\`
makes the stack, secret, buckets and agent artifact these flags point to.
Exit codes: 0 ready, 2 bad flags or config (or a missing launch setting), 3 not ready in time.`,
    )
    .action(
      async (
        options: LaunchOptionValues & {
          nodes?: number;
          pool?: string;
          timeout: number;
          json: boolean;
          chaosRate?: number;
          chaosNotice: number;
        },
        command: Command,
      ) => {
        const { spec, file } = await loadConfig(command);
        const { up } = await loadImplementation(() => import('./commands/up.ts'), { tsx: false });
        const { reportsToJson } = await loadImplementation(() => import('./commands/status.ts'), { tsx: false });
        const chaos = options.chaosRate === undefined ? undefined : { ratePerHour: options.chaosRate, noticeMs: options.chaosNotice };
        const result = await up(spec, file, {
          nodes: options.nodes,
          pool: options.pool,
          timeoutMs: options.timeout,
          json: options.json,
          chaos,
          launch: options,
        });
        if (options.json)
          console.log(
            JSON.stringify(
              { cluster: spec.name, ready: result.ok, launched: result.launched, nodes: reportsToJson(result.reports) },
              null,
              2,
            ),
          );
        if (!result.ok) {
          console.error(
            spec.provider === 'aws'
              ? 'some instances are not running yet: see `synkti status` (and the EC2 console)'
              : 'some nodes are not ready: see `synkti status` and `synkti logs <id>`',
          );
          process.exitCode = EXIT.timeout;
        }
      },
    );

  program
    .command('status')
    .description('show every node: id, role, state, address, uptime, load')
    .option('--json', 'print JSON instead of a table', false)
    .addHelpText(
      'after',
      `
Any provider: local instances, or (provider: 'aws') the EC2 instances tagged
SynktiCluster=<name>. Each agent that answers adds its state, load and membership; an
EC2 instance whose agent cannot be reached from here shows its EC2 state (ec2:running).
Agents are asked with the cluster secret: SYNKTI_CLUSTER_SECRET(_FILE) for aws clusters.`,
    )
    .action(async (options: { json: boolean }, command: Command) => {
      const { spec, file } = await loadConfig(command);
      const { clusterStatus, describeChaos, renderNodeTable, reportsToJson } = await loadImplementation(
        () => import('./commands/status.ts'),
        { tsx: false },
      );
      const result = await clusterStatus(spec, file);
      console.log(
        options.json ? JSON.stringify(reportsToJson(result.reports), null, 2) : renderNodeTable(result.reports, { kind: result.kind }),
      );
      if (!options.json && result.chaos && result.reports.length > 0) console.log(describeChaos(result.chaos));
      if (!result.agentsAsked && !options.json && result.reports.length > 0) {
        console.error('(agents not asked: no cluster secret here; set SYNKTI_CLUSTER_SECRET_FILE to see their state)');
      }
    });

  program
    .command('down')
    .description('stop every node of the fleet (agents drain and leave; --force kills at once); buckets are kept')
    .option('--force', 'kill instances at once instead of a graceful stop', false)
    .option('--timeout <duration>', 'how long to wait for instances to stop', durationOption, 60_000)
    .option('--delete-buckets', "local: also delete the cluster's unprotected buckets, once every node is gone", false)
    .option(
      '--delete-protected-buckets <name>',
      'with --delete-buckets: also delete this protected bucket (repeat its exact name; repeatable)',
      repeatable,
      [] as string[],
    )
    .option('--json', 'print what was terminated and deleted as JSON', false)
    .addHelpText(
      'after',
      `
Buckets are kept by default. --delete-buckets deletes the unprotected ones and refuses
protected ones (e.g. models), naming them; a protected bucket is deleted only when told
twice: --delete-buckets --delete-protected-buckets <its exact name>.
Exit codes: 0 done, 2 bad flags, 3 instances still stopping, 4 protected buckets refused.`,
    )
    .action(
      async (
        options: { force: boolean; timeout: number; deleteBuckets: boolean; deleteProtectedBuckets: string[]; json: boolean },
        command: Command,
      ) => {
        const { spec, file } = await loadConfig(command);
        const { describeRefusedBuckets, down } = await loadImplementation(() => import('./commands/down.ts'), { tsx: false });
        const result = await down(spec, file, {
          force: options.force,
          timeoutMs: options.timeout,
          quiet: options.json,
          deleteBuckets: options.deleteBuckets,
          deleteProtectedBuckets: options.deleteProtectedBuckets,
        });
        if (options.json) console.log(JSON.stringify({ cluster: spec.name, ...result }, null, 2));
        if (result.buckets.refusedProtected.length > 0) {
          console.error(describeRefusedBuckets(spec.name, result.buckets.refusedProtected));
          process.exitCode = EXIT.refused;
        }
        if (result.remaining.length > 0) process.exitCode = EXIT.timeout;
      },
    );

  addLaunchOptions(
    program
      .command('scale')
      .description('set how many nodes a pool runs now: launch the missing ones, or drain and remove extras')
      .argument('<pool>', 'the pool (a key of pools in synkti.config.ts)')
      .argument('<n>', 'node count: a whole number, 0 or more')
      .option('--timeout <duration>', 'local: how long to wait for the pool to settle', durationOption, 60_000)
      .option('--no-wait', 'return once the launches/terminations are made (aws never waits)')
      .option('--json', 'print the result as JSON', false),
  )
    .addHelpText(
      'after',
      `
Scale in removes the nodes that serve nothing first (booting, unreachable, draining),
then the least loaded, then the newest; each drains and leaves before it stops. The
config's count is not changed. On aws, launches take the same flags as
\`synkti worker launch\` (above); each flag not given is read from its SYNKTI_*
variable (SYNKTI_IMAGE_ID, SYNKTI_BUCKET, SYNKTI_AGENT_SHA256, ...), and a flag wins.
Local pools ignore them.
Exit codes: 0 settled, 2 bad pool or count (or a missing launch setting), 3 not settled in time.

Example:
  synkti scale worker 5 --image-id ami-0123456789abcdef0 --bucket acme-synkti \\
      --artifact synkti-agent-0.1.0.tgz --node-tarball node-v20.18.1-linux-x64.tar.xz \\
      --subnet subnet-0aaa:us-east-1a --instance-profile acme-synkti-worker`,
    )
    .action(
      async (
        pool: string,
        n: string,
        options: LaunchOptionValues & { timeout: number; wait: boolean; json: boolean },
        command: Command,
      ) => {
        const { spec, file } = await loadConfig(command);
        const { describeScale, scale, scaleResultToJson } = await loadImplementation(() => import('./commands/scale.ts'), { tsx: false });
        const { reportsToJson } = await loadImplementation(() => import('./commands/status.ts'), { tsx: false });
        const result = await scale(spec, file, pool, n, {
          timeoutMs: options.timeout,
          wait: options.wait,
          quiet: options.json,
          launch: options,
        });
        console.log(options.json ? JSON.stringify(scaleResultToJson(result, reportsToJson), null, 2) : describeScale(result));
        if (result.ready === false) process.exitCode = EXIT.timeout;
      },
    );

  program
    .command('ssh')
    .description('open a shell on a node through SSM Session Manager (no SSH key, no open port)')
    .argument('<node>', 'instance id, a unique id prefix, private IP or Name tag')
    .addHelpText(
      'after',
      `
Runs \`aws ssm start-session --target <instance-id>\` with this terminal attached: needs
the AWS CLI v2 and its session-manager-plugin, and an instance profile with
AmazonSSMManagedInstanceCore. Local nodes are processes on this machine: it prints
their pid and log instead (use \`synkti logs <id> -f\`).
Exit codes: the session's own; 2 unknown or ambiguous node; 4 a local node;
5 the aws CLI or session-manager-plugin is missing.`,
    )
    .action(async (node: string, _options: unknown, command: Command) => {
      const { spec, file } = await loadConfig(command);
      const { describeLocalNode, ssh } = await loadImplementation(() => import('./commands/ssh.ts'));
      // A missing aws CLI or plugin is thrown as E_TOOL_MISSING: exit 5 (exitCodeForError).
      const outcome = await ssh(spec, file, node);
      if (outcome.kind === 'local') {
        console.error(describeLocalNode(outcome));
        process.exitCode = EXIT.refused;
      } else {
        process.exitCode = outcome.exitCode;
      }
    });

  program
    .command('preempt')
    .description('interrupt a local spot instance as AWS would: an IMDSv2 notice now, SIGKILL when it expires')
    .argument('<id>', 'instance id (a unique prefix is enough)')
    .option('--in <duration>', 'warning before the instance is reclaimed (AWS gives 2 minutes)', durationOption, 120_000)
    .option('--rebalance', 'raise a rebalance recommendation instead (elevated risk, no deadline)', false)
    .option('--json', 'print { id, notice: { action, time }, rebalanceAt } as JSON (times ISO 8601)', false)
    .action(async (id: string, options: { in: number; rebalance: boolean; json: boolean }, command: Command) => {
      const { spec, file } = await loadConfig(command);
      const { describePreempt, preempt } = await loadImplementation(() => import('./commands/preempt.ts'), { tsx: false });
      const result = await preempt(spec, file, id, { inMs: options.in, rebalance: options.rebalance });
      console.log(
        options.json
          ? JSON.stringify({
              id: result.id,
              notice: result.notice ? { action: result.notice.action, time: new Date(result.notice.time).toISOString() } : null,
              rebalanceAt: result.rebalanceAt === undefined ? null : new Date(result.rebalanceAt).toISOString(),
            })
          : describePreempt(result),
      );
    });

  program
    .command('demo')
    .description('run the demo: a local fleet of 3 serving streaming completions through a preemption and a kill -9')
    .addOption(
      new Option(
        '--scenario <name>',
        'default: traffic straight to the routers through a preemption and a kill -9; ' +
          "partition (root, Linux network namespaces): 5 hosts with their own addresses under streaming load, one host's link cut, then a 3 | 2 partition " +
          'for --partition, then heal; the summary is { requests, failed, failedInFlightOnCut, maxInstances, replacementsDuringPartition, convergedAfterHealMs, ... }; ' +
          'behind-lb: traffic through HAProxy (health-checking /_synkti/router/health, needs haproxy installed), ' +
          "the busiest router's node preempted, then another once its replacement is in rotation; the summary adds cutMidStream; " +
          "rollout: under steady load, `synkti deploy`'s rollout moves the 3 nodes to a new generation, then a broken generation is tried and rolled back; " +
          'the summary is { requests, failed, rolledOut, rolledBack, generation, ... }; with --on aws-emulator: `synkti deploy` (a real CLI process) rolls 3 workers bootstrapped on the emulated AWS, ' +
          "tagging the desired config through EC2 with the operator's keys, surges booting from the release bucket; the summary adds nodeGenerations, desiredTagged, awsCalls, iamDenied; " +
          'autoscale: a pool of 1..4 with autoscale under load that steps 1 → 8 → 1 concurrent streams, each level held --duration once the pool settled ' +
          '(upscaleDelay a quarter of it, downscaleDelay a half); the agents grow and shrink the pool; the summary is { requests, failed, scaleOuts, scaleIns, maxReplicas, minReplicas, ... }',
      )
        .choices(['default', 'behind-lb', 'rollout', 'autoscale', 'partition'])
        .default('default'),
    )
    .addOption(
      new Option(
        '--on <cloud>',
        'local: the embedded local cloud; aws-emulator: an emulated AWS on this machine (moto_server, each EC2 instance ' +
          "a machine booted from its user data, every AWS call of the workers checked against the stack's IAM role): runs synkti bootstrap --skip-infra, " +
          'serves through a preemption and a crash, then synkti down; the summary adds provider, awsCalls, iamDenied, modelVerified and instancesLeft ' +
          '(needs moto_server and the aws CLI)',
      )
        .choices(['local', 'aws-emulator'])
        .default('local'),
    )
    .addOption(
      new Option(
        '--shape <shape>',
        'aws-emulator: serve (the default: a SpotServeFleet-shaped fleet); batch: SpotBatchFleet-shaped (SQS queues + DLQ, S3 bucket, ' +
          'an ECS service of 4 workers run by the ECS task emulator), distributed CMA-ES on rosenbrock 10-D through two worker preemptions and a coordinator kill -9 resumed ' +
          "from S3; the summary adds exact, lost_tasks, checkpoints, awsCalls and iamDenied against the fleet's task and coordinator roles; " +
          'pipelines: PipelineCluster-shaped (the API and a service per agent pool as its task definitions declare them, PostgreSQL standing in for RDS, chunks in S3), ' +
          '6 hash jobs × 11 tasks through an agent kill -9 and a spot interruption; the summary adds jobs, tasks, verified, lost_tasks, awsCalls, iamDenied, instancesLeft ' +
          '(needs PostgreSQL too)',
      )
        .choices(['serve', 'batch', 'pipelines'])
        .default('serve'),
    )
    .option(
      '--keep-state',
      "aws-emulator: keep the emulator's directory (every instance's boot and service log) and print where it is",
      false,
    )
    .option(
      '--duration <duration>',
      'how long traffic runs (default scenario; behind-lb runs until both preemptions are replaced; autoscale: how long each load level is held)',
      durationOption,
      60_000,
    )
    .option('--partition <duration>', 'partition scenario: how long the 3 | 2 partition lasts', durationOption, 60_000)
    .option(
      '--notice <duration>',
      'behind-lb and aws-emulator: the spot notice each preempted node gets (at least 5s)',
      durationOption,
      20_000,
    )
    .option(
      '--lb-retries <n>',
      'behind-lb: times HAProxy tries another router when a connection is refused (0: like an ALB, a refused connection is a 502)',
      wholeNumberOption(0, 10),
      2,
    )
    .option('--concurrency <n>', 'concurrent client streams', countOption, 8)
    .option('--json', 'print only the summary, as JSON', false)
    .option('--keep', 'leave the fleet running afterwards', false)
    .action(
      async (options: {
        scenario: string;
        on: string;
        shape: string;
        keepState: boolean;
        duration: number;
        notice: number;
        lbRetries: number;
        concurrency: number;
        json: boolean;
        keep: boolean;
        partition: number;
      }) => {
        if (options.shape !== 'serve' && options.on !== 'aws-emulator')
          throw new SynktiError('E_USAGE', `--shape ${options.shape} runs on the emulated AWS only`, { hint: 'add --on aws-emulator' });
        if (options.on === 'aws-emulator' && options.shape === 'pipelines') {
          const { renderAwsEmulatorPipelinesSummary, runAwsEmulatorPipelinesDemo } = await loadImplementation(
            () => import('./demo/aws-emulator-pipelines.ts'),
          );
          const summary = await runAwsEmulatorPipelinesDemo({
            keepState: options.keepState,
            onProgress: options.json ? undefined : (line) => process.stderr.write(`${line}\n`),
          });
          console.log(options.json ? JSON.stringify(summary) : renderAwsEmulatorPipelinesSummary(summary));
          if (
            summary.failed !== 0 ||
            summary.lost_tasks !== 0 ||
            summary.iamDenied !== 0 ||
            summary.instancesLeft !== 0 ||
            !summary.objects.verified
          )
            process.exitCode = 1;
          return;
        }
        if (options.on === 'aws-emulator' && options.shape === 'batch') {
          const { renderAwsEmulatorBatchSummary, runAwsEmulatorBatchDemo } = await loadImplementation(
            () => import('./demo/aws-emulator-batch.ts'),
          );
          const summary = await runAwsEmulatorBatchDemo({
            keepState: options.keepState,
            onProgress: options.json ? undefined : (line) => process.stderr.write(`${line}\n`),
          });
          console.log(options.json ? JSON.stringify(summary) : renderAwsEmulatorBatchSummary(summary));
          if (!summary.exact || summary.lost_tasks !== 0 || summary.iamDenied !== 0) process.exitCode = 1;
          return;
        }
        if (options.on === 'aws-emulator' && options.scenario === 'rollout') {
          const { renderAwsEmulatorRolloutSummary, runAwsEmulatorRolloutDemo } = await loadImplementation(
            () => import('./demo/aws-emulator-rollout.ts'),
          );
          const summary = await runAwsEmulatorRolloutDemo({
            concurrency: options.concurrency,
            json: options.json,
            keepState: options.keepState,
          });
          console.log(options.json ? JSON.stringify(summary) : renderAwsEmulatorRolloutSummary(summary));
          if (
            summary.failed !== 0 ||
            summary.rolledOut !== summary.fleetSizeEnd ||
            summary.generation !== summary.generations.to ||
            summary.deploy.exitCode !== 0
          )
            process.exitCode = 1;
          return;
        }
        if (options.on === 'aws-emulator') {
          if (options.scenario !== 'default')
            throw new SynktiError('E_USAGE', `--scenario ${options.scenario} runs on the local cloud only (rollout runs on both)`, {
              hint: 'leave out --on aws-emulator, or --scenario',
            });
          const { renderAwsEmulatorSummary, runAwsEmulatorDemo } = await loadImplementation(() => import('./demo/aws-emulator-demo.ts'));
          const summary = await runAwsEmulatorDemo({
            durationMs: options.duration,
            concurrency: options.concurrency,
            json: options.json,
            noticeMs: options.notice,
            keepState: options.keepState,
          });
          console.log(options.json ? JSON.stringify(summary) : renderAwsEmulatorSummary(summary));
          return;
        }
        if (options.scenario === 'rollout') {
          const { renderRolloutDemoSummary, runRolloutDemo } = await loadImplementation(() => import('./demo/rollout.ts'));
          const summary = await runRolloutDemo({
            concurrency: options.concurrency,
            json: options.json,
            keep: options.keep,
            cwd: process.cwd(),
          });
          console.log(options.json ? JSON.stringify(summary) : renderRolloutDemoSummary(summary));
          if (summary.failed !== 0 || summary.rolledBack !== 1 || summary.generation !== summary.generations.to) process.exitCode = 1;
          return;
        }
        if (options.scenario === 'partition') {
          const { renderPartitionSummary, runPartitionDemo } = await loadImplementation(() => import('./demo/partition.ts'));
          const summary = await runPartitionDemo({
            partitionMs: options.partition,
            concurrency: options.concurrency,
            onProgress: options.json ? undefined : (line) => process.stderr.write(`${line}\n`),
          });
          console.log(options.json ? JSON.stringify(summary) : renderPartitionSummary(summary));
          if (
            summary.failedOther !== 0 ||
            summary.failedInFlightOnPartitionMidStream !== summary.failedInFlightOnPartition ||
            summary.maxInstances !== summary.hosts ||
            summary.replacements !== 0 ||
            summary.convergedAfterHealMs === undefined
          )
            process.exitCode = 1;
          return;
        }
        if (options.scenario === 'autoscale') {
          const { renderAutoscaleDemoSummary, runAutoscaleDemo, AUTOSCALE_DEMO_BOUNDS } = await loadImplementation(
            () => import('./demo/autoscale.ts'),
          );
          const summary = await runAutoscaleDemo({
            holdMs: options.duration,
            upscaleDelayMs: options.duration / 4,
            downscaleDelayMs: options.duration / 2,
            json: options.json,
            keep: options.keep,
            cwd: process.cwd(),
          });
          console.log(options.json ? JSON.stringify(summary) : renderAutoscaleDemoSummary(summary));
          const flapped = summary.scaleOuts + summary.scaleIns > summary.actionsNeeded + 1;
          if (
            summary.failed !== 0 ||
            flapped ||
            summary.maxReplicas !== AUTOSCALE_DEMO_BOUNDS.max ||
            summary.minReplicas !== AUTOSCALE_DEMO_BOUNDS.min ||
            summary.phases.after !== AUTOSCALE_DEMO_BOUNDS.min
          )
            process.exitCode = 1;
          return;
        }
        if (options.scenario === 'behind-lb') {
          const { renderBehindLbSummary, runBehindLb } = await loadImplementation(() => import('./demo/behind-lb.ts'));
          const summary = await runBehindLb({
            noticeMs: options.notice,
            balancerRetries: options.lbRetries,
            concurrency: options.concurrency,
            json: options.json,
            keep: options.keep,
            cwd: process.cwd(),
          });
          console.log(options.json ? JSON.stringify(summary) : renderBehindLbSummary(summary));
          return;
        }
        const { renderSummary, runDemo } = await loadImplementation(() => import('./demo/demo.ts'));
        const summary = await runDemo({
          durationMs: options.duration,
          concurrency: options.concurrency,
          json: options.json,
          keep: options.keep,
          cwd: process.cwd(),
        });
        console.log(options.json ? JSON.stringify(summary) : renderSummary(summary));
      },
    );

  program
    .command('logs')
    .description("print a node's log (its agent and workload output)")
    .argument('<id>', 'instance id (a unique prefix is enough)')
    .option('-f, --follow', 'keep printing new lines', false)
    .option('--lines <n>', 'lines to show first', countOption, 100)
    .option('--workload', "show the workload's output (the model server) instead of the agent's", false)
    .option('--json', 'one JSON object per line: { node, source, line, entry } (entry: the parsed pino line, or null)', false)
    .action(async (id: string, options: { follow: boolean; lines: number; workload: boolean; json: boolean }, command: Command) => {
      const { spec, file } = await loadConfig(command);
      const { logs } = await loadImplementation(() => import('./commands/logs.ts'), { tsx: false });
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      await logs(spec, file, id, {
        follow: options.follow,
        lines: options.lines,
        workload: options.workload,
        json: options.json,
        signal: controller.signal,
      });
    });

  return program;
}

/** Runs `program`; every known error becomes a message and an exit code, never a stack trace. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    console.log(cliVersion());
    return;
  }
  try {
    describeDurationDefaults(program);
    await program.parseAsync([...argv]);
  } catch (thrown) {
    const error = missingPackage(thrown) ?? thrown;
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    if (isSynktiError(error)) {
      console.error(`synkti: ${error.toUserString()}`);
      process.exitCode = exitCodeForError(error.code);
      return;
    }
    console.error(`synkti: unexpected error: ${(error as Error)?.message ?? String(error)}`);
    if (process.env.SYNKTI_DEBUG) console.error(error);
    else console.error('  (set SYNKTI_DEBUG=1 for details; please report this as a bug)');
    process.exitCode = EXIT.failure;
  }
}
