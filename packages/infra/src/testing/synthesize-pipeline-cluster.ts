/**
 * What a `PipelineCluster` declares for its ECS side, as plain JSON: its IAM roles, every
 * task definition (container command, environment, secrets, task and execution role),
 * every ECS service (its task definition and desired count), the data bucket and the
 * secrets the stack itself stores. Built by running the real component under Pulumi mocks,
 * so an emulated AWS that runs these task definitions runs exactly what the stack would
 * deploy today (`synkti demo --on aws-emulator --shape pipelines`).
 */
import { PipelineCluster } from '../pipeline-cluster/pipeline-cluster.ts';
import type { PipelineClusterArgs } from '../pipeline-cluster/pipeline-args.ts';
import { runMockStack, type MockStackOptions, type RecordedResource } from './mock-stack.ts';
import { rolesFromResources, type SynthesizedRole } from './synthesize-policies.ts';

/** One container of a task definition, as ECS's RegisterTaskDefinition takes it. */
export interface SynthesizedContainer {
  name: string;
  image: string;
  command?: string[] | undefined;
  environment?: Array<{ name: string; value: string }> | undefined;
  secrets?: Array<{ name: string; valueFrom: string }> | undefined;
  portMappings?: Array<{ containerPort: number; protocol?: string }> | undefined;
  stopTimeout?: number | undefined;
  essential?: boolean | undefined;
  cpu?: number | undefined;
  memory?: number | undefined;
  [key: string]: unknown;
}

export interface SynthesizedTaskDefinition {
  family: string;
  /** ARN the mock gave it (services name it). */
  arn: string;
  taskRoleArn: string | undefined;
  executionRoleArn: string | undefined;
  requiresCompatibilities: string[];
  networkMode: string | undefined;
  cpu: string | undefined;
  memory: string | undefined;
  containerDefinitions: SynthesizedContainer[];
}

export interface SynthesizedEcsService {
  name: string;
  taskDefinitionFamily: string;
  desiredCount: number;
}

export interface SynthesizedPipelineCluster {
  /** `<project>-<environment>` (the ECS cluster's name). */
  cluster: string;
  /** The data bucket's name. */
  bucket: string;
  roles: SynthesizedRole[];
  taskDefinitions: SynthesizedTaskDefinition[];
  services: SynthesizedEcsService[];
  /** Secrets the stack stores in Secrets Manager: ARN → value (RDS's own password is not among them). */
  secretValues: Record<string, string>;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function byType(resources: readonly RecordedResource[], type: string): RecordedResource[] {
  return resources.filter((r) => r.type === type);
}

/** PipelineCluster's ECS side under Pulumi mocks (a few seconds). */
export async function synthesizePipelineCluster(
  args: PipelineClusterArgs = {},
  options: MockStackOptions = {},
): Promise<SynthesizedPipelineCluster> {
  const { resources, value: component } = await runMockStack((opts) => new PipelineCluster('pipelines', args, opts), options);
  const definitions = byType(resources, 'aws:ecs/taskDefinition:TaskDefinition').map((r): SynthesizedTaskDefinition => {
    const containers = r.inputs.containerDefinitions;
    return {
      family: text(r.inputs.family) ?? r.name,
      arn: text(r.state.arn) ?? r.id,
      taskRoleArn: text(r.inputs.taskRoleArn),
      executionRoleArn: text(r.inputs.executionRoleArn),
      requiresCompatibilities: (r.inputs.requiresCompatibilities ?? []) as string[],
      networkMode: text(r.inputs.networkMode),
      cpu: text(r.inputs.cpu),
      memory: text(r.inputs.memory),
      containerDefinitions: (typeof containers === 'string' ? JSON.parse(containers) : (containers ?? [])) as SynthesizedContainer[],
    };
  });
  const services = byType(resources, 'aws:ecs/service:Service').map((r): SynthesizedEcsService => {
    const ref = text(r.inputs.taskDefinition);
    const def = definitions.find((d) => d.arn === ref || d.family === ref);
    if (!def) throw new Error(`ECS service ${r.name} names task definition ${ref ?? '(none)'}, which this stack does not create`);
    return { name: text(r.inputs.name) ?? r.name, taskDefinitionFamily: def.family, desiredCount: Number(r.inputs.desiredCount ?? 0) };
  });
  const bucket = byType(resources, 'aws:s3/bucket:Bucket').find((r) => r.name === 'pipelines-data');
  const bucketName = text(bucket?.state.bucket) ?? text(bucket?.id);
  if (!bucketName) throw new Error('the synthesized PipelineCluster has no data bucket (pipelines-data)');
  const secretValues: Record<string, string> = {};
  const secrets = byType(resources, 'aws:secretsmanager/secret:Secret');
  for (const version of byType(resources, 'aws:secretsmanager/secretVersion:SecretVersion')) {
    const secret = secrets.find((s) => s.id === version.inputs.secretId);
    const arn = text(secret?.state.arn);
    // A pulumi.secret() input is recorded wrapped ({ <secret sentinel>: ..., value }).
    const raw = version.inputs.secretString;
    const value = typeof raw === 'object' && raw !== null && 'value' in raw ? text((raw as { value: unknown }).value) : text(raw);
    if (arn && value !== undefined) secretValues[arn] = value;
  }
  return {
    cluster: component.clusterName,
    bucket: bucketName,
    roles: rolesFromResources(resources),
    taskDefinitions: definitions,
    services,
    secretValues,
  };
}
