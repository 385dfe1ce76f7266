/**
 * The launch template's boot script: the very script `synkti bootstrap`, `synkti worker
 * launch` and `synkti scale` give the EC2 workers they launch (`renderWorkerUserData` of
 * @synkti/cloud), so a worker the Auto Scaling group starts and one an agent or the CLI
 * starts install and run the same thing: `artifacts/synkti-agent-<version>.tgz` and the
 * Node.js tarball from the models bucket, only from a bucket this account owns
 * (`--expected-bucket-owner`), each refused on a SHA-256 mismatch, the agent run by
 * systemd as an unprivileged user, the cluster secret read from SSM at every start.
 *
 * Nothing is rendered here but that script: this module maps the stack's inputs onto it
 * and names a bad one by its SpotServeFleet field.
 */
import { SynktiError, isSynktiError, type ClusterSpec } from '@synkti/core';
import { renderWorkerUserData } from '@synkti/cloud';
import { inputError } from '../validate.ts';

const C = 'SpotServeFleet';

/** The agent release and Node.js runtime a worker installs (SpotServeFleetArgs.boot). */
export interface ServeWorkerBootArgs {
  /** Agent release: the script installs `s3://<models bucket>/artifacts/synkti-agent-<agentVersion>.tgz`. */
  agentVersion: string;
  /** SHA-256 (64 hex digits) of that artifact, fixed in the script (`synkti bootstrap` reports it). */
  agentSha256: string;
  /** Node.js 20 release in the bucket (`artifacts/node-v<nodeVersion>-linux-<arch>.tar.xz`), e.g. "20.18.1". */
  nodeVersion: string;
  /** SHA-256 of that Node.js tarball (as in Node's SHASUMS256.txt). */
  nodeSha256: string;
  /** CPU architecture of the instance types. @default 'x64' */
  arch?: 'x64' | 'arm64' | undefined;
  /** Agent log level (pino). @default 'info' */
  logLevel?: string | undefined;
}

export interface ServeWorkerUserDataOptions {
  /** The cluster the workers join (provider aws); its config travels in the script. */
  spec: ClusterSpec;
  region: string;
  /** The models bucket, holding `artifacts/`. */
  bucket: string;
  /** The account that must own that bucket (this stack's account). */
  account: string;
  /** SSM SecureString parameter of the cluster secret. */
  secretParameter: string;
  boot: ServeWorkerBootArgs;
  /**
   * `s3://bucket/prefix` of the model weights: added to the workload's environment as
   * SYNKTI_MODEL_URI (unless the config sets it) when the cluster has a workload.
   * @default none
   */
  modelS3Uri?: string | undefined;
}

/** renderWorkerUserData's option names, as the SpotServeFleet fields that feed them. */
const FIELDS: Array<[string, string]> = [
  ['node.version: ', 'boot.nodeVersion: '],
  ['node.sha256: ', 'boot.nodeSha256: '],
  ['node.arch: ', 'boot.arch: '],
  ['version: ', 'boot.agentVersion: '],
  ['sha256: ', 'boot.agentSha256: '],
  ['logLevel: ', 'boot.logLevel: '],
  ['secretParameter: ', 'clusterSecretParameterName: '],
  ['bucketOwner: ', 'account: '],
  ['region: ', 'region: '],
];

function withModel(spec: ClusterSpec, modelS3Uri: string | undefined): ClusterSpec {
  if (modelS3Uri === undefined || spec.workload === undefined || spec.workload.env?.SYNKTI_MODEL_URI !== undefined) return spec;
  return { ...spec, workload: { ...spec.workload, env: { ...spec.workload.env, SYNKTI_MODEL_URI: modelS3Uri } } };
}

/** The boot script (plain text, not base64); throws E_INFRA_INPUT naming the field. */
export function serveWorkerUserData(o: ServeWorkerUserDataOptions): string {
  if (typeof o.boot !== 'object' || o.boot === null) {
    throw inputError(C, 'boot', 'must be an object', 'pass boot: { agentVersion, agentSha256, nodeVersion, nodeSha256 }');
  }
  try {
    return renderWorkerUserData({
      spec: withModel(o.spec, o.modelS3Uri),
      region: o.region,
      bucket: o.bucket,
      bucketOwner: o.account,
      version: o.boot.agentVersion,
      sha256: o.boot.agentSha256,
      node: { version: o.boot.nodeVersion, sha256: o.boot.nodeSha256, arch: o.boot.arch },
      secretParameter: o.secretParameter,
      logLevel: o.boot.logLevel,
    });
  } catch (error) {
    if (isSynktiError(error, 'E_USER_DATA_OPTIONS')) {
      const pair = FIELDS.find(([field]) => error.message.startsWith(field));
      const message = pair ? pair[1] + error.message.slice(pair[0].length) : error.message;
      throw new SynktiError('E_INFRA_INPUT', `${C}: ${message}`, { cause: error, hint: error.hint });
    }
    if (isSynktiError(error, 'E_USER_DATA_TOO_LARGE')) {
      throw new SynktiError('E_INFRA_INPUT', `${C}: clusterConfig: ${error.message}`, { cause: error, hint: error.hint });
    }
    throw error;
  }
}
