/**
 * `synkti infra audit` over issue 8's components too: a Kubernetes cluster and a pipeline
 * cluster from an infra config pass with their defaults; a stack (here a `pulumi stack
 * export`) holding a spot control plane fails, naming the rule and the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8S_ROLES } from '@synkti/infra';
import { TAG_ROLE } from '@synkti/core';
import { runCli } from '../../../../tests/helpers/cli.ts';

test(
  'infra audit renders kubernetes and pipelines from the config and passes their defaults; a spot control plane fails',
  { timeout: 420_000 },
  async (t) => {
    // Each CLI run's bound is only a "did it hang" bound: at load ~30 (2 cores, two busy loops
    // beside the suite) the second run alone took over 60 s to start tsx and finish.
    const dir = mkdtempSync(join(tmpdir(), 'synkti-infra-clusters-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'synkti.infra.json'), JSON.stringify({ kubernetes: { provider: 'digitalocean' }, pipelines: {} }));
    const passing = await runCli(['infra', 'audit', '--stack', 'prod', '--json'], { cwd: dir, timeoutMs: 180_000 });
    assert.equal(passing.code, 0, passing.stderr);
    const report = JSON.parse(passing.stdout) as { passed: boolean; checked: number; rules: string[] };
    assert.equal(report.passed, true);
    assert.ok(report.rules.includes('spot-critical-node'), 'issue 8 rules are applied');
    assert.ok(report.checked > 50, `${report.checked} resources rendered`);

    const exported = {
      deployment: {
        resources: [
          {
            urn: 'urn:pulumi:prod::synkti::aws:ec2/launchTemplate:LaunchTemplate::k8s-cp',
            type: 'aws:ec2/launchTemplate:LaunchTemplate',
            inputs: {
              instanceMarketOptions: { marketType: 'spot' },
              metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
              tagSpecifications: [{ resourceType: 'instance', tags: { [TAG_ROLE]: K8S_ROLES.controlPlane } }],
            },
          },
        ],
      },
    };
    writeFileSync(join(dir, 'export.json'), JSON.stringify(exported));
    const failing = await runCli(['infra', 'audit', '--from', 'export.json'], { cwd: dir, timeoutMs: 180_000 });
    assert.equal(failing.code, 1, failing.stdout + failing.stderr);
    assert.match(failing.stdout, /spot-critical-node/);
    assert.match(failing.stdout, /on-demand/);
  },
);
