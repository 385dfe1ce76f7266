import type { Command } from 'commander';
import { describeDurationDefaults } from '../output.ts';
import { loadImplementation } from '../ts-loader.ts';

/**
 * The command groups, loaded only when one of their commands runs. `synkti --help` must
 * start in well under half a second, and the groups pull in the AWS SDK, Pulumi, the
 * simulator...: here each group is a name, a one-line description and a loader. The
 * real commands (options, subcommands, help) are registered from the group's module when
 * the user runs it. `lazy-groups.test.ts` checks this table against the modules.
 */
export interface LazyGroup {
  /** Top-level commands the module registers, with their descriptions. */
  commands: Record<string, string>;
  load: () => Promise<(program: Command) => void>;
}

export const LAZY_GROUPS: LazyGroup[] = [
  {
    commands: { worker: 'operate workers directly: agent release, boot script, launch, list, terminate' },
    load: async () => (await import('./worker-command.ts')).registerWorkerCommands,
  },
  {
    commands: {
      batch: 'batch optimisation on spot workers: a coordinator, a task queue with leases and dead letters, CMA-ES that resumes exactly',
    },
    load: async () => (await import('./batch-command.ts')).registerBatchCommands,
  },
  {
    commands: {
      agent:
        "run a pipeline agent of one pool: claims that pool's task types, heartbeats, hands its tasks back on a spot notice or SIGTERM, runs the requeuer",
      api: 'serve the pipelines REST API (submit/get/list/cancel jobs, results, /openapi.json, /metrics), authenticated by API keys',
      pipeline: 'pipeline jobs straight from the task database',
    },
    load: async () => (await import('./pipeline-command.ts')).registerPipelineCommands,
  },
  {
    commands: {
      deploy:
        "roll the running fleet to the config's workload/model: surge a new node, wait until it serves, drain an old one, repeat; rolls back a generation that never serves",
    },
    load: async () => (await import('./deploy.ts')).registerDeployCommand,
  },
  {
    commands: {
      sim: 'replay spot traces and compare fleet policies (paired: same traces, same seed): cost, availability, failed requests',
    },
    load: async () => (await import('./sim-command.ts')).registerSimCommand,
  },
  {
    commands: {
      infra: 'infrastructure as code (Pulumi): security audit, cost estimate, preview with a saved plan, apply it, destroy, outputs',
    },
    load: async () => (await import('./infra-command.ts')).registerInfraCommands,
  },
  {
    commands: {
      doctor:
        'check this machine, the config and the cloud account (credentials, Pulumi CLI, tags, IMDS settings, permissions) and say what to fix',
      gitops:
        'GitOps for the infrastructure: a GitHub Actions workflow (test, preview with a saved plan, apply it on main) and its OIDC roles',
    },
    load: async () => (await import('./ops-command.ts')).registerOpsCommands,
  },
  {
    commands: {
      dashboard:
        'live fleet dashboard in the browser (127.0.0.1 only): nodes, timeline of notices, drains, replacements and crashes, traffic, batch queue, pipeline jobs by state, cost rate; every agent also serves it at http://<node>:<agent port>/dashboard/',
    },
    load: async () => (await import('./dashboard-command.ts')).registerDashboardCommand,
  },
  {
    commands: {
      bootstrap: 'first-time AWS setup in one idempotent command: infrastructure, buckets, agent artifact, model, workers',
      model: "model weights in the project's bucket: upload a local directory with checksums and a manifest",
    },
    load: async () => (await import('./bootstrap-command.ts')).registerBootstrapCommands,
  },
];

/**
 * Adds a stand-in for each group command: it shows in `synkti --help`, and when run it
 * loads the real group into `fresh()` (a program with only the global options) and
 * parses the same arguments again there.
 */
export function registerLazyGroups(program: Command, fresh: () => Command, argv: readonly string[]): void {
  for (const group of LAZY_GROUPS) {
    for (const [name, description] of Object.entries(group.commands)) {
      program
        .command(name)
        .description(description)
        .helpOption(false)
        .allowUnknownOption()
        .allowExcessArguments()
        .argument('[args...]')
        .action(async () => {
          const real = fresh();
          (await loadImplementation(group.load))(real);
          describeDurationDefaults(real);
          await real.parseAsync([...argv]);
        });
    }
  }
}
