/**
 * The user data an EC2 worker boots with: a `#!/bin/bash` script that cloud-init runs
 * once, as root, at first boot.
 *
 * Why a shell script rather than `#cloud-config`: the one property that matters (nothing
 * is unpacked or run unless its SHA-256 matches the value fixed here at render time) is
 * an ordered sequence of steps that must stop at the first failure. A script states that
 * order plainly under `set -euo pipefail`, runs the same on any image with cloud-init,
 * and can be executed by a test (under a temporary root with stub commands), which a
 * cloud-config document cannot.
 *
 * What it does:
 *  1. downloads Node.js 20 (`artifacts/node-v<v>-linux-<arch>.tar.xz`) and the agent
 *     (`artifacts/synkti-agent-<version>.tgz`) from the cluster's own bucket, only from a
 *     bucket owned by the instance's own account (`--expected-bucket-owner`, so a bucket
 *     name someone else registered is refused);
 *  2. checks both with `sha256sum -c` against the checksums embedded below and REFUSES
 *     (exits non-zero, installs nothing, starts nothing) on a mismatch;
 *  3. unpacks them into /opt/synkti/node-v<v> and /opt/synkti/<version> (root-owned,
 *     read-only to the agent), creates the `synkti` system user;
 *  4. writes /etc/synkti/cluster.json (the cluster config), the secret fetcher and
 *     /etc/systemd/system/synkti.service, then `systemctl enable --now synkti`.
 *
 * No secret is in the user data (any process on the instance can read it from IMDS):
 * the cluster secret is a SecureString in SSM Parameter Store, fetched at each service
 * start into /run/synkti (tmpfs, 0700).
 *
 * Tests may set SYNKTI_ROOT to install under a temporary directory: it changes where
 * files are written, never what is downloaded or checked. Likewise SYNKTI_IMDS_ENDPOINT
 * (set by the emulated EC2 to the instance's own metadata server, as the agent reads it)
 * overrides the metadata URL fixed at render time: it changes where the metadata is
 * read, never what is downloaded or checked.
 */
import { SynktiError, parseDuration, serializeCluster, type ClusterSpec } from '@synkti/core';
import {
  checkAccountId,
  checkArch,
  checkBucket,
  checkImdsEndpoint,
  checkLogLevel,
  checkNodeVersion,
  checkParameterName,
  checkRegion,
  checkRelativePath,
  checkSha256,
  checkVersion,
} from './boot-inputs.ts';
import { WORKER_PATHS, WORKER_USER, renderSynktiUnit } from './synkti-unit.ts';
import { MAX_USER_DATA_BYTES, checkShellUserData } from './user-data-format.ts';

export { MAX_USER_DATA_BYTES };

/** The default instance-metadata endpoint (IMDSv2). */
const DEFAULT_IMDS = 'http://169.254.169.254';

export interface WorkerNodeRuntime {
  /** Node.js 20 release in the bucket, e.g. "20.18.1". */
  version: string;
  /** SHA-256 of `node-v<version>-linux-<arch>.tar.xz` (as published in Node's SHASUMS256.txt). */
  sha256: string;
  /**
   * CPU architecture of the instances (the script refuses to run on another).
   * @default 'x64'
   */
  arch?: 'x64' | 'arm64' | undefined;
}

export interface WorkerUserDataOptions {
  /** The validated cluster (provider 'aws'): its name, region and config go to the worker. */
  spec: ClusterSpec;
  /** The cluster's own S3 bucket, holding `artifacts/`. */
  bucket: string;
  /** Agent release: the script installs `s3://<bucket>/artifacts/synkti-agent-<version>.tgz`. */
  version: string;
  /** Expected SHA-256 of the agent artifact (64 hex digits), fixed here, never fetched. */
  sha256: string;
  /** The Node.js 20 runtime tarball in the same bucket. */
  node: WorkerNodeRuntime;
  /**
   * AWS region of the bucket and the fleet.
   * @default spec.region
   */
  region?: string | undefined;
  /**
   * Account that must own the bucket (S3 refuses the download otherwise).
   * @default the instance's own account, read from its identity document (IMDSv2)
   */
  bucketOwner?: string | undefined;
  /**
   * SSM Parameter Store SecureString holding the cluster secret.
   * @default `/synkti/<cluster>/cluster-secret`
   */
  secretParameter?: string | undefined;
  /**
   * Instance metadata service base URL.
   * @default 'http://169.254.169.254'
   */
  imdsEndpoint?: string | undefined;
  /**
   * The agent's entry script inside the unpacked artifact (run with the installed node).
   * @default 'bin/synkti-agent.mjs'
   */
  agentEntry?: string | undefined;
  /**
   * Agent log level (pino).
   * @default 'info'
   */
  logLevel?: string | undefined;
  /**
   * How long systemd lets the agent drain after SIGTERM ("150s" or 150000).
   * @default spec.timeouts.shutdownGraceMs + 30 seconds
   */
  stopTimeout?: string | number | undefined;
}

