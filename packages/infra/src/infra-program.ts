/**
 * An infra config (which components, with which inputs) and the Pulumi program it makes.
 * The same program runs under mocks (`synkti infra audit`) and under the Automation API
 * (`synkti infra preview|up`), so what is audited is what would be deployed.
 */
import { readFileSync } from 'node:fs';
import type * as pulumi from '@pulumi/pulumi';
import { SynktiError } from '@synkti/core';
import { SpotBatchFleet, type SpotBatchFleetArgs } from './aws/spot-batch-fleet.ts';
import { SpotServeFleet, type SpotServeFleetArgs } from './aws/spot-serve-fleet.ts';
import { auditResources, type AuditOptions, type AuditReport } from './audit/audit.ts';
import { runMockStack } from './testing/mock-stack.ts';
import type { AuditResource } from './audit/audit-rules.ts';
import { estimateCost, loadPriceTable, type CostAssumptions, type CostEstimate, type PriceTable } from './cost/estimate-cost.ts';
import { ALL_AUDIT_RULES, infraIIProgram, type InfraIIConfig } from './pipeline-cluster/infra-ii-audit.ts';

export interface InfraConfig extends InfraIIConfig {
  /** Inputs of a SpotServeFleet named "serve"; absent: none. */
  serve?: SpotServeFleetArgs | undefined;
  /** Inputs of a SpotBatchFleet named "batch"; absent: none. */
  batch?: SpotBatchFleetArgs | undefined;
}

/** Every component an infra config can hold, by its key. */
export const INFRA_COMPONENTS = ['serve', 'batch', 'kubernetes', 'pipelines'] as const;
export type InfraComponent = (typeof INFRA_COMPONENTS)[number];
const COMPONENT_HINT = 'write {"serve": {...}, "batch": {...}, "kubernetes": {"provider": "aws", ...}, "pipelines": {...}}';

/** Reads and shape-checks a JSON infra config file. */
export function loadInfraConfig(path: string): InfraConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SynktiError('E_CONFIG_INFRA', `cannot read infra config ${path}`, { cause, hint: 'check the path' });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new SynktiError('E_CONFIG_INFRA', `infra config ${path} is not JSON`, { cause, hint: COMPONENT_HINT });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new SynktiError('E_CONFIG_INFRA', `infra config ${path} is not an object`, { hint: COMPONENT_HINT });
  }
  const unknown = Object.keys(doc).filter((k) => !(INFRA_COMPONENTS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new SynktiError('E_CONFIG_INFRA', `infra config ${path}: unknown key(s) ${unknown.join(', ')}`, {
      hint: `the components are ${INFRA_COMPONENTS.join(', ')}`,
    });
  for (const key of INFRA_COMPONENTS) {
    const value = (doc as Record<string, unknown>)[key];
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new SynktiError('E_CONFIG_INFRA', `infra config ${path}: "${key}" must be an object of component inputs`, {
        hint: `write "${key}": {}`,
      });
    }
  }
  return doc as InfraConfig;
}

/** The program: creates the configured components, returns their outputs (stack outputs). */
export function infraProgram(
  config: InfraConfig,
  components: readonly InfraComponent[] = INFRA_COMPONENTS,
  opts: pulumi.ComponentResourceOptions = {},
): () => Record<string, unknown> {
  return () => {
    const outputs: Record<string, unknown> = {};
    if (components.includes('serve') && config.serve) {
      const s = new SpotServeFleet('serve', config.serve, opts);
      Object.assign(outputs, {
        workerInstanceProfileName: s.workerInstanceProfileName,
        modelsBucketName: s.modelsBucketName,
        checkpointsBucketName: s.checkpointsBucketName,
        artifactsLocation: s.artifactsLocation,
        workerSecurityGroupId: s.workerSecurityGroupId,
        autoScalingGroupName: s.autoScalingGroupName,
        launchTemplateId: s.launchTemplateId,
        loadBalancerDnsName: s.loadBalancerDnsName,
      });
    }
    if (components.includes('batch') && config.batch) {
      const b = new SpotBatchFleet('batch', config.batch, opts);
      Object.assign(outputs, {
        ecsClusterName: b.ecsClusterName,
        ecsServiceName: b.ecsServiceName,
        ecrRepositoryUrl: b.ecrRepositoryUrl,
        sqsTaskQueueUrl: b.taskQueueUrl,
        sqsResultQueueUrl: b.resultQueueUrl,
        sqsDlqUrl: b.deadLetterQueueUrl,
        s3BucketName: b.bucketName,
        coordinatorRoleArn: b.coordinatorRoleArn,
        coordinatorEnv: b.coordinatorEnv,
        redisEndpoint: b.redisEndpoint,
      });
    }
    const clusters: InfraIIConfig = {
      kubernetes: components.includes('kubernetes') ? config.kubernetes : undefined,
      pipelines: components.includes('pipelines') ? config.pipelines : undefined,
    };
    if (clusters.kubernetes || clusters.pipelines) {
      // PipelineCluster has no Redis (only SpotBatchFleet's optional one names redisEndpoint).
      Object.assign(outputs, infraIIProgram(clusters, opts)());
    }
    return outputs;
  };
}

export interface AuditStackOptions extends AuditOptions {
  /** Stack name (selects the environment). @default 'dev' */
  stack?: string | undefined;
  /** @default every component in the config */
  components?: readonly InfraComponent[] | undefined;
}

/** Renders the config under mocks and audits what it registers. */
export async function auditInfraConfig(
  config: InfraConfig,
  options: AuditStackOptions = {},
): Promise<{ report: AuditReport; resources: AuditResource[] }> {
  const { resources } = await runMockStack((opts) => infraProgram(config, options.components, opts)(), { stack: options.stack ?? 'dev' });
  // Every rule, issue 7's and issue 8's: a rule whose resources are absent finds nothing.
  return { report: auditResources(resources, { rules: options.rules ?? ALL_AUDIT_RULES, skip: options.skip }), resources };
}

export interface CostStackOptions extends CostAssumptions {
  /** Stack name (selects the environment). @default 'dev' */
  stack?: string | undefined;
  /** @default every component in the config */
  components?: readonly InfraComponent[] | undefined;
  /** @default the shipped table, packages/infra/data/prices-us-east-1.json */
  prices?: PriceTable | undefined;
}

/** Renders the config under mocks and prices what it registers. */
export async function estimateInfraConfigCost(config: InfraConfig, options: CostStackOptions = {}): Promise<CostEstimate> {
  const { resources } = await runMockStack((opts) => infraProgram(config, options.components, opts)(), { stack: options.stack ?? 'dev' });
  return estimateCost(resources, options.prices ?? loadPriceTable(), options);
}
