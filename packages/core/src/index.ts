export { SynktiError, isSynktiError } from './errors.ts';
export { parseDuration, formatDuration, isDurationText } from './duration.ts';
export {
  TAG_PREFIX,
  TAG_CLUSTER,
  TAG_ROLE,
  TAG_REPLACES,
  TAG_PORT_AGENT,
  TAG_PORT_ROUTER,
  TAG_PORT_WORKLOAD,
  TAG_TARGET_GROUPS,
  TAG_GENERATION,
  isSynktiTagKey,
} from './tags.ts';
export { TARGET_GROUP_ARN, TARGET_GROUP_ARN_EXAMPLE, MAX_TARGET_GROUPS, type LoadBalancerSpec } from './load-balancer-spec.ts';
export { rendezvousScore, rendezvousRank, rendezvousPick } from './rendezvous.ts';
export { pickRole } from './pick-role.ts';
export { defineCluster } from './define-cluster.ts';
export {
  validateCluster,
  AUTOSCALE_DEFAULTS,
  type AutoscaleSpec,
  type ClusterInput,
  type ClusterSpec,
  type PoolSpec,
  type WorkloadSpec,
} from './cluster-spec.ts';
export { serializeCluster, deserializeCluster, MAX_CLUSTER_SUBNETS, SUBNET_ID, ZONE_NAME } from './cluster-serialization.ts';
export { parseModelUri, modelUriProblem, MODEL_URI_EXAMPLE, type ModelLocation } from './model-uri.ts';
export {
  configGeneration,
  desiredConfigTag,
  desiredConfigTagValue,
  GENERATION_PATTERN,
  type ConfigGenerationExtra,
} from './config-generation.ts';
export { ConfigError, type ConfigIssue } from './config-error.ts';
export { loadClusterConfig, CONFIG_FILE_NAMES, type LoadClusterConfigOptions } from './load-config.ts';
export { provideCoreToConfigs } from './config-imports.ts';
export { initTemplate, STAND_IN_COMMAND, type InitTemplateOptions } from './init-template.ts';
export {
  workloadPreset,
  STAND_IN_PRESET_COMMAND,
  VLLM_PRESET_COMMAND,
  type WorkloadPreset,
  type WorkloadPresetName,
  type WorkloadPresetOptions,
} from './workload-presets.ts';
export { SIZES, SIZE_TO_INSTANCE_TYPES, SIZE_TO_INSTANCE_TYPE, type Size } from './instance-sizes.ts';
export { freeLoopbackPort } from './free-port.ts';
