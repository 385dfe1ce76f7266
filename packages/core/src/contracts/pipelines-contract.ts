/**
 * The pipelines shape's contract between the code (`synkti agent`, `synkti api`) and the
 * stack that runs it (infra's PipelineCluster): the environment the stack injects into API
 * and agent tasks, each with the stack output it comes from. Pulumi-free.
 */
import { stackChecks, type StackEnvironmentSpec } from './stack-environment.ts';

/** Variables PipelineCluster injects into agent tasks. */
export const PIPELINE_AGENT_ENV = {
  SYNKTI_CLUSTER: { from: 'PipelineCluster.clusterName', description: 'the cluster name (metrics dimension)', check: stackChecks.name },
  SYNKTI_POOL: {
    from: 'PipelineCluster pool name (per service)',
    description: 'the pool whose stages this agent serves',
    check: stackChecks.name,
  },
  SYNKTI_PIPELINE_DB: {
    from: 'PipelineCluster.databaseProxyEndpoint',
    description: 'PostgreSQL URL of the task database (password from PGPASSWORD, a secret)',
    check: stackChecks.postgresUrl,
    secret: true,
  },
  SYNKTI_PIPELINES: { from: 'PipelineCluster arg pipelineModules', description: 'comma-separated pipeline module paths in the image' },
  SYNKTI_BUCKET: {
    from: 'PipelineCluster.bucketName',
    description: 'bucket of the object store (chunks, inputs and big results)',
    check: stackChecks.bucket,
  },
  AWS_REGION: { from: 'PipelineCluster arg region', description: 'AWS region of the bucket and metrics', check: stackChecks.region },
} as const satisfies StackEnvironmentSpec<string>;

export type PipelineAgentEnvName = keyof typeof PIPELINE_AGENT_ENV;
