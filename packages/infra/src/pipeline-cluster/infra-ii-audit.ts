/**
 * Registers issue 8's components and audit rules next to issue 7's: the program that
 * builds a `KubernetesCluster` and/or a `PipelineCluster` from a config, its stack outputs
 * (named as in the reference documents), and the audit over all rules. `synkti infra
 * audit|preview|up` can add these with a `kubernetes` and a `pipelines` key in its config.
 */
import type * as pulumi from '@pulumi/pulumi';
import { AUDIT_RULES, type AuditResource, type AuditRule } from '../audit/audit-rules.ts';
import { auditResources, type AuditOptions, type AuditReport } from '../audit/audit.ts';
import { K8S_AUDIT_RULES } from '../k8s/k8s-audit-rules.ts';
import type { KubernetesClusterArgs } from '../k8s/k8s-plan.ts';
import { KubernetesCluster } from '../k8s/kubernetes-cluster.ts';
import { runMockStack } from '../testing/mock-stack.ts';
import type { PipelineClusterArgs } from './pipeline-args.ts';
import { PIPELINE_AUDIT_RULES } from './pipeline-audit-rules.ts';
import { PipelineCluster } from './pipeline-cluster.ts';

/** Rules added by issue 8 (multi-cloud nodes, data services, monitoring). */
export const INFRA_II_AUDIT_RULES: readonly AuditRule[] = [...K8S_AUDIT_RULES, ...PIPELINE_AUDIT_RULES];
/** Issue 7's rules plus issue 8's: what `synkti infra audit` should apply. */
export const ALL_AUDIT_RULES: readonly AuditRule[] = [...AUDIT_RULES, ...INFRA_II_AUDIT_RULES];

export interface InfraIIConfig {
  /** Inputs of a KubernetesCluster named "k8s"; absent: none. */
  kubernetes?: KubernetesClusterArgs | undefined;
  /** Inputs of a PipelineCluster named "pipelines"; absent: none. */
  pipelines?: PipelineClusterArgs | undefined;
}

/** The program: creates the configured components, returns their outputs (secrets stay secret). */
export function infraIIProgram(config: InfraIIConfig, opts: pulumi.ComponentResourceOptions = {}): () => Record<string, unknown> {
  return () => {
    const outputs: Record<string, unknown> = {};
    if (config.kubernetes) {
      const k = new KubernetesCluster('k8s', config.kubernetes, opts);
      Object.assign(outputs, {
        kubeconfig: k.kubeconfig,
        talosconfig: k.talosconfig,
        controlPlaneEndpoints: Object.fromEntries(Object.entries(k.regions).map(([key, r]) => [key, r.controlPlaneEndpoint])),
      });
    }
    if (config.pipelines) {
      const p = new PipelineCluster('pipelines', config.pipelines, opts);
      Object.assign(outputs, {
        apiServiceArn: p.apiServiceArn,
        apiUrl: p.apiUrl,
        ecsClusterArn: p.ecsClusterArn,
        databaseEndpoint: p.databaseEndpoint,
        databaseProxyEndpoint: p.databaseProxyEndpoint,
        dashboardUrl: p.dashboardUrl,
        alertsTopicArn: p.alertsTopicArn,
        vpcId: p.vpcId,
        bucketName: p.bucketName,
      });
    }
    return outputs;
  };
}

/** Renders the config under mocks and audits it with every rule (issue 7's and 8's). */
export async function auditInfraIIConfig(
  config: InfraIIConfig,
  options: AuditOptions & { stack?: string | undefined } = {},
): Promise<{ report: AuditReport; resources: AuditResource[] }> {
  const { resources } = await runMockStack((opts) => infraIIProgram(config, opts)(), { stack: options.stack ?? 'dev' });
  return { report: auditResources(resources, { rules: options.rules ?? ALL_AUDIT_RULES, skip: options.skip }), resources };
}
