export * from './types.ts';
export {
  startMetadataServer,
  formatImdsTime,
  type MetadataSource,
  type MetadataServerOptions,
  type MetadataServer,
} from './providers/local/metadata-server.ts';
export {
  createImdsClient,
  IMDS_DEFAULT_ENDPOINT,
  IMDS_ENDPOINT_ENV,
  type ImdsClientOptions,
  type ImdsClient,
} from './metadata/imds-client.ts';
export {
  IDENTITY_PATHS,
  cloudIdentitySigner,
  identityDocumentSchema,
  identityProofSchema,
  readIdentityProof,
  verifyIdentityProof,
  type CloudIdentitySigner,
  type IdentityDocument,
  type IdentityProof,
  type IdentityTrust,
} from './metadata/identity-document.ts';
export { verifyPkcs7, decodePkcs7 } from './metadata/pkcs7-signed-data.ts';
export { AWS_IDENTITY_DSA_CERTIFICATE, awsIdentityCertificates } from './metadata/aws-identity-certificates.ts';
export { NoticeWatcher, type NoticeWatcherOptions, type NoticeWatcherStatus } from './metadata/notice-watcher.ts';
export { createLocalCloud, type LocalCloud } from './providers/local/local-cloud.ts';
export {
  LocalInstanceProvider,
  DEFAULT_ZONES,
  DEFAULT_PORT_TAGS,
  type LocalCloudOptions,
  type LocalHostPlacement,
  type PreemptOptions,
} from './providers/local/local-instance-provider.ts';
export {
  LocalObjectStore,
  validateBucketName,
  validateObjectKey,
  type LocalObjectStoreOptions,
} from './providers/local/local-object-store.ts';
export { REASON_USER_SHUTDOWN, REASON_SPOT, REASON_CRASH } from './providers/local/instance-host.ts';
export {
  AWS_ON_DEMAND_USD_PER_HOUR,
  AWS_SPOT_DISCOUNT,
  AWS_PRICE_SOURCE,
  awsInstancePrice,
  spotDiscountFor,
  type InstanceHourlyPrice,
} from './providers/aws/instance-prices.ts';
export {
  isProcessAlive,
  localCloudProcesses,
  liveProcessStats,
  processIds,
  processStartTime,
  type ProcStat,
} from './providers/local/proc.ts';
export { parseChaosRate, chaosStrikes, type ChaosSettings } from './providers/local/chaos.ts';
export {
  createAwsInstanceProvider,
  AwsInstanceProvider,
  escapeFilterValue,
  type AwsInstanceProviderOptions,
  type AwsSubnet,
} from './providers/aws/aws-instance-provider.ts';
export {
  spreadZoneOrder,
  zoneSpreadLimit,
  placementZoneOrder,
  MAX_PLACEMENT_ZONES,
  LOSS_MEMORY_MS,
  ZONE_TIER_FACTOR,
  type PlacementMember,
} from './providers/aws/launch-plan.ts';
export {
  Ec2Api,
  EC2_RATE_LIMITS,
  DEFAULT_API_BUDGET_SHARE,
  DEFAULT_MAX_ATTEMPTS,
  type Ec2Action,
  type Ec2RateLimits,
  type Ec2RetryEvent,
} from './providers/aws/ec2-api.ts';
export { TokenBucket, type TokenBucketOptions } from './providers/aws/token-bucket.ts';
export { applySqlitePragmas, isSqliteBusy, runImmediate, type SqliteExec } from './sqlite-open.ts';
export { fullJitterDelayMs, backoffCeilingMs, type BackoffOptions } from './providers/aws/backoff.ts';
export {
  createS3ObjectStore,
  S3ObjectStore,
  PROTECTION_MARKER_KEY,
  SHA256_METADATA,
  type S3ObjectStoreOptions,
} from './providers/aws/s3-object-store.ts';
export {
  renderWorkerUserData,
  agentArtifactKey,
  nodeTarballKey,
  defaultSecretParameter,
  MAX_USER_DATA_BYTES,
  type WorkerUserDataOptions,
  type WorkerNodeRuntime,
} from './boot/worker-user-data.ts';
export { renderSynktiUnit, WORKER_PATHS, WORKER_USER, type SynktiUnitOptions } from './boot/synkti-unit.ts';
export { renderTaskEntrypoint, taskArtifactKey, type TaskEntrypointOptions } from './boot/task-entrypoint.ts';
export { checkBucket, checkSha256, checkVersion, checkRegion, checkNodeVersion } from './boot/boot-inputs.ts';
export { checkShellUserData, userDataKind, type UserDataKind } from './boot/user-data-format.ts';
export {
  MODEL_MANIFEST_NAME,
  MODEL_MANIFEST_FORMAT,
  DEFAULT_MODEL_MANIFEST_LIMITS,
  modelManifestKey,
  serializeModelManifest,
  modelManifestSha256,
  parseModelManifest,
  unsafeModelPath,
  type ModelManifest,
  type ModelManifestFile,
  type ModelManifestLimits,
} from './model-manifest.ts';
