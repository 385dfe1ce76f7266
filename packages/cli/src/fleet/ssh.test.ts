/**
 * `synkti ssh`: which node an argument names, the check for the aws CLI and its Session
 * Manager plugin (PATH stubbed with temp directories), the exact `aws ssm start-session`
 * it runs (EC2 mocked, the session stubbed), and the real CLI's exit code 5 with the
 * install link when the aws CLI is missing. No real SSM session is opened.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { isSynktiError, validateCluster } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { AWS_CLI_INSTALL_URL, SSM_PLUGIN_INSTALL_URL, findOnPath, resolveNode, ssh, ssmTools } from '../commands/ssh.ts';
import { fakeEc2, type FakeEc2Instance } from './aws-fleet-testing.ts';

const SPEC = validateCluster({ name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 2 } } });
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function binDir(...tools: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-ssh-bin-'));
  dirs.push(dir);
  for (const tool of tools) {
    writeFileSync(join(dir, tool), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}

function record(id: string, privateIp: string, tags: Record<string, string> = {}): InstanceRecord {
  return { id, state: 'running', privateIp, instanceType: 't', zone: 'z', lifecycle: 'spot', launchedAt: 0, tags };
}

const RECORDS = [
  record('i-0abc111111111111a', '10.0.0.5', { Name: 'prod-worker-a' }),
  record('i-0abc222222222222b', '10.0.0.50'),
  record('i-0def333333333333c', '10.0.1.7', { Name: 'gpu-1' }),
];

describe('ssh: naming the node', () => {
  it('by exact id, unique prefix, private IP or Name tag', () => {
    assert.equal(resolveNode(RECORDS, 'i-0abc222222222222b', 'prod').id, 'i-0abc222222222222b');
    assert.equal(resolveNode(RECORDS, 'i-0def', 'prod').id, 'i-0def333333333333c');
    assert.equal(resolveNode(RECORDS, '10.0.0.5', 'prod').id, 'i-0abc111111111111a', 'an IP matches exactly, not as a prefix of 10.0.0.50');
    assert.equal(resolveNode(RECORDS, 'gpu-1', 'prod').id, 'i-0def333333333333c');
  });

  it('an ambiguous prefix lists the matches; an unknown node lists the nodes', () => {
    assert.throws(
      () => resolveNode(RECORDS, 'i-0abc', 'prod'),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /matches 2 nodes \(i-0abc111111111111a, i-0abc222222222222b\)/.test(e.message),
    );
    assert.throws(
      () => resolveNode(RECORDS, 'i-0zzz', 'prod'),
      (e: unknown) =>
        isSynktiError(e, 'E_NOT_FOUND') &&
        /no live node "i-0zzz" in cluster prod/.test(e.message) &&
        /i-0abc111111111111a, i-0abc222222222222b, i-0def/.test(e.hint ?? ''),
    );
    assert.throws(
      () => resolveNode([], 'i-0abc', 'prod'),
      (e: unknown) => isSynktiError(e, 'E_NOT_FOUND') && /no live node/.test(e.hint ?? ''),
    );
  });
});

describe('ssh: the aws CLI and its Session Manager plugin', () => {
  it('a missing aws CLI is named with the install link', () => {
    assert.throws(
      () => ssmTools({ PATH: binDir() }),
      (e: unknown) =>
        isSynktiError(e, 'E_TOOL_MISSING') && /AWS CLI \(aws\)/.test(e.message) && (e.hint ?? '').includes(AWS_CLI_INSTALL_URL),
    );
  });

  it('a missing session-manager-plugin is named with its install link', () => {
    assert.throws(
      () => ssmTools({ PATH: binDir('aws') }),
      (e: unknown) =>
        isSynktiError(e, 'E_TOOL_MISSING') && /session-manager-plugin/.test(e.message) && (e.hint ?? '').includes(SSM_PLUGIN_INSTALL_URL),
    );
  });

  it('both present (in any PATH entry): found; a non-executable file does not count', () => {
    const a = binDir('aws');
    const b = binDir('session-manager-plugin');
    assert.deepEqual(ssmTools({ PATH: `${a}:/nonexistent:${b}` }), { aws: join(a, 'aws'), plugin: join(b, 'session-manager-plugin') });
    const plain = binDir();
    writeFileSync(join(plain, 'aws'), 'not executable');
    assert.equal(findOnPath('aws', plain), undefined);
  });

  it('runs `aws ssm start-session --target <id> --region <region>` for the node named', async () => {
    const fleet: FakeEc2Instance[] = [
      {
        id: 'i-0abc111111111111a',
        state: 'running',
        tags: { SynktiCluster: 'prod', SynktiRole: 'worker' },
        privateIp: '10.0.0.5',
        launchedAt: 1,
      },
      {
        id: 'i-0abc222222222222b',
        state: 'running',
        tags: { SynktiCluster: 'other', SynktiRole: 'worker' },
        privateIp: '10.0.0.6',
        launchedAt: 2,
      },
    ];
    const { client, mock } = fakeEc2(fleet);
    const bin = binDir('aws', 'session-manager-plugin');
    const runs: { command: string; args: string[] }[] = [];
    try {
      const outcome = await ssh(SPEC, '/nonexistent/synkti.config.ts', 'i-0abc', {
        ec2Client: client,
        env: { PATH: bin },
        run: async (command, args) => {
          runs.push({ command, args });
          return 7;
        },
      });
      assert.deepEqual(
        runs,
        [{ command: join(bin, 'aws'), args: ['ssm', 'start-session', '--target', 'i-0abc111111111111a', '--region', 'eu-west-1'] }],
        "the prefix is unique within this cluster (the other cluster's instance is never considered)",
      );
      assert.deepEqual(outcome, { kind: 'aws', id: 'i-0abc111111111111a', exitCode: 7, command: [join(bin, 'aws'), ...runs[0]!.args] });

      const calls = mock.commandCalls(DescribeInstancesCommand).length;
      await assert.rejects(
        ssh(SPEC, '/nonexistent/synkti.config.ts', 'i-0abc', { ec2Client: client, env: { PATH: binDir('aws') }, run: async () => 0 }),
        (e: unknown) => isSynktiError(e, 'E_TOOL_MISSING'),
      );
      assert.equal(mock.commandCalls(DescribeInstancesCommand).length, calls, 'the tools are checked before any EC2 call');
    } finally {
      mock.restore();
    }
  });

  it('the CLI: exit code 5 and the install link when aws is not on PATH', async () => {
    const project = mkdtempSync(join(tmpdir(), 'synkti-ssh-cli-'));
    dirs.push(project);
    writeFileSync(
      join(project, 'synkti.config.ts'),
      "export default { name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 1 } } };\n",
    );
    const cli = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [cli, 'ssh', 'i-0abc'], {
        cwd: project,
        env: { ...process.env, PATH: binDir() },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /needs the AWS CLI \(aws\)/);
    assert.ok(result.stderr.includes(AWS_CLI_INSTALL_URL), result.stderr);
  });
});
