/**
 * The audit over every rule passes on every default configuration of issue 8's components
 * (each provider × environment, the pipeline cluster per environment, together), and on
 * issue 7's fleets; it fails when a breach is planted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditResources } from '../audit/audit.ts';
import { auditInfraConfig } from '../infra-program.ts';
import { ENVIRONMENTS } from '../environments.ts';
import { K8S_PROVIDERS } from '../k8s/k8s-data.ts';
import { ALL_AUDIT_RULES, INFRA_II_AUDIT_RULES, auditInfraIIConfig } from './infra-ii-audit.ts';

const IMAGES = { nyc1: 'talos-image-nyc1', sfo1: 'talos-image-sfo1' };

test("every rule is registered once, issue 7's first", () => {
  const ids = ALL_AUDIT_RULES.map((r) => r.id);
  assert.equal(new Set(ids).size, ids.length, 'rule ids are unique');
  assert.deepEqual(
    ids.slice(-INFRA_II_AUDIT_RULES.length),
    INFRA_II_AUDIT_RULES.map((r) => r.id),
  );
  for (const id of [
    'spot-critical-node',
    'firewall-world-open',
    'lb-without-listener-multicloud',
    'database-public',
    'metric-not-emitted',
    'credential-in-env-value',
  ])
    assert.ok(ids.includes(id), id);
});

// (Each provider × environment alone is audited in kubernetes-cluster.test.ts; here the combined rules over combined stacks.)
let gcpProduction: ReturnType<typeof auditInfraIIConfig> | undefined;
const gcpProductionStack = (): ReturnType<typeof auditInfraIIConfig> =>
  (gcpProduction ??= auditInfraIIConfig({ kubernetes: { provider: 'gcp', images: IMAGES } }, { stack: 'production' }));

test('the combined audit passes on default configs: aws kubernetes + pipelines (dev, production), gcp and digitalocean in production', async () => {
  for (const environment of ENVIRONMENTS.filter((e) => e !== 'staging')) {
    const { report } = await auditInfraIIConfig({ kubernetes: { provider: 'aws', images: IMAGES }, pipelines: {} }, { stack: environment });
    assert.equal(report.passed, true, `${environment}: ${JSON.stringify(report.findings)}`);
    assert.ok(report.checked > 100, `${environment}: both components rendered`);
  }
  for (const provider of K8S_PROVIDERS.filter((p) => p !== 'aws')) {
    const { report } =
      provider === 'gcp'
        ? await gcpProductionStack()
        : await auditInfraIIConfig({ kubernetes: { provider, images: IMAGES } }, { stack: 'production' });
    assert.equal(report.passed, true, `${provider}: ${JSON.stringify(report.findings)}`);
  }
});

test("issue 7's default fleets pass the combined rules; a planted breach fails them", async () => {
  const { resources } = await auditInfraConfig({ serve: {}, batch: {} }, { stack: 'dev' });
  assert.equal(auditResources(resources, { rules: ALL_AUDIT_RULES }).passed, true);
  const { resources: k8s } = await gcpProductionStack();
  const planted = k8s.map((r) =>
    r.type === 'gcp:compute/instance:Instance' ? { ...r, inputs: { ...r.inputs, scheduling: { provisioningModel: 'SPOT' } } } : r,
  );
  const report = auditResources(planted, { rules: ALL_AUDIT_RULES });
  assert.equal(report.passed, false);
  assert.equal(report.findings.filter((f) => f.rule === 'spot-critical-node').length, 6, 'each of the 3 control planes in 2 regions');
});
