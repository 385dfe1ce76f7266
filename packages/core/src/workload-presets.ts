/**
 * Ready-made workloads for `workload:` in a cluster config. Their commands use
 * placeholders the agent fills in on each node, so one config runs on a laptop fleet and
 * on an installed agent (/opt/synkti/<version>) alike:
 *
 *   {port}       the workload port
 *   {host}       the node's private IP, where its peers' routers reach the workload
 *   {modelPath}  the local directory of the fetched model (`model.uri`)
 *   {node}       the node binary running the agent
 *   {tsx}        tsx's loader, resolved from the agent package
 *   {standIn}    the stand-in model server's entry, resolved from the agent package
 */

export type WorkloadPresetName = 'vllm' | 'stand-in';

export interface WorkloadPresetOptions {
  /** Extra arguments after the preset's own. @default none */
  args?: string[] | undefined;
  /** The stand-in only: check `{modelPath}` against its manifest before serving (needs `model.uri`). @default false */
  modelDir?: boolean | undefined;
}

export interface WorkloadPreset {
  command: string[];
  healthPath: string;
  startupTimeout: string;
}

/** The stand-in model server (no model; filler tokens), wherever the agent is installed. */
export const STAND_IN_PRESET_COMMAND = ['{node}', '--import', '{tsx}', '{standIn}', '--host', '{host}', '--port', '{port}'];
/** vLLM serving the model the node fetched. */
export const VLLM_PRESET_COMMAND = ['vllm', 'serve', '{modelPath}', '--host', '{host}', '--port', '{port}'];

/**
 * A preset's workload, e.g. `workload: workloadPreset('vllm')` with `model: { uri: ... }`.
 * vLLM loads the weights from `{modelPath}`; its /health answers once the model is loaded.
 */
export function workloadPreset(name: WorkloadPresetName, options: WorkloadPresetOptions = {}): WorkloadPreset {
  const args = options.args ?? [];
  if (name === 'vllm') return { command: [...VLLM_PRESET_COMMAND, ...args], healthPath: '/health', startupTimeout: '15 minutes' };
  return {
    command: [...STAND_IN_PRESET_COMMAND, ...(options.modelDir ? ['--model-dir', '{modelPath}'] : []), ...args],
    healthPath: '/health',
    startupTimeout: '2 minutes',
  };
}
