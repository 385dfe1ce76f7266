/**
 * `synkti infra` as a user runs it (child processes of the real CLI): an insecure input
 * (SSH from 0.0.0.0/0) fails the audit with exit code 1 and says which rule and how to
 * fix it; the defaults pass; deploy commands without the Pulumi CLI say how to install it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));

function synkti(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`synkti ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('synkti infra audit: SSH from 0.0.0.0/0 exits 1 naming the rule and the fix; the defaults exit 0 (--json)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-infra-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'insecure.json'), JSON.stringify({ serve: { sshCidrBlocks: ['0.0.0.0/0'] } }));
  const [bad, good] = await Promise.all([
    synkti(['infra', 'audit', '--infra-config', 'insecure.json'], dir),
    synkti(['infra', 'audit', '--component', 'serve', '--stack', 'production', '--json'], dir),
  ]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(
    bad.stdout,
    /FAIL {2}ssh-open +aws:ec2\/securityGroup:SecurityGroup::serve-worker\n {6}SSH \(port 22\) is open to 0\.0\.0\.0\/0\n {6}fix: /,
  );
  assert.match(bad.stderr, /synkti: 1 security rule breach\(es\)/);
  assert.match(bad.stdout, /^FAILED: \d+ resources, \d+ rules, 1 error\(s\), 0 warning\(s\)$/m);
  assert.equal(good.code, 0, good.stderr);
  const report = JSON.parse(good.stdout) as { passed: boolean; checked: number; findings: unknown[] };
  assert.equal(report.passed, true);
  assert.deepEqual(report.findings, []);
  assert.ok(report.checked > 20);
});

test('synkti infra preview without the Pulumi CLI says how to install it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-infra-nocli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await synkti(['infra', 'preview', '--stack', 'dev'], dir, { PATH: dir, HOME: dir });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /needs the Pulumi CLI[\s\S]*install the Pulumi CLI \(https:\/\/www\.pulumi\.com\/docs\/install\/\)/);
});
