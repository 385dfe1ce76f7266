// What a config file gets for `import ... from '@synkti/core'` in the compiled CLI: every
// export of index.ts except those built on zod (validation, serialization, config loading),
// so importing a config does not evaluate zod's ~800 KB (~80 ms of a `synkti status`).
// A config that imports one of the left-out names is imported again with the full entry
// (packages/cli/src/program.ts, loadConfig), so none is ever missing for it.
export { SynktiError, isSynktiError } from './errors.ts';
export { parseDuration, formatDuration, isDurationText } from './duration.ts';
export {
  TAG_PREFIX, TAG_CLUSTER, TAG_ROLE, TAG_REPLACES, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD, TAG_TARGET_GROUPS, TAG_GENERATION, isSynktiTagKey,
} from './tags.ts';
export { rendezvousScore, rendezvousRank, rendezvousPick } from './rendezvous.ts';
export { pickRole } from './pick-role.ts';
export { defineCluster } from './define-cluster.ts';
export { parseModelUri, modelUriProblem, MODEL_URI_EXAMPLE, type ModelLocation } from './model-uri.ts';
export { configGeneration, desiredConfigTag, desiredConfigTagValue, GENERATION_PATTERN, type ConfigGenerationExtra } from './config-generation.ts';
export { ConfigError, type ConfigIssue } from './config-error.ts';
export { CONFIG_FILE_NAMES, type LoadClusterConfigOptions } from './config-file.ts';
export { serializeCluster } from './cluster-serialize.ts';
export { provideCoreToConfigs } from './config-imports.ts';
export { initTemplate, STAND_IN_COMMAND, type InitTemplateOptions } from './init-template.ts';
export {
  workloadPreset, STAND_IN_PRESET_COMMAND, VLLM_PRESET_COMMAND, type WorkloadPreset, type WorkloadPresetName, type WorkloadPresetOptions,
} from './workload-presets.ts';
export { SIZES, SIZE_TO_INSTANCE_TYPES, SIZE_TO_INSTANCE_TYPE, type Size } from './instance-sizes.ts';
export { freeLoopbackPort } from './free-port.ts';
export type { AutoscaleSpec, ClusterInput, ClusterSpec, PoolSpec, WorkloadSpec } from './cluster-spec.ts';
export type { LoadBalancerSpec } from './load-balancer-spec.ts';
