/**
 * What `synkti infra …` does. @synkti/infra (and Pulumi with it) is imported on use, so the
 * rest of the CLI starts without loading Pulumi.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SynktiError } from '@synkti/core';
import type { InfraComponent, InfraConfig } from '@synkti/infra';

/** Looked for in the working directory when no --config is given. */
export const DEFAULT_INFRA_CONFIG_FILE = 'synkti.infra.json';

export interface InfraCommonOptions {
  config?: string | undefined;
  stack: string;
  component?: InfraComponent | undefined;
}

async function loadConfig(o: InfraCommonOptions, fallback: InfraConfig | undefined): Promise<InfraConfig> {
  const { loadInfraConfig } = await import('@synkti/infra');
  if (o.config !== undefined) return loadInfraConfig(resolve(o.config));
  if (existsSync(DEFAULT_INFRA_CONFIG_FILE)) return loadInfraConfig(resolve(DEFAULT_INFRA_CONFIG_FILE));
  if (fallback) return fallback;
  throw new SynktiError('E_CONFIG_INFRA', `no infra config: pass --infra-config or write ${DEFAULT_INFRA_CONFIG_FILE}`, {
    hint: 'write {"serve": {...SpotServeFleet inputs}, "batch": {...}, "kubernetes": {"provider": "aws", ...}, "pipelines": {...}} (see packages/infra/README.md)',
  });
}

function components(o: InfraCommonOptions): InfraComponent[] {
  return o.component ? [o.component] : ['serve', 'batch', 'kubernetes', 'pipelines'];
}

export interface InfraAuditOptions extends InfraCommonOptions {
  /** Audit Pulumi JSON (`pulumi preview --json` / `pulumi stack export`) instead of rendering the config. */
  from?: string | undefined;
  skip: string[];
  json: boolean;
}

/** Prints the report; throws E_INFRA_AUDIT (exit 1) when any rule fails. */
export async function runInfraAudit(o: InfraAuditOptions, print: (text: string) => void): Promise<void> {
  const infra = await import('@synkti/infra');
  let report;
  if (o.from !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(o.from), 'utf8');
    } catch (cause) {
      throw new SynktiError('E_USAGE', `--from: cannot read ${o.from}`, {
        cause,
        hint: 'pass the file `pulumi preview --json > plan.json` wrote',
      });
    }
    report = infra.auditResources(infra.resourcesFromPulumiJson(text, o.from), { rules: infra.ALL_AUDIT_RULES, skip: o.skip });
  } else {
    // Without a config the defaults of the AWS components are audited (what `up` makes by
    // default); a Kubernetes cluster has no default (its provider must be chosen).
    const config = await loadConfig(o, { serve: {}, batch: {}, pipelines: {} });
    report = (await infra.auditInfraConfig(config, { stack: o.stack, components: components(o), skip: o.skip })).report;
  }
  print(o.json ? JSON.stringify(report) : infra.formatAuditReport(report));
  if (!report.passed) {
    throw new SynktiError('E_INFRA_AUDIT', `${report.errors} security rule breach(es) (docs/security.md)`, {
      hint: 'fix each FAIL line as its "fix:" says, then audit again',
    });
  }
}

export interface InfraDeployOptions extends InfraCommonOptions {
  plan?: string | undefined;
  backend?: string | undefined;
  json: boolean;
}

function stackOptions(o: InfraDeployOptions, config: InfraConfig, onOutput: (line: string) => void) {
  return { stack: o.stack, config, components: components(o), planFile: o.plan && resolve(o.plan), backendUrl: o.backend, onOutput };
}

export async function runInfraDeploy(
  action: 'preview' | 'up' | 'destroy' | 'outputs',
  o: InfraDeployOptions,
  print: (text: string) => void,
): Promise<void> {
  const infra = await import('@synkti/infra');
  // The CLI check comes first: without it nothing else can work, so say that before anything else.
  infra.requirePulumiCli(action);
  const config = await loadConfig(o, action === 'outputs' || action === 'destroy' ? {} : undefined);
  const progress = (line: string): void => {
    process.stderr.write(line);
  };
  if (action === 'preview') {
    // Audited before anything is previewed: an insecure stack never gets a plan.
    const { report } = await infra.auditInfraConfig(config, { stack: o.stack, components: components(o) });
    if (!report.passed) {
      print(infra.formatAuditReport(report));
      throw new SynktiError('E_INFRA_AUDIT', `${report.errors} security rule breach(es): no plan saved`, {
        hint: 'fix each FAIL line, then preview again',
      });
    }
    const result = await infra.infraPreview(stackOptions(o, config, progress));
    print(
      o.json
        ? JSON.stringify(result)
        : `plan saved to ${result.planFile}\napply exactly this plan with: synkti infra up --stack ${o.stack}${o.plan ? ` --plan ${o.plan}` : ''}`,
    );
  } else if (action === 'up') {
    const outputs = await infra.infraUp(stackOptions(o, config, progress));
    print(
      o.json
        ? JSON.stringify(outputs)
        : Object.entries(outputs)
            .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
            .join('\n'),
    );
  } else if (action === 'destroy') {
    const changes = await infra.infraDestroy(stackOptions(o, config, progress));
    print(
      o.json ? JSON.stringify(changes) : `destroyed (${JSON.stringify(changes)}); protected resources such as the models bucket are kept`,
    );
  } else {
    const outputs = await infra.infraOutputs(stackOptions(o, config, progress));
    print(
      o.json
        ? JSON.stringify(outputs)
        : Object.entries(outputs)
            .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
            .join('\n'),
    );
  }
}

export interface InfraCostOptions extends InfraCommonOptions {
  hoursPerDay: number;
  sqsRequests: number;
  s3Gb: number;
  atMax: boolean;
  prices?: string | undefined;
  json: boolean;
}

/** Prices the stack's resources (rendered under mocks) from the shipped or given price table. */
export async function runInfraCost(o: InfraCostOptions, print: (text: string) => void): Promise<void> {
  const infra = await import('@synkti/infra');
  const config = await loadConfig(o, { serve: {}, batch: {}, pipelines: {} });
  const estimate = await infra.estimateInfraConfigCost(config, {
    stack: o.stack,
    components: components(o),
    hoursPerDay: o.hoursPerDay,
    sqsRequestsPerMonth: o.sqsRequests,
    s3Gb: o.s3Gb,
    atMax: o.atMax,
    prices: o.prices === undefined ? undefined : infra.loadPriceTable(resolve(o.prices)),
  });
  print(o.json ? JSON.stringify({ stack: o.stack, ...estimate }) : infra.formatCostEstimate(estimate, `stack ${o.stack}: estimated cost`));
}
