/**
 * Provider-independent access to a cluster's instances for the everyday commands
 * (status, scale, ssh, down): the embedded local cloud for provider 'local', EC2 for
 * 'aws'. Membership is always the SynktiCluster tag; agents are asked for their status
 * where they answer (locally always; on AWS only from inside the VPC and with the secret).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, TAG_CLUSTER, TAG_ROLE, serializeCluster, type ClusterSpec } from '@synkti/core';
import { listAllInstances, type InstanceProvider, type InstanceRecord, type InstanceState } from '@synkti/cloud';
import { openLocalFleet, stateDirFor, type LocalFleet } from '../local-fleet.ts';
import { openWorkerProvider } from '../worker/worker-provider.ts';
import { launchSettingsFrom } from '../worker/launch-options.ts';
import type { AwsLaunchFlags, UserDataFlags } from '../worker/worker-settings.ts';

export const LIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down'];
export const ALL_STATES: InstanceState[] = [...LIVE_STATES, 'terminated'];

export interface FleetAccess {
  spec: ClusterSpec;
  kind: 'local' | 'aws';
  instances: InstanceProvider;
  /** The cluster secret agents accept, when this machine has it (undefined: agents are not asked). */
  secret: string | undefined;
  /** The open local cloud (provider 'local' only). */
  local: LocalFleet | undefined;
  /** User data a new instance boots with (aws: rendered from the launch settings on first use). */
  userData(): Promise<string>;
  /** The cluster's instances (by tag), oldest first; live ones unless `all`. */
  list(options?: { all?: boolean; role?: string }): Promise<InstanceRecord[]>;
  close(): void;
}

export interface OpenFleetOptions {
  /** The config file the spec came from (the local cloud's state lives beside it). */
  configFile: string;
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /** aws: what new workers boot with (only launching needs it). @default from SYNKTI_* environment variables */
  userData?: UserDataFlags | undefined;
  /** aws: where new workers launch. @default from SYNKTI_* environment variables */
  aws?: AwsLaunchFlags | undefined;
  /** Environment to read SYNKTI_* settings and the secret from. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
}

/**
 * The cluster secret for talking to agents of a remote cluster: SYNKTI_CLUSTER_SECRET,
 * the file SYNKTI_CLUSTER_SECRET_FILE, or the local state directory's copy if one exists.
 * Never created here: without it, status shows the cloud's view only.
 */
export function remoteSecret(spec: ClusterSpec, configFile: string, env: NodeJS.ProcessEnv): string | undefined {
  const direct = env.SYNKTI_CLUSTER_SECRET?.trim();
  if (direct) return direct;
  const candidates = [env.SYNKTI_CLUSTER_SECRET_FILE, join(stateDirFor(spec, configFile), 'cluster-secret')];
  for (const file of candidates) {
    if (!file || !existsSync(file)) continue;
    try {
      const secret = readFileSync(file, 'utf8').trim();
      if (secret) return secret;
    } catch {
      // unreadable: treat as absent (status still shows the cloud's view)
    }
  }
  return undefined;
}

function lister(instances: InstanceProvider, spec: ClusterSpec) {
  return async (options: { all?: boolean; role?: string } = {}): Promise<InstanceRecord[]> => {
    const tags: Record<string, string> = { [TAG_CLUSTER]: spec.name };
    if (options.role !== undefined) tags[TAG_ROLE] = options.role;
    const records = await listAllInstances(instances, { tags, states: options.all ? ALL_STATES : LIVE_STATES });
    return records.sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
  };
}

/** Opens the cluster's instances through its provider. Call close() when done. */
export function openFleet(spec: ClusterSpec, options: OpenFleetOptions): FleetAccess {
  const env = options.env ?? process.env;
  if (spec.provider === 'local') {
    const local = openLocalFleet(spec, options.configFile);
    const instances = local.cloud.instances;
    return {
      spec,
      kind: 'local',
      instances,
      secret: local.secret,
      local,
      userData: async () => serializeCluster(spec),
      list: lister(instances, spec),
      close: () => local.close(),
    };
  }
  if (spec.provider === 'aws') {
    // Settings not given by the caller come from the SYNKTI_* variables `worker launch` reads.
    const fromEnv = launchSettingsFrom({}, env);
    const worker = openWorkerProvider(spec, {
      configFile: options.configFile,
      ec2Client: options.ec2Client,
      userData: options.userData ?? fromEnv.userData,
      aws: options.aws ?? fromEnv.aws,
    });
    return {
      spec,
      kind: 'aws',
      instances: worker.provider,
      secret: remoteSecret(spec, options.configFile, env),
      local: undefined,
      userData: () => worker.userData(),
      list: lister(worker.provider, spec),
      close: () => worker.close(),
    };
  }
  throw new SynktiError('E_PROVIDER', `unknown provider '${String(spec.provider)}'`, { hint: 'use provider "local" or "aws"' });
}