/** The bucket key of an agent release. */
export function agentArtifactKey(version: string): string {
  return `artifacts/synkti-agent-${checkVersion(version)}.tgz`;
}

/** The bucket key of a Node.js runtime tarball (Node's own file name). */
export function nodeTarballKey(version: string, arch: 'x64' | 'arm64' = 'x64'): string {
  return `artifacts/node-v${checkNodeVersion(version)}-linux-${checkArch(arch)}.tar.xz`;
}

/** Where the cluster secret lives unless the options say otherwise. */
export function defaultSecretParameter(cluster: string): string {
  return `/synkti/${cluster}/cluster-secret`;
}

/** POSIX single-quoting: the value is taken literally by bash. */
function sq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A quoted heredoc: bash writes `body` byte for byte (no expansion). */
function heredocTo(path: string, body: string, mode: string): string {
  const delimiter = 'SYNKTI_EOF';
  if (body.split('\n').includes(delimiter)) {
    throw new SynktiError('E_USER_DATA_OPTIONS', `a file written by the user data contains the line ${delimiter}`, {
      hint: 'remove that line from the cluster config',
    });
  }
  const text = body.endsWith('\n') ? body : `${body}\n`;
  return `write_file ${sq(path)} ${mode} <<'${delimiter}'\n${text}${delimiter}`;
}

function renderFetchSecret(region: string, parameter: string): string {
  return `#!/bin/bash
# ExecStartPre of synkti.service: the cluster secret, from SSM Parameter Store
# (SecureString), into the service's runtime directory (tmpfs, mode 0700). Its value
# goes to the file only: never to stdout, stderr or the journal.
set -euo pipefail
umask 077
dir="\${RUNTIME_DIRECTORY:-/run/synkti}"
tmp="$dir/cluster-secret.tmp"
if ! aws ssm get-parameter --region ${sq(region)} --name ${sq(parameter)} --with-decryption --query Parameter.Value --output text >"$tmp"; then
  rm -f "$tmp"
  echo "synkti: cannot read the cluster secret from SSM parameter ${parameter} (the instance role needs ssm:GetParameter on it and kms:Decrypt on its key)" >&2
  exit 1
fi
if [ "$(wc -c <"$tmp")" -lt 17 ]; then
  rm -f "$tmp"
  echo "synkti: the cluster secret in SSM parameter ${parameter} is shorter than 16 characters" >&2
  exit 1
fi
mv -f "$tmp" "$dir/cluster-secret"
`;
}

