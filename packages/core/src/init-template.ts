import { ConfigError } from './config-error.ts';
import { STAND_IN_PRESET_COMMAND } from './workload-presets.ts';

export interface InitTemplateOptions {
  /** The cluster name written into the file; must be a valid cluster name. */
  name: string;
  /**
   * The workload command written into the file (`{port}` becomes the workload port).
   * @default STAND_IN_COMMAND, the stand-in preset (each agent fills in its own paths)
   */
  workloadCommand?: string[] | undefined;
}

/**
 * The stand-in model server: the `stand-in` preset, whose {node}, {tsx} and {standIn}
 * each agent resolves from its own package (a checkout or an installed agent alike).
 */
export const STAND_IN_COMMAND = STAND_IN_PRESET_COMMAND;

const CLUSTER_NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$/;

/**
 * A commented starter `synkti.config.ts`: a local cluster with one pool of 3 small spot
 * nodes serving the stand-in model server. Every field says what it does; optional
 * ones are shown commented out with their defaults.
 */
export function initTemplate(options: InitTemplateOptions): string {
  // Refuse here rather than write a file that fails on the next command.
  if (!CLUSTER_NAME.test(options.name)) {
    throw new ConfigError('synkti init', [
      {
        path: 'name',
        message: `${JSON.stringify(options.name)} must be 2-40 lowercase letters, digits or dashes, starting with a letter`,
        hint: 'e.g. --name my-fleet (it becomes part of tags, directories and bucket names)',
      },
    ]);
  }
  const command = JSON.stringify(options.workloadCommand ?? STAND_IN_COMMAND);
  return `// synkti provides '@synkti/core' when it loads this file, in any directory; install
// the package beside it only if your editor should check the types.
import { defineCluster } from '@synkti/core';

// The cluster Synkti runs. Every node runs the same agent; there is no control plane.
// Start it with \`synkti up\`, watch it with \`synkti status\`, stop it with \`synkti down\`.
// Durations read like "30s", "250ms" or "2 minutes" (or a number of milliseconds).
export default defineCluster({
  // Lowercase letters, digits and dashes, 2-40 long: it names tags
  // (SynktiCluster=<name>), state directories and buckets.
  name: ${JSON.stringify(options.name)},

  // 'local' runs every node as a process on this machine (state in .synkti/<name>/);
  // 'aws' runs them as EC2 instances.
  provider: 'local',

  // Where the nodes run. Default: 'local' for the local provider, 'us-east-1' for aws.
  // region: 'us-east-1',

  // Pools of nodes; the key is the role (tag SynktiRole=<role>).
  pools: {
    worker: {
      count: 3, // nodes in the pool; the fleet replaces any it loses
      size: 'small', // small | medium | large | gpu; on aws: t3.medium, m6i.xlarge, m6i.4xlarge, g5.xlarge
      // instanceType: 'g5.xlarge', // an explicit type wins over size
      // instanceTypes: ['g5.xlarge', 'g6.xlarge'], // spot fallbacks, preferred first
      lifecycle: 'spot', // spot | on-demand
      onDemandBase: 0, // how many of count always run on-demand (at most count)
      // zones: ['us-east-1a', 'us-east-1b'], // spread nodes: preemptions cluster within a zone
    },
  },

  // What every node serves. This is the stand-in OpenAI-compatible server shipped with
  // Synkti (no model, filler tokens) so the fleet works on a laptop. For vLLM:
  //   command: ['vllm', 'serve', 'Qwen/Qwen2.5-7B-Instruct', '--host', '{host}', '--port', '{port}'],
  //   healthPath: '/health',
  //   startupTimeout: '15 minutes',
  // or, with weights every node fetches and checks before it starts (synkti model upload):
  //   model: { uri: 's3://my-fleet-models/models/qwen2.5-7b/' },
  //   workload: { command: ['vllm', 'serve', '{modelPath}', '--host', '{host}', '--port', '{port}'], ... },
  // Without a workload the nodes keep membership and replace each other but serve nothing.
  workload: {
    // An argument list, or one string run through \`sh -c\`. Each node fills in {port} (the
    // port below), {host} (its private IP) and, for the stand-in, {node}, {tsx} and
    // {standIn} from the agent it runs, so this works wherever synkti is installed.
    command: ${command},
    port: 8000, // where the workload listens on each node
    healthPath: '/health', // GET here answers 200 when the workload can take requests
    // env: { HF_HOME: '/data/hf' }, // extra environment variables for the workload
    startupTimeout: '2 minutes', // how long it may take to become healthy (default 10 minutes)
  },

  // Where each node listens: the router (clients send requests here; it forwards to a
  // healthy, least-loaded peer) and the agent API (authenticated by the cluster secret).
  // Local nodes get their own free ports.
  ports: { agent: 7946, router: 8080 },

  timeouts: {
    gossipInterval: '1s', // how often agents exchange membership
    failureTimeout: '5s', // a silent peer is dropped (and replaced) after this; > gossipInterval
    // listInterval: '15s', // how often a lister node lists the cloud
    noticePollInterval: '5s', // how often the spot interruption notice is checked
    drainMargin: '5s', // safety margin before the notice deadline
    // shutdownGrace: '30s', // how long a stopped node (SIGTERM) gets to drain
    // requestTimeout: '5 minutes', // the longest a routed request may take
    // maxStreamDuration: '30s', // a draining node takes new requests until this long before its deadline
    // balancerGrace: '5s', // ...but for at least this long after the notice (a load balancer's reaction time)
  },

  // How many nodes list the cloud (chosen by rendezvous hash); the rest learn by gossip,
  // so the cloud API cost does not grow with the fleet.
  // membership: { listers: 2 },
});
`;
}
