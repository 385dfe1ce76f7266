/**
 * The AWS path end to end on one machine, as a user runs it: `synkti demo --on
 * aws-emulator --json` starts the emulated AWS (moto + instance emulator), runs `synkti
 * bootstrap --skip-infra` (buckets, agent, Node.js, SSM secret, model, 3 workers booting
 * from the rendered user data with the real aws CLI), streams chat completions through
 * the workers' routers through a spot preemption (20 s notice) and a crash, then `synkti
 * down`. Every call the workers make is checked against the worker role SpotServeFleet
 * builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMotoServer } from '@synkti/aws-emulator';
import { runCli } from './helpers/cli.ts';

function missingTools(): string | undefined {
  if (!findMotoServer()) return 'moto_server is not on PATH (python3 -m pip install "moto[server]")';
  if (spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).status !== 0)
    return 'the aws CLI is not on PATH (python3 -m pip install awscli)';
  return undefined;
}

test(
  'synkti demo --on aws-emulator: bootstrap, serve through a preemption and a crash, replace, down, IAM clean',
  { timeout: 420_000 },
  async (t) => {
    const missing = missingTools();
    if (missing) {
      if (process.env.SYNKTI_REQUIRE_SERVICES === '1') assert.fail(missing);
      return t.skip(`${missing} (set SYNKTI_REQUIRE_SERVICES=1 to make this a failure)`);
    }
    const cwd = mkdtempSync(join(tmpdir(), 'synkti-aws-demo-test-'));
    t.after(() => rmSync(cwd, { recursive: true, force: true }));
    const result = await runCli(['demo', '--on', 'aws-emulator', '--duration', '30s', '--json'], {
      cwd,
      timeoutMs: 400_000,
      env: { SYNKTI_LOG_LEVEL: 'warn' },
    });
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr.slice(-3000)}`);
    const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
    const summary = JSON.parse(lastLine) as Record<string, unknown>;
    t.diagnostic(`summary: ${lastLine} (${result.ms} ms)`);

    assert.equal(summary.provider, 'aws');
    assert.ok((summary.requests as number) >= 30, `traffic flowed: ${summary.requests} requests`);
    assert.equal(summary.failedAtPreemption, 0, `no request failed because of the preemption: ${JSON.stringify(summary.failures)}`);
    assert.equal(summary.preemptions, 1);
    assert.equal(summary.crashes, 1);
    // One replacement each: the preempted node's own (at its notice), the crashed node's (by a survivor).
    assert.equal(summary.replacements, 2, 'one replacement each, launched by the agents through RunInstances');
    assert.equal(summary.fleetSizeStart, 3);
    assert.equal(summary.fleetSizeEnd, 3, 'the fleet is back to 3 serving nodes');
    assert.ok((summary.awsCalls as number) > 0, 'the workers made AWS calls with their role credentials');
    assert.equal(summary.iamDenied, 0, `no call denied by the stack's IAM: ${JSON.stringify(summary.denials)}`);
    assert.equal(summary.modelVerified, true, 'every serving node fetched and verified the model');
    assert.equal(summary.instancesLeft, 0, 'nothing running after synkti down');
  },
);