/** Renders the user data; throws SynktiError (naming the field) on a bad input or a script over 16 KB. */
export function renderWorkerUserData(options: WorkerUserDataOptions): string {
  if (typeof options !== 'object' || options === null) {
    throw new SynktiError('E_USER_DATA_OPTIONS', 'options are required', { hint: 'pass { spec, bucket, version, sha256, node }' });
  }
  const spec = options.spec;
  if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string') {
    throw new SynktiError('E_USER_DATA_OPTIONS', 'spec: a validated cluster spec is required', {
      hint: 'load synkti.config.ts with loadClusterConfig()',
    });
  }
  if (spec.provider !== 'aws') {
    throw new SynktiError(
      'E_USER_DATA_OPTIONS',
      `spec.provider: worker user data is for EC2, but cluster ${spec.name} uses provider '${spec.provider}'`,
      {
        hint: 'set provider: "aws" in synkti.config.ts (local instances get the cluster config as their user data instead)',
      },
    );
  }
  const region = checkRegion(options.region ?? spec.region, options.region === undefined ? 'spec.region' : 'region');
  const bucket = checkBucket(options.bucket);
  const version = checkVersion(options.version);
  const sha256 = checkSha256(options.sha256);
  if (typeof options.node !== 'object' || options.node === null) {
    throw new SynktiError('E_USER_DATA_OPTIONS', 'node: the Node.js runtime tarball is required', {
      hint: 'pass node: { version: "20.18.1", sha256: "<64 hex digits>" }',
    });
  }
  const nodeVersion = checkNodeVersion(options.node.version);
  const nodeSha256 = checkSha256(options.node.sha256, 'node.sha256');
  const arch = checkArch(options.node.arch ?? 'x64');
  const bucketOwner = options.bucketOwner === undefined ? '' : checkAccountId(options.bucketOwner);
  const secretParameter = checkParameterName(options.secretParameter ?? defaultSecretParameter(spec.name));
  const imds = checkImdsEndpoint(options.imdsEndpoint ?? DEFAULT_IMDS);
  const entry = checkRelativePath(options.agentEntry ?? 'bin/synkti-agent.mjs', 'agentEntry');
  const logLevel = checkLogLevel(options.logLevel ?? 'info');
  const stopTimeoutMs =
    options.stopTimeout === undefined ? spec.timeouts.shutdownGraceMs + 30_000 : parseDuration(options.stopTimeout, 'stopTimeout');

  const nodeDir = `${WORKER_PATHS.agentRoot}/node-v${nodeVersion}`;
  const agentDir = `${WORKER_PATHS.agentRoot}/${version}`;
  const unit = renderSynktiUnit({
    cluster: spec.name,
    region,
    nodeBin: `${nodeDir}/bin/node`,
    agentEntry: `${agentDir}/${entry}`,
    version,
    imdsEndpoint: imds,
    logLevel,
    stopTimeoutSec: stopTimeoutMs / 1000,
  });

  const script = `#!/bin/bash
# Synkti worker boot for cluster ${spec.name}: agent ${version}, Node.js ${nodeVersion} (${arch}).
# Installs both from s3://${bucket}/artifacts/ only if their SHA-256 matches the values
# below, then runs the agent as synkti.service (logs: journalctl -u synkti -f).
# Rendered by \`synkti worker user-data\`; contains no secrets.
set -euo pipefail
umask 022

readonly CLUSTER=${sq(spec.name)}
readonly REGION=${sq(region)}
readonly BUCKET=${sq(bucket)}
readonly BUCKET_OWNER=${sq(bucketOwner)}
readonly IMDS_RENDERED=${sq(imds)}
# Unset on a real boot. Tests (the emulated EC2) point it at the instance's own metadata
# server: it changes where the metadata is read, never what is downloaded or checked.
readonly IMDS="\${SYNKTI_IMDS_ENDPOINT:-$IMDS_RENDERED}"
readonly AGENT_VERSION=${sq(version)}
readonly AGENT_KEY=${sq(agentArtifactKey(version))}
readonly AGENT_SHA256=${sq(sha256)}
readonly AGENT_DIR=${sq(agentDir)}
readonly AGENT_ENTRY=${sq(entry)}
readonly NODE_VERSION=${sq(nodeVersion)}
readonly NODE_ARCH=${sq(arch)}
readonly NODE_KEY=${sq(nodeTarballKey(nodeVersion, arch))}
readonly NODE_SHA256=${sq(nodeSha256)}
readonly NODE_DIR=${sq(nodeDir)}
# Empty on a real boot. Tests install under a temporary root: it moves where files go,
# never what is downloaded or checked.
readonly ROOT="\${SYNKTI_ROOT:-}"

log() { printf 'synkti-boot: %s\\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

work=''
finish() {
  local code=$?
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
  if [ "$code" -ne 0 ]; then log "boot failed (exit $code): synkti.service was not started (full log: /var/log/cloud-init-output.log)"; fi
}
trap finish EXIT

for tool in aws curl sha256sum tar xz systemctl useradd; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed on this image (use Amazon Linux 2023 or add $tool to the AMI)"
done

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac
[ "$arch" = "$NODE_ARCH" ] || die "this instance is $arch but the user data installs Node.js for $NODE_ARCH (render it with --arch $arch)"

# IMDSv2: a session token first, then the GET with it.
imds_get() {
  local token
  token="$(curl -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token")" || return 1
  curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$IMDS/$1"
}

owner="$BUCKET_OWNER"
if [ -z "$owner" ]; then
  owner="$(imds_get latest/dynamic/instance-identity/document | sed -n 's/.*"accountId"[[:space:]]*:[[:space:]]*"\\([0-9]\\{12\\}\\)".*/\\1/p' | head -n 1)" || true
  [ -n "$owner" ] || die "cannot read this instance's account id from the metadata service at $IMDS"
fi

mkdir -p "$ROOT/var/tmp"
work="$(mktemp -d "$ROOT/var/tmp/synkti-boot.XXXXXX")"

# fetch KEY FILE: from the cluster's bucket, only if the instance's account owns it.
fetch() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if aws s3api get-object --region "$REGION" --bucket "$BUCKET" --key "$1" --expected-bucket-owner "$owner" "$2" >/dev/null; then
      return 0
    fi
    log "download of s3://$BUCKET/$1 failed (attempt $attempt of 5)"
    [ "$attempt" -lt 5 ] && sleep "$((attempt * 2))"
  done
  die "cannot download s3://$BUCKET/$1 (the instance role needs s3:GetObject on it; is it uploaded?)"
}

# verify FILE SHA256 WHAT: never install or run anything whose checksum does not match.
verify() {
  if printf '%s  %s\\n' "$2" "$1" | sha256sum -c --status -; then
    log "verified $3: sha256 $2"
    return 0
  fi
  local actual
  actual="$(sha256sum "$1" | cut -d ' ' -f 1)"
  rm -f -- "$1"
  die "REFUSING $3: its SHA-256 is $actual, expected $2. Nothing was installed or run."
}

# unpack ARCHIVE DIR: into DIR (one top-level directory stripped), replacing it whole.
unpack() {
  local dest="$ROOT$2"
  rm -rf -- "$dest.partial"
  mkdir -p "$dest.partial"
  tar -xf "$1" -C "$dest.partial" --strip-components=1 --no-same-owner
  rm -rf -- "$dest"
  mv -- "$dest.partial" "$dest"
}

# write_file PATH MODE <<'EOF' ... EOF
write_file() {
  local dest="$ROOT$1"
  mkdir -p "$(dirname "$dest")"
  cat >"$dest.tmp"
  chmod "$2" "$dest.tmp"
  mv -f -- "$dest.tmp" "$dest"
}

log "installing synkti agent $AGENT_VERSION for cluster $CLUSTER ($REGION)"
# Both are checked before either is unpacked.
fetch "$NODE_KEY" "$work/node.tar.xz"
fetch "$AGENT_KEY" "$work/agent.tgz"
verify "$work/node.tar.xz" "$NODE_SHA256" "Node.js $NODE_VERSION (s3://$BUCKET/$NODE_KEY)"
verify "$work/agent.tgz" "$AGENT_SHA256" "synkti agent $AGENT_VERSION (s3://$BUCKET/$AGENT_KEY)"

unpack "$work/node.tar.xz" "$NODE_DIR"
unpack "$work/agent.tgz" "$AGENT_DIR"
node_version="$("$ROOT$NODE_DIR/bin/node" --version)" || die "the installed Node.js does not run on this instance"
case "$node_version" in
  v20.*) ;;
  *) die "the Node.js tarball runs $node_version, the agent needs v20" ;;
esac
[ -f "$ROOT$AGENT_DIR/$AGENT_ENTRY" ] || die "the agent artifact has no $AGENT_ENTRY"

if ! id -u ${WORKER_USER} >/dev/null 2>&1; then
  useradd --system --user-group --home-dir ${WORKER_PATHS.stateDir} --no-create-home --shell /sbin/nologin ${WORKER_USER}
fi

${heredocTo(WORKER_PATHS.clusterConfig, serializeCluster(spec), '0644')}
${heredocTo(WORKER_PATHS.fetchSecret, renderFetchSecret(region, secretParameter), '0755')}
${heredocTo(WORKER_PATHS.unit, unit, '0644')}

systemctl daemon-reload
systemctl enable --now synkti
log "started synkti.service (agent $AGENT_VERSION): journalctl -u synkti -f"
`;
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new SynktiError('E_USER_DATA_TOO_LARGE', `the worker user data is ${bytes} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}`, {
      hint: 'the cluster config is embedded: shorten workload.env and workload.command, or keep large settings in the bucket',
    });
  }
  // What cloud-init needs to run it as a script (a self-check: a template change cannot break it silently).
  checkShellUserData(script);
  return script;
}
