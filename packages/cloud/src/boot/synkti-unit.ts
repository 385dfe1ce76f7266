/**
 * The systemd unit that runs the agent on a worker: `synkti.service`. Output goes to the
 * journal (`journalctl -u synkti -f`), the agent runs as an unprivileged user, and the
 * unit holds no secret: the cluster secret is fetched from SSM Parameter Store by
 * ExecStartPre into the service's private runtime directory (tmpfs) at every start.
 */
import { SynktiError } from '@synkti/core';

/** Where the boot script puts things on the worker (fixed paths, shared by script and unit). */
export const WORKER_PATHS = {
  unit: '/etc/systemd/system/synkti.service',
  clusterConfig: '/etc/synkti/cluster.json',
  fetchSecret: '/opt/synkti/libexec/fetch-cluster-secret',
  secretFile: '/run/synkti/cluster-secret',
  stateDir: '/var/lib/synkti',
  workloadLog: '/var/log/synkti/workload.log',
  /** The agent release `v` is unpacked into `${agentRoot}/${v}`. */
  agentRoot: '/opt/synkti',
} as const;

/** The unprivileged account the agent (and its workload) runs as. */
export const WORKER_USER = 'synkti';

export interface SynktiUnitOptions {
  /** Cluster name (SYNKTI_CLUSTER). */
  cluster: string;
  /** AWS region (AWS_REGION, AWS_DEFAULT_REGION). */
  region: string;
  /** Absolute path of the node binary. */
  nodeBin: string;
  /** Absolute path of the agent's entry script. */
  agentEntry: string;
  /** Agent release, shown in the description. */
  version: string;
  /** Metadata service base URL (SYNKTI_IMDS_ENDPOINT). */
  imdsEndpoint: string;
  /** pino level (SYNKTI_LOG_LEVEL). */
  logLevel: string;
  /**
   * How long systemd waits after SIGTERM before SIGKILL, in seconds: the agent drains
   * and leaves the fleet on SIGTERM.
   */
  stopTimeoutSec: number;
}

/** Environment values are validated upstream; this refuses anything systemd would reinterpret. */
function envLine(key: string, value: string): string {
  if (!/^[A-Za-z0-9_./:\-[\]@+,=]*$/.test(value)) {
    throw new SynktiError('E_USER_DATA_OPTIONS', `${key}: ${JSON.stringify(value)} cannot go into a systemd unit`, {
      hint: 'use letters, digits and . / : - _ only',
    });
  }
  return `Environment="${key}=${value}"`;
}

export function renderSynktiUnit(options: SynktiUnitOptions): string {
  const env: [string, string][] = [
    ['SYNKTI_CLUSTER', options.cluster],
    ['SYNKTI_PROVIDER', 'aws'],
    ['AWS_REGION', options.region],
    ['AWS_DEFAULT_REGION', options.region],
    ['SYNKTI_IMDS_ENDPOINT', options.imdsEndpoint],
    ['SYNKTI_CLUSTER_CONFIG_FILE', WORKER_PATHS.clusterConfig],
    ['SYNKTI_CLUSTER_SECRET_FILE', WORKER_PATHS.secretFile],
    ['SYNKTI_WORKLOAD_LOG', WORKER_PATHS.workloadLog],
    ['SYNKTI_LOG_LEVEL', options.logLevel],
    ['HOME', WORKER_PATHS.stateDir],
    ['NODE_ENV', 'production'],
    // glibc maps blocks of 32 KB and up, so they go back to the OS when freed: the agent's
    // one-off compile of undici's WebAssembly HTTP parser otherwise stays 1-9 MB resident.
    // The agent does not pass it on to the workload.
    ['MALLOC_MMAP_THRESHOLD_', '32768'],
  ];
  return [
    '[Unit]',
    `Description=Synkti agent ${options.version} (cluster ${options.cluster})`,
    'Wants=network-online.target',
    'After=network-online.target',
    // Restart=on-failure forever: a node that gives up is a node the fleet lost.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `User=${WORKER_USER}`,
    `Group=${WORKER_USER}`,
    ...env.map(([key, value]) => envLine(key, value)),
    // /run/synkti (tmpfs, 0700, the service user's): where ExecStartPre puts the secret.
    'RuntimeDirectory=synkti',
    'RuntimeDirectoryMode=0700',
    'StateDirectory=synkti',
    'LogsDirectory=synkti',
    `WorkingDirectory=${WORKER_PATHS.stateDir}`,
    `ExecStartPre=${WORKER_PATHS.fetchSecret}`,
    `ExecStart=${options.nodeBin} ${options.agentEntry}`,
    'Restart=on-failure',
    'RestartSec=5',
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${Math.max(1, Math.ceil(options.stopTimeoutSec))}`,
    'StandardOutput=journal',
    'StandardError=journal',
    'SyslogIdentifier=synkti',
    'LimitNOFILE=65536',
    'NoNewPrivileges=yes',
    // /usr, /boot and /etc read-only; the workload (a model server) keeps /dev and its home.
    'ProtectSystem=full',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
