/**
 * dev / staging / production presets, chosen by stack name. Values follow the reference's
 * environments/dev.tfvars and prod.tfvars (staging = its variables.tf defaults), except
 * where the reference was unsafe or wasteful (noted per field).
 */
import { SynktiError } from '@synkti/core';

export const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

export interface EnvironmentPreset {
  name: EnvironmentName;
  /** Fargate CPU units / memory MiB per worker task. */
  workerCpu: number;
  workerMemory: number;
  /** Tasks at first deploy; autoscaling owns the count afterwards. */
  workerDesiredCount: number;
  /** Autoscaling bounds. The reference's production minimum of 2 is 0 here: an empty queue has nothing to do. */
  workerMinCount: number;
  workerMaxCount: number;
  /** Fargate Spot on, and the share of tasks on it above the on-demand base. */
  enableSpot: boolean;
  spotPercentage: number;
  /** Tasks always on on-demand Fargate. */
  onDemandBase: number;
  /** Task queue visibility (a lease), seconds. */
  visibilityTimeoutSeconds: number;
  /** Task and result retention, seconds. */
  messageRetentionSeconds: number;
  /** Deliveries before a task goes to the dead-letter queue. */
  maxReceiveCount: number;
  /** CloudWatch Logs retention, days. */
  logRetentionDays: number;
  /** Versioned batch bucket. */
  versioning: boolean;
  /** Deletion protection: protect + retainOnDelete on the bucket, ECR not force-deleted. */
  deletionProtection: boolean;
  /** Days a run's objects (checkpoints, cancel markers) are kept; undefined = forever (moved to IA). */
  runRetentionDays: number | undefined;
  /** Zones (public subnets, one per zone). */
  azCount: number;
  /** Private subnets behind a NAT gateway for the tasks. */
  natGateway: boolean;
  /** Serve fleets: on-demand instances always kept. */
  serveOnDemandBase: number;
  /** Serve fleets: checkpoint expiry, days. */
  serveCheckpointExpireDays: number;
}

export const ENVIRONMENT_PRESETS: Readonly<Record<EnvironmentName, EnvironmentPreset>> = {
  dev: {
    name: 'dev',
    workerCpu: 1024,
    workerMemory: 2048,
    workerDesiredCount: 2,
    workerMinCount: 0,
    workerMaxCount: 8,
    enableSpot: true,
    spotPercentage: 100,
    onDemandBase: 0,
    visibilityTimeoutSeconds: 300,
    messageRetentionSeconds: 86_400,
    maxReceiveCount: 3,
    logRetentionDays: 7,
    versioning: false,
    deletionProtection: false,
    runRetentionDays: 30,
    azCount: 2,
    natGateway: false,
    serveOnDemandBase: 0,
    serveCheckpointExpireDays: 3,
  },
  staging: {
    name: 'staging',
    workerCpu: 2048,
    workerMemory: 4096,
    workerDesiredCount: 4,
    workerMinCount: 0,
    workerMaxCount: 20,
    enableSpot: true,
    spotPercentage: 80,
    onDemandBase: 1,
    visibilityTimeoutSeconds: 300,
    messageRetentionSeconds: 86_400,
    maxReceiveCount: 3,
    logRetentionDays: 30,
    versioning: true,
    deletionProtection: false,
    runRetentionDays: 90,
    azCount: 2,
    natGateway: false,
    serveOnDemandBase: 1,
    serveCheckpointExpireDays: 7,
  },
  production: {
    name: 'production',
    workerCpu: 4096,
    workerMemory: 8192,
    workerDesiredCount: 10,
    workerMinCount: 0,
    workerMaxCount: 50,
    enableSpot: true,
    spotPercentage: 80,
    onDemandBase: 1,
    visibilityTimeoutSeconds: 600,
    messageRetentionSeconds: 345_600,
    maxReceiveCount: 5,
    logRetentionDays: 90,
    versioning: true,
    deletionProtection: true,
    runRetentionDays: undefined,
    azCount: 3,
    natGateway: true,
    serveOnDemandBase: 2,
    serveCheckpointExpireDays: 14,
  },
};

/**
 * The environment a stack name selects: `dev`, `staging`, `production` (or `prod`),
 * alone or as the last `-`/`.`-separated part (`ml-batch-prod`, `acme.staging`).
 */
export function environmentFromStack(stack: string): EnvironmentName {
  const last = stack.toLowerCase().split(/[-.]/).pop() ?? '';
  if (last === 'prod') return 'production';
  if ((ENVIRONMENTS as readonly string[]).includes(last)) return last as EnvironmentName;
  throw new SynktiError('E_INFRA_ENVIRONMENT', `stack "${stack}" names no environment`, {
    hint: 'name the stack dev, staging or production (or end it with -dev, -staging, -prod), or pass `environment` to the component',
  });
}

export function environmentPreset(name: EnvironmentName): EnvironmentPreset {
  const preset = ENVIRONMENT_PRESETS[name];
  if (!preset)
    throw new SynktiError('E_INFRA_INPUT', `environment "${String(name)}" is not one of ${ENVIRONMENTS.join(', ')}`, {
      hint: 'use dev, staging or production',
    });
  return preset;
}
