/**
 * `@synkti/infra/bootstrap`: first-time AWS setup as a library of steps (infra, secret,
 * buckets, artifact, model, workers) that `synkti bootstrap` calls, plus the model upload
 * and the Pulumi runner it uses. A separate entry: loading it loads no Pulumi (the runner
 * imports it on first use).
 */
export {
  runBootstrap,
  BOOTSTRAP_STEPS,
  type BootstrapStepName,
  type StepStatus,
  type BootstrapStep,
  type BootstrapReport,
  type BootstrapAwsLaunch,
  type BootstrapUserData,
  type BootstrapWorkersRequest,
  type BootstrapWorkerPool,
  type BootstrapOptions,
  type BootstrapDeps,
} from './bootstrap.ts';
export {
  MODELS_KEY_PREFIX,
  checkProjectName,
  defaultBucketNames,
  checkBucketFlag,
  modelPrefix,
  checkSecretParameter,
  checkKmsKeyId,
  kmsKeyArnRegion,
  type BucketNames,
} from './bootstrap-names.ts';
export {
  countChanges,
  fileBackendHasStack,
  createPulumiInfraRunner,
  type InfraRunRequest,
  type InfraPreviewResult,
  type InfraUpResult,
  type InfraRunner,
} from './infra-runner.ts';
export {
  uploadModel,
  listModelFiles,
  MODEL_MANIFEST_NAME,
  type ModelManifest,
  type ModelManifestFile,
  type ModelUploadProgress,
  type UploadModelOptions,
  type ModelUploadReport,
} from './model-upload.ts';
export {
  digestFile,
  uploadFileIfChanged,
  checkSinglePutSize,
  MAX_SINGLE_PUT_BYTES,
  type FileDigest,
  type UploadFileOptions,
  type UploadFileResult,
  type UploadStatus,
} from './s3-file-upload.ts';
