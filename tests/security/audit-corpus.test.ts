/**
 * The audit cannot be walked around: every planted bad configuration in
 * audit-corpus/planted.json (each names the rule it must trip) fails the audit library
 * with that rule; each near miss in audit-corpus/clean.json does not trip its rule; hostile
 * documents (huge, deep, many blocks) are judged fast and fail closed; and a few of the
 * plants go through the real `synkti infra audit` CLI (a stack export with several plants,
 * and a serve config whose SSH blocks are the two halves of IPv4), which exits 1 naming
 * each rule. Every plant is recorded in the security ledger as an attack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_AUDIT_RULES, auditResources, type AuditResource } from '@synkti/infra';
import { runCli } from '../helpers/cli.ts';
import { recordAttack } from './attack-ledger.ts';

interface Plant {
  name: string;
  rule: string;
  attack: string;
  resources: AuditResource[];
}
interface NearMiss {
  name: string;
  rule: string;
  why: string;
  resources: AuditResource[];
}

const dir = new URL('./audit-corpus/', import.meta.url);
const planted = JSON.parse(readFileSync(new URL('planted.json', dir), 'utf8')) as Plant[];
const clean = JSON.parse(readFileSync(new URL('clean.json', dir), 'utf8')) as NearMiss[];

function errorsOf(resources: readonly AuditResource[], rule: string): string[] {
  return auditResources(resources, { rules: ALL_AUDIT_RULES })
    .findings.filter((f) => f.rule === rule && f.severity === 'error')
    .map((f) => f.message);
}

test('the corpus holds at least 40 plants, each naming a rule that exists', () => {
  assert.ok(planted.length >= 40, `${planted.length} plants`);
  const ids = new Set(ALL_AUDIT_RULES.map((r) => r.id));
  for (const p of planted) assert.ok(ids.has(p.rule), `${p.name}: unknown rule ${p.rule}`);
  assert.equal(new Set(planted.map((p) => p.name)).size, planted.length, 'plant names are unique');
});

for (const plant of planted) {
  test(`planted ${plant.name}: ${plant.attack} → ${plant.rule}`, () => {
    const report = auditResources(plant.resources, { rules: ALL_AUDIT_RULES });
    const tripped = report.findings.some((f) => f.rule === plant.rule && f.severity === 'error');
    recordAttack(`audit walk-around: ${plant.attack} (${plant.rule})`, tripped && !report.passed);
    assert.ok(
      tripped,
      `${plant.name} must trip ${plant.rule}; findings: ${JSON.stringify(report.findings.map((f) => [f.rule, f.message]))}`,
    );
    assert.equal(report.passed, false);
  });
}

test('near misses do not trip their rule (the audit reasons, it does not flag everything)', () => {
  for (const c of clean) assert.deepEqual(errorsOf(c.resources, c.rule), [], `${c.name} (${c.why})`);
});

test('hostile documents: huge, deep and wide inputs are judged within bounds and fail closed', () => {
  const started = Date.now();
  const role = (policy: unknown): AuditResource[] => [{ type: 'aws:iam/rolePolicy:RolePolicy', name: 'p', inputs: { policy } }];
  // 700 KB of policy: not read (IAM's own limit is 6 KB), and so not passed.
  const huge = JSON.stringify({
    Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/k' }],
    Pad: 'x'.repeat(700_000),
  });
  const hugeHeld = errorsOf(role(huge), 'iam-wildcard').some((m) => /cannot be read/.test(m));
  // A condition nested 5,000 levels deep restricts nothing.
  const depth = 5_000;
  const deep = `{"Statement":[{"Effect":"Allow","Action":"ec2:TerminateInstances","Resource":"*","Condition":${'{"StringEquals":'.repeat(depth)}{"aws:RequestedRegion":"us-east-1"}${'}'.repeat(depth)}}]}`;
  const deepHeld = errorsOf(role(deep), 'iam-wildcard').length > 0;
  // 5,000 statements: more than any real policy.
  const many = JSON.stringify({
    Statement: Array.from({ length: 5_000 }, () => ({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/k' })),
  });
  const manyHeld = errorsOf(role(many), 'iam-wildcard').length > 0;
  // 50,000 /32s then 0.0.0.0/0: only the first 10,000 blocks are read, and the rest is reported, not passed.
  const blocks = [...Array.from({ length: 50_000 }, (_, i) => `11.${(i >> 8) & 255}.${i & 255}.1/32`), '0.0.0.0/0'];
  const wideHeld =
    errorsOf(
      [
        {
          type: 'aws:ec2/securityGroup:SecurityGroup',
          name: 'wide',
          id: 'sg-w',
          inputs: { ingress: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidrBlocks: blocks }] },
        },
      ],
      'ssh-open',
    ).length > 0;
  const ms = Date.now() - started;
  for (const [name, held] of [
    ['700 KB policy', hugeHeld],
    ['5,000-deep condition', deepHeld],
    ['5,000 statements', manyHeld],
    ['50,001 CIDR blocks', wideHeld],
  ] as const) {
    recordAttack(`audit hostile input: ${name}`, held);
  }
  assert.deepEqual({ hugeHeld, deepHeld, manyHeld, wideHeld }, { hugeHeld: true, deepHeld: true, manyHeld: true, wideHeld: true });
  assert.ok(ms < 20_000, `hostile inputs took ${ms} ms`);
});

test(
  'synkti infra audit (the real CLI) fails a stack export of plants and a serve config opening SSH to both halves of IPv4',
  { timeout: 150_000 },
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'synkti-audit-corpus-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const picked = [
      'ssh-split-ipv4-halves',
      'router-split-ipv4',
      'all-ports-ipv6-zero',
      'admin-via-managedPolicyArns',
      'star-with-empty-condition',
      'action-question-marks',
      'instance-ebsBlockDevices',
      'spot-request-imdsv1',
      'db-pwd-task',
    ].map((name) => planted.find((p) => p.name === name)!);
    const resources = picked.flatMap((p) =>
      p.resources.map((r) => ({
        ...r,
        urn: `urn:pulumi:prod::synkti::${r.type}::${p.name}-${r.name}`,
        id: r.id ? `${p.name}-${r.id}` : undefined,
      })),
    );
    writeFileSync(join(work, 'export.json'), JSON.stringify({ version: 3, deployment: { resources } }));
    writeFileSync(join(work, 'synkti.infra.json'), JSON.stringify({ serve: { sshCidrBlocks: ['0.0.0.0/1', '128.0.0.0/1'] } }));
    // Both at once: each CLI start loads Pulumi (seconds on a loaded machine).
    const [fromExport, fromConfig] = await Promise.all([
      runCli(['infra', 'audit', '--from', 'export.json', '--json'], { cwd: work, timeoutMs: 120_000 }),
      runCli(['infra', 'audit', '--component', 'serve'], { cwd: work, timeoutMs: 120_000 }),
    ]);
    const report = JSON.parse(fromExport.stdout) as { passed: boolean; findings: Array<{ rule: string; resource: string }> };
    for (const p of picked) {
      const held = fromExport.code === 1 && report.findings.some((f) => f.rule === p.rule && f.resource.includes(`::${p.name}-`));
      recordAttack(`synkti infra audit --from: ${p.attack} (${p.rule})`, held);
      assert.ok(held, `${p.name} → ${p.rule} (exit ${fromExport.code}): ${fromExport.stdout.slice(0, 2000)}`);
    }
    assert.match(fromExport.stderr, /security rule breach/);

    const held =
      fromConfig.code === 1 && /FAIL {2}ssh-open[\s\S]*0\.0\.0\.0\/1, 128\.0\.0\.0\/1 \(all of public IPv4\)/.test(fromConfig.stdout);
    recordAttack('synkti infra audit: serve config sshCidrBlocks 0.0.0.0/1 + 128.0.0.0/1', held);
    assert.ok(held, `exit ${fromConfig.code}: ${fromConfig.stdout}\n${fromConfig.stderr}`);
  },
);
