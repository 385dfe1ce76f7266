export interface InitTemplateOptions {
  name: string;
  /** The workload command written into the file. @default the repo's stand-in model server */
  workloadCommand?: string[];
}

export const STAND_IN_COMMAND = ['node', '--import', 'tsx', 'packages/agent/src/stand-in/main.ts', '--port', '{port}'];

/** A commented starter `synkti.config.ts`. */
export function initTemplate(options: InitTemplateOptions): string {
  const command = JSON.stringify(options.workloadCommand ?? STAND_IN_COMMAND);
  return `import { defineCluster } from '@synkti/core';

// The cluster Synkti runs. Every node runs the same agent; there is no control plane.
// Check it with \`synkti status\` after \`synkti up\`. Durations read like "30s" or "2 minutes".
export default defineCluster({
  // Lowercase letters, digits and dashes: it names tags (SynktiCluster=<name>) and state dirs.
  name: ${JSON.stringify(options.name)},

  // 'local' runs every node as a process on this machine (state in .synkti/<name>/);
  // 'aws' runs them as EC2 instances.
  provider: 'local',

  // Pools of nodes; the key is the role (tag SynktiRole=<role>).
  pools: {
    worker: {
      count: 3, // nodes in the pool; the fleet replaces any it loses
      size: 'small', // small | medium | large | gpu (or set instanceType: 'g5.xlarge')
      lifecycle: 'spot', // spot | on-demand
      onDemandBase: 0, // how many of count always run on-demand
    },
  },

  // What every node serves. This is the stand-in OpenAI-compatible server shipped with
  // Synkti (no model, filler tokens) so the fleet works on a laptop. For vLLM:
  //   command: ['vllm', 'serve', 'Qwen/Qwen2.5-7B-Instruct', '--port', '{port}'],
  //   healthPath: '/health',
  //   startupTimeout: '15 minutes',
  workload: {
    command: ${command}, // {port} becomes the workload port
    port: 8000,
    healthPath: '/health',
    startupTimeout: '2 minutes',
  },

  // Where each node listens. The router (clients send requests here) and the agent API
  // (authenticated by the cluster secret). Local nodes get their own free ports.
  ports: { agent: 7946, router: 8080 },

  timeouts: {
    gossipInterval: '1s', // how often agents exchange membership
    failureTimeout: '5s', // a silent peer is dropped (and replaced) after this
    noticePollInterval: '5s', // how often the spot interruption notice is checked
    drainMargin: '5s', // safety margin before the notice deadline
  },
});
`;
}
