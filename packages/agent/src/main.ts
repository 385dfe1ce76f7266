/**
 * The agent's entry point: what a worker boots (systemd on EC2, the instance host on the
 * local cloud). Its configuration comes from instance user data; its secret from the
 * environment; nothing else is needed to join the fleet.
 */
import { SynktiError, configGeneration, deserializeCluster, isSynktiError } from '@synkti/core';
import { createImdsClient, createLocalCloud, type InstanceProvider } from '@synkti/cloud';
import { join } from 'node:path';
import { awsProviderForWorker, withSubnetZones } from './aws-environment.ts';
import { bootMetadata } from './boot-metadata.ts';
import { readClusterConfig } from './cluster-config-source.ts';
import { Agent } from './agent.ts';
import { NodeRuntime } from './node-runtime.ts';
import { reapOrphanWorkload } from './workload-pid-file.ts';
import { awsLoadBalancer } from './load-balancer/aws-load-balancer.ts';
import type { LoadBalancerFactory } from './load-balancer/load-balancer-member.ts';
import { createLogger } from './logger.ts';
import { readClusterSecret } from './secret.ts';

async function main(): Promise<void> {
  const logger = createLogger({ component: 'agent' });
  const metadata = bootMetadata(createImdsClient({}));
  const userData = await metadata.userData();
  let spec = deserializeCluster(readClusterConfig(userData));
  const secret = readClusterSecret();
  let instances: InstanceProvider;
  let close = (): void => {};
  // The local provider has no load balancer: no ELB client, nothing to leave.
  let loadBalancer: LoadBalancerFactory | undefined;
  if (spec.provider === 'aws') {
    const worker = await awsProviderForWorker(metadata, spec, (await metadata.identity()).region, { logger });
    instances = worker.instances;
    // Replacements are placed over every zone the pool's subnets span (placementZoneOrder).
    spec = withSubnetZones(spec, worker.subnets);
    loadBalancer = awsLoadBalancer({ spec, region: (await metadata.identity()).region, logger });
  } else if (spec.provider === 'local') {
    const stateDir = process.env.SYNKTI_LOCAL_STATE_DIR;
    if (!stateDir)
      throw new SynktiError('E_AGENT_CONFIG', 'SYNKTI_LOCAL_STATE_DIR is not set', {
        hint: 'local instances are started by the local cloud, which sets it',
      });
    const cloud = createLocalCloud({ stateDir });
    instances = cloud.instances;
    close = () => cloud.close();
  } else {
    throw new SynktiError('E_PROVIDER', `provider '${spec.provider}' is not available to the agent`);
  }

  const agent = new Agent({
    cluster: spec.name,
    metadata,
    instances,
    secret,
    defaultPorts: { agent: spec.ports.agent, router: spec.ports.router, workload: spec.workload?.port ?? 8000 },
    gossipIntervalMs: spec.timeouts.gossipIntervalMs,
    failureTimeoutMs: spec.timeouts.failureTimeoutMs,
    listIntervalMs: spec.timeouts.listIntervalMs,
    listers: spec.membership.listers,
    // The fleet dashboard at /dashboard/ on this agent's port (the pools price the fleet).
    dashboard: { provider: spec.provider, pools: spec.pools },
    logger,
    // What this node serves, as a hash of its boot config's workload and model (rollouts compare it).
    generation: configGeneration(spec),
    bootUserData: userData ?? '',
  });

  // A workload this node's previous agent left running (that agent was SIGKILLed) is ended
  // before anything binds, once its record proves it is ours (workload-pid-file.ts).
  const workloadPidFile = workloadPidPath(spec.provider, (await metadata.identity()).instanceId);
  if (workloadPidFile !== undefined) {
    const reaped = await reapOrphanWorkload(workloadPidFile);
    if (reaped.outcome === 'ended') logger.warn({ killed: reaped.killed }, 'ended the workload a previous agent left running');
  }

  const runtime = new NodeRuntime({
    agent,
    spec,
    metadata,
    instances,
    // Replacements boot like this instance: the same user data (on EC2 the boot script,
    // which holds nothing instance-specific; locally the config itself).
    userData: userData ?? '',
    logger,
    workloadLogFile: workloadLogPath(spec.provider, (await metadata.identity()).instanceId),
    workloadPidFile,
    loadBalancer,
  });

  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    runtime
      .shutdown()
      .then(() => runtime.drained())
      .then(
        () => {
          close();
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  agent.on('state', (state) => {
    // A finished drain (spot notice): the agent has left the fleet; nothing more to do here.
    if (state === 'stopped' && !shuttingDown) {
      shuttingDown = true;
      // The load balancer exit may still be retrying inside the drain budget: let it end (bounded).
      const settled = Promise.race([runtime.drained(), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      void settled.finally(() =>
        setTimeout(() => {
          close();
          process.exit(0);
        }, 200).unref(),
      );
    }
  });

  await runtime.start();
}

/** Where the workload's ownership record is kept: beside its log locally, in the unit's StateDirectory on EC2 (none without one). */
function workloadPidPath(provider: string, instanceId: string): string | undefined {
  if (process.env.SYNKTI_WORKLOAD_PID_FILE) return process.env.SYNKTI_WORKLOAD_PID_FILE;
  const stateDir = process.env.SYNKTI_LOCAL_STATE_DIR;
  if (provider === 'local' && stateDir) return join(stateDir, 'instances', instanceId, 'workload.pid');
  // systemd's StateDirectory= (the unit's /var/lib/synkti; each emulated machine its own): never a path shared by two machines.
  const systemdState = process.env.STATE_DIRECTORY?.split(':')[0];
  return provider === 'aws' && systemdState ? join(systemdState, 'workload.pid') : undefined;
}

/** Where the workload's output is written: beside the instance's console log locally. */
function workloadLogPath(provider: string, instanceId: string): string | undefined {
  if (process.env.SYNKTI_WORKLOAD_LOG) return process.env.SYNKTI_WORKLOAD_LOG;
  const stateDir = process.env.SYNKTI_LOCAL_STATE_DIR;
  if (provider === 'local' && stateDir) return join(stateDir, 'instances', instanceId, 'workload.log');
  return provider === 'aws' ? '/var/log/synkti/workload.log' : undefined;
}

main().catch((error: unknown) => {
  const message = isSynktiError(error) ? error.toUserString() : ((error as Error)?.stack ?? String(error));
  process.stderr.write(`synkti-agent: ${message}\n`);
  process.exit(1);
});
