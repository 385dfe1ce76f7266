/**
 * Boot script of a serve worker. Fixes the reference's "binary downloaded and run as root
 * from a bucket name anyone could register": the artifact comes from the fleet's own
 * bucket with `--expected-bucket-owner` (a same-named bucket in another account is
 * refused), its SHA-256 is checked before it is installed, and it runs as an unprivileged
 * system user under systemd with a hardened unit. The agent's cluster config (what
 * `serializeCluster` writes) travels inside the script, base64-encoded, to
 * /etc/synkti/cluster.json; the cluster secret comes from SSM, never from user data.
 */
import { SynktiError } from '@synkti/core';

/** EC2 accepts at most 16 KiB of user data (before base64). */
export const MAX_USER_DATA_BYTES = 16 * 1024;

export interface WorkerUserDataOptions {
  /** Cluster name (SynktiCluster tag value). */
  cluster: string;
  region: string;
  /** Bucket holding the agent artifact (the fleet's models bucket). */
  artifactBucket: string;
  /** Key of the agent executable in that bucket. */
  artifactKey: string;
  /** Hex SHA-256 of the executable; the boot stops when it differs. */
  artifactSha256: string;
  /** Account that must own the bucket. */
  expectedBucketOwner: string;
  /** `s3://bucket/prefix` of the model weights (SYNKTI_MODEL_URI for the workload). */
  modelS3Uri?: string | undefined;
  /** The agent's cluster config (`serializeCluster` output), written to /etc/synkti/cluster.json. */
  clusterConfig?: string | undefined;
  /** SSM SecureString parameter holding the cluster secret (read at boot into a 0600 file). */
  secretParameterName: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Single-quoted for bash: the values come from validated inputs, quoted anyway. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function isSha256Hex(value: string): boolean {
  return SHA256_RE.test(value);
}

export function workerUserData(o: WorkerUserDataOptions): string {
  const config = o.clusterConfig === undefined ? [] : [
    `echo ${q(Buffer.from(o.clusterConfig, 'utf8').toString('base64'))} | base64 -d > /etc/synkti/cluster.json`,
    'chown synkti:synkti /etc/synkti/cluster.json && chmod 0600 /etc/synkti/cluster.json',
  ];
  const script = [
    '#!/bin/bash',
    'set -euo pipefail',
    'umask 077',
    'id -u synkti >/dev/null 2>&1 || useradd --system --home-dir /var/lib/synkti --create-home --shell /usr/sbin/nologin synkti',
    'tmp="$(mktemp)"',
    `aws s3api get-object --region ${q(o.region)} --bucket ${q(o.artifactBucket)} --key ${q(o.artifactKey)} --expected-bucket-owner ${q(o.expectedBucketOwner)} "$tmp" >/dev/null`,
    `echo ${q(`${o.artifactSha256}`)}"  $tmp" | sha256sum --check --strict --quiet -`,
    'install -d -m 0755 /opt/synkti',
    'install -d -o synkti -g synkti -m 0700 /etc/synkti',
    // The cluster secret never sits in user data or an environment variable: SSM SecureString -> 0600 file.
    `aws ssm get-parameter --region ${q(o.region)} --name ${q(o.secretParameterName)} --with-decryption --query Parameter.Value --output text > /etc/synkti/cluster-secret`,
    'chown synkti:synkti /etc/synkti/cluster-secret && chmod 0600 /etc/synkti/cluster-secret',
    ...config,
    'install -m 0755 "$tmp" /opt/synkti/synkti-agent',
    'rm -f "$tmp"',
    "cat >/etc/systemd/system/synkti.service <<'UNIT'",
    '[Unit]',
    'Description=Synkti agent',
    'After=network-online.target',
    'Wants=network-online.target',
    '[Service]',
    'User=synkti',
    'Group=synkti',
    'Environment=SYNKTI_CLUSTER_SECRET_FILE=/etc/synkti/cluster-secret',
    `Environment=SYNKTI_CLUSTER=${o.cluster}`,
    `Environment=AWS_REGION=${o.region}`,
    ...(o.clusterConfig === undefined ? [] : ['Environment=SYNKTI_CLUSTER_CONFIG_FILE=/etc/synkti/cluster.json']),
    ...(o.modelS3Uri ? [`Environment=SYNKTI_MODEL_URI=${o.modelS3Uri}`] : []),
    'ExecStart=/opt/synkti/synkti-agent',
    'Restart=always',
    'RestartSec=2',
    'NoNewPrivileges=true',
    'ProtectSystem=strict',
    'ReadOnlyPaths=/etc/synkti',
    'ProtectHome=true',
    'PrivateTmp=true',
    'StateDirectory=synkti',
    '[Install]',
    'WantedBy=multi-user.target',
    'UNIT',
    'systemctl daemon-reload',
    'systemctl enable --now synkti.service',
    '',
  ].join('\n');
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new SynktiError('E_INFRA_INPUT', `SpotServeFleet: the boot script is ${bytes} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}`, { hint: 'shorten the cluster config (e.g. fewer workload env entries) or keep large settings in the models bucket' });
  }
  return script;
}
