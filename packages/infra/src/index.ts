export {
  SpotServeFleet,
  resolveServeArgs,
  serveWorkerPolicyStatements,
  ROUTER_HEALTH_PATH,
  ARTIFACTS_PREFIX,
  MODELS_PREFIX,
  DEFAULT_EXTRA_GPU_TYPES,
  DEFAULT_GPU_IMAGE,
} from './aws/spot-serve-fleet.ts';
export type {
  SpotServeFleetArgs,
  SpotServeFleetTransform,
  ServeLoadBalancerArgs,
  ServeWorkerPolicyArgs,
  ServeWorkerReplacementArgs,
} from './aws/spot-serve-fleet.ts';
export {
  SynktiNetwork,
  type SynktiNetworkArgs,
  type SynktiNetworkSource,
  type SynktiNetworkTransform,
  type NatLayout,
} from './aws/network.ts';
export { withTransform, type Transform } from './aws/transform.ts';
export {
  SpotBatchFleet,
  resolveBatchArgs,
  batchLifecycleRules,
  BATCH_METRIC_NAMESPACE,
  BATCH_METRIC_BACKLOG_PER_WORKER,
  BATCH_METRIC_BACKLOG,
  BATCH_METRIC_DIMENSION,
  RUNS_PREFIX,
  QUEUE_PAYLOADS_PREFIX,
  DLQ_RETENTION_SECONDS,
} from './aws/spot-batch-fleet.ts';
export type { SpotBatchFleetArgs, SpotBatchFleetTransform, BatchRedisArgs } from './aws/spot-batch-fleet.ts';
// ECS tasks on the stock Node.js image running the verified release (ADR 0008).
export { STOCK_NODE_IMAGE, taskReleaseContainer, taskReleaseStatement } from './aws/task-release.ts';
export type { TaskReleaseArgs, TaskReleaseContainer } from './aws/task-release.ts';
export { ENVIRONMENTS, ENVIRONMENT_PRESETS, environmentFromStack, environmentPreset } from './environments.ts';
export type { EnvironmentName, EnvironmentPreset } from './environments.ts';
export { SecureBucket } from './aws/secure-bucket.ts';
export type { SecureBucketArgs, LifecycleRuleSpec } from './aws/secure-bucket.ts';
export { serveWorkerUserData } from './aws/worker-user-data.ts';
export type { ServeWorkerUserDataOptions, ServeWorkerBootArgs } from './aws/worker-user-data.ts';
export { policyJson, serviceTrustPolicy, SSM_MANAGED_POLICY_ARN, ECS_TASK_EXECUTION_POLICY_ARN } from './aws/iam-policy.ts';
export type { PolicyDocument, PolicyStatement, PolicyStatementInput } from './aws/iam-policy.ts';
export { runMockStack, outputValue, MOCK_ACCOUNT } from './testing/mock-stack.ts';
export type { RecordedResource, MockStackOptions, MockStackResult } from './testing/mock-stack.ts';
export { E_INFRA_INPUT } from './validate.ts';
export { AUDIT_RULES } from './audit/audit-rules.ts';
export type { AuditResource, AuditRule, Finding, Severity } from './audit/audit-rules.ts';
export { auditResources, formatAuditReport, resourcesFromPulumiJson } from './audit/audit.ts';
export type { AuditReport, AuditOptions } from './audit/audit.ts';
export { loadInfraConfig, infraProgram, auditInfraConfig, estimateInfraConfigCost, INFRA_COMPONENTS } from './infra-program.ts';
export type { CostStackOptions } from './infra-program.ts';
export { estimateCost, formatCostEstimate, loadPriceTable, DEFAULT_PRICE_FILE } from './cost/estimate-cost.ts';
export type { CostEstimate, CostLine, CostAssumptions, PriceTable } from './cost/estimate-cost.ts';
export type { InfraConfig, InfraComponent, AuditStackOptions } from './infra-program.ts';
export {
  findPulumiCli,
  requirePulumiCli,
  infraPreview,
  infraUp,
  infraDestroy,
  infraOutputs,
  defaultPlanFile,
  infraBackendUrl,
  infraProjectSettings,
  PULUMI_INSTALL_URL,
  INFRA_PROJECT_NAME,
} from './automation.ts';
export type { InfraStackOptions } from './automation.ts';
// --- issue 8: multi-cloud Kubernetes clusters -------------------------------------------
export { KubernetesCluster } from './k8s/kubernetes-cluster.ts';
export type { KubernetesRegionOutputs } from './k8s/kubernetes-cluster.ts';
export { resolveClusterPlan, K8S_API_PORT, TALOS_API_PORT, TALOS_TRUSTD_PORT, K8S_ROLES } from './k8s/k8s-plan.ts';
export type { KubernetesClusterArgs, AwsRegionNetwork, ClusterPlan, RegionPlan, WorkerPoolPlan } from './k8s/k8s-plan.ts';
export {
  K8S_REGIONS,
  K8S_MACHINE_SIZES,
  K8S_PROVIDERS,
  MACHINE_SIZES,
  loadRegionTable,
  loadSizeTable,
  validateRegionTable,
  validateSizeTable,
} from './k8s/k8s-data.ts';
export type { K8sProvider, MachineSize, RegionEntry, RegionTable, SizeEntry, SizeTable, ProviderMachine } from './k8s/k8s-data.ts';
export { K8S_ENVIRONMENT_PRESETS } from './k8s/k8s-environments.ts';
export type { K8sEnvironmentPreset } from './k8s/k8s-environments.ts';
export { K8S_AUDIT_RULES } from './k8s/k8s-audit-rules.ts';
export { talosDigitalOceanImageUrl } from './k8s/digitalocean-region.ts';
// --- issue 8: pipeline cluster ------------------------------------------------------------
export {
  PipelineCluster,
  PIPELINE_ALARMS,
  ECS_INSTANCE_POLICY_ARN,
  ECS_AMI,
  ECS_GPU_AMI,
  POSTGRES_PORT,
  DB_NAME,
  DB_USER,
} from './pipeline-cluster/pipeline-cluster.ts';
export { resolvePipelineArgs, defaultPools, PIPELINE_PRESETS, RESERVED_ENV } from './pipeline-cluster/pipeline-args.ts';
export type {
  PipelineClusterArgs,
  PipelineClusterTransform,
  AgentPoolArgs,
  PipelinePreset,
  ResolvedPool,
  ResolvedPipelineArgs,
} from './pipeline-cluster/pipeline-args.ts';
export {
  EMITTED_METRICS,
  LOG_METRIC_FILTERS,
  OTHER_COMPONENT_METRICS,
  PIPELINE_METRIC_NAMESPACE,
  PIPELINE_QUEUE_METRIC,
  emittedMetric,
  knownMetricKeys,
} from './pipeline-cluster/pipeline-metrics.ts';
export type { EmittedMetric, LogMetricFilterSpec, MetricSource } from './pipeline-cluster/pipeline-metrics.ts';
export { PIPELINE_AUDIT_RULES, metricNotEmittedRule } from './pipeline-cluster/pipeline-audit-rules.ts';
export { INFRA_II_AUDIT_RULES, ALL_AUDIT_RULES, infraIIProgram, auditInfraIIConfig } from './pipeline-cluster/infra-ii-audit.ts';
export type { InfraIIConfig } from './pipeline-cluster/infra-ii-audit.ts';
export { PulumiStateBackend } from './k8s/state-backend.ts';
export type { PulumiStateBackendArgs } from './k8s/state-backend.ts';
