/**
 * `auditResources`: runs the security rules over a stack's resources and says whether it
 * passes. Resources come from the mocks (`runMockStack`) or from Pulumi's own JSON
 * (`pulumi preview --json`, `pulumi stack export`), read by `resourcesFromPulumiJson`.
 */
import { SynktiError } from '@synkti/core';
import { AUDIT_RULES, type AuditResource, type AuditRule, type Finding } from './audit-rules.ts';

export interface AuditReport {
  /** Resources checked. */
  checked: number;
  /** Rules applied. */
  rules: string[];
  findings: Finding[];
  errors: number;
  warnings: number;
  /** No error-severity finding. */
  passed: boolean;
}

export interface AuditOptions {
  /** Rules to apply. @default AUDIT_RULES */
  rules?: readonly AuditRule[] | undefined;
  /** Rule ids to skip (an explicit, visible exception). @default [] */
  skip?: readonly string[] | undefined;
}

export function auditResources(resources: readonly AuditResource[], options: AuditOptions = {}): AuditReport {
  const skip = new Set(options.skip ?? []);
  const rules = (options.rules ?? AUDIT_RULES).filter((r) => !skip.has(r.id));
  const findings = rules.flatMap((rule) => rule.check(resources));
  const errors = findings.filter((f) => f.severity === 'error').length;
  return {
    checked: resources.length,
    rules: rules.map((r) => r.id),
    findings,
    errors,
    warnings: findings.length - errors,
    passed: errors === 0,
  };
}

function nameOfUrn(urn: string): string {
  return urn.split('::').pop() ?? urn;
}

interface PulumiState {
  urn?: string;
  type?: string;
  id?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  protect?: boolean;
  retainOnDelete?: boolean;
  custom?: boolean;
}

function fromState(s: PulumiState): AuditResource | undefined {
  if (!s.type || !s.urn) return undefined;
  return {
    type: s.type,
    name: nameOfUrn(s.urn),
    id: s.id ?? s.urn,
    inputs: s.inputs ?? {},
    state: s.outputs,
    protect: s.protect,
    retainOnDelete: s.retainOnDelete,
  };
}

/**
 * Resources from `pulumi preview --json` (steps[].newState), `pulumi stack export`
 * (deployment.resources[]) or `{ resources: AuditResource[] }` (what `--json` of the
 * mocks prints).
 */
export function resourcesFromPulumiJson(text: string, source = 'input'): AuditResource[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new SynktiError('E_INFRA_AUDIT_INPUT', `${source} is not JSON`, {
      cause,
      hint: 'pass the output of `pulumi preview --json` or `pulumi stack export`',
    });
  }
  const d = doc as {
    steps?: Array<{ op?: string; newState?: PulumiState }>;
    deployment?: { resources?: PulumiState[] };
    resources?: AuditResource[];
  };
  if (Array.isArray(d.steps)) {
    return d.steps
      .filter((s) => s.op !== 'delete' && s.newState)
      .map((s) => fromState(s.newState as PulumiState))
      .filter((r): r is AuditResource => r !== undefined);
  }
  if (Array.isArray(d.deployment?.resources)) {
    return d.deployment.resources.map(fromState).filter((r): r is AuditResource => r !== undefined);
  }
  if (Array.isArray(d.resources)) {
    return d.resources
      .filter((r) => typeof r?.type === 'string' && typeof r.name === 'string')
      .map((r) => ({ ...r, inputs: r.inputs ?? {} }));
  }
  throw new SynktiError('E_INFRA_AUDIT_INPUT', `${source} holds no Pulumi resources`, {
    hint: 'pass the output of `pulumi preview --json` or `pulumi stack export`',
  });
}

/** Human report: one line per finding, then a verdict. */
export function formatAuditReport(report: AuditReport): string {
  const lines = report.findings.map(
    (f) => `${f.severity === 'error' ? 'FAIL' : 'warn'}  ${f.rule.padEnd(28)} ${f.resource}\n      ${f.message}\n      fix: ${f.fix}`,
  );
  lines.push(
    `${report.passed ? 'passed' : 'FAILED'}: ${report.checked} resources, ${report.rules.length} rules, ${report.errors} error(s), ${report.warnings} warning(s)`,
  );
  return lines.join('\n');
}
