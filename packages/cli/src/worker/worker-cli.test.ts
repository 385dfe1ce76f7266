/**
 * `synkti worker` through the real CLI process (node packages/cli/bin/synkti.mjs):
 * user-data output is valid bash carrying the given checksums; bad flags are usage
 * errors naming the flag; launch, list and terminate work on the local provider.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadClusterConfig } from '@synkti/core';
import { down } from '../commands/down.ts';
import { makeProject, runCli, uniqueName, waitFor } from '../../../../tests/helpers/cli.ts';

const exec = promisify(execFile);
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function awsProject(t: { after(fn: () => void): void }) {
  const project = makeProject({ name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 2 } } });
  t.after(() => project.cleanup());
  return project;
}

async function bashN(dir: string, script: string): Promise<void> {
  const file = join(dir, 'user-data.sh');
  writeFileSync(file, script);
  await exec('bash', ['-n', file]);
}

describe('synkti worker user-data', () => {
  it('prints a boot script that passes bash -n: settings from flags and SYNKTI_* variables, checksums from the local files', async (t) => {
    const project = awsProject(t);
    writeFileSync(join(project.dir, 'agent.tgz'), 'agent bytes');
    const result = await runCli(['worker', 'user-data', '--version', '0.2.0', '--artifact', 'agent.tgz', '--arch', 'arm64'], {
      cwd: project.dir,
      env: { SYNKTI_BUCKET: 'acme-synkti-prod', SYNKTI_NODE_SHA256: SHA_B, SYNKTI_NODE_VERSION: '20.11.1' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.startsWith('#!/bin/bash\n'));
    assert.equal(result.stderr, '', 'stdout is the script alone, nothing else printed');
    await bashN(project.dir, result.stdout);
    const agentSha = createHash('sha256').update('agent bytes').digest('hex');
    assert.match(result.stdout, new RegExp(`^readonly AGENT_SHA256='${agentSha}'$`, 'm'));
    assert.match(result.stdout, new RegExp(`^readonly NODE_SHA256='${SHA_B}'$`, 'm'));
    assert.match(result.stdout, /^readonly BUCKET='acme-synkti-prod'$/m);
    assert.match(result.stdout, /^readonly AGENT_KEY='artifacts\/synkti-agent-0\.2\.0\.tgz'$/m);
    assert.match(result.stdout, /^readonly NODE_KEY='artifacts\/node-v20\.11\.1-linux-arm64\.tar\.xz'$/m);
    assert.match(result.stdout, /^readonly REGION='eu-west-1'$/m);
    assert.match(result.stdout, /^systemctl enable --now synkti$/m);
  });

  it('a bad flag or a local cluster is a usage error (exit 2), with nothing on stdout', async (t) => {
    const project = awsProject(t);
    const local = makeProject({ name: 'home', pools: { worker: { count: 1 } } });
    t.after(() => local.cleanup());
    // Every flag's message is covered in worker-settings.test.ts; here, that the process reports them.
    const cases: [string, string[], RegExp][] = [
      [project.dir, ['--bucket', 'acme', '--sha256', 'abc', '--node-sha256', SHA_B], /--sha256: is not a SHA-256[\s\S]*hint: /],
      [
        local.dir,
        ['--bucket', 'acme', '--sha256', SHA_A, '--node-sha256', SHA_B],
        /provider \(synkti\.config\.ts\): worker user data is for EC2/,
      ],
    ];
    await Promise.all(
      cases.map(async ([cwd, args, message]) => {
        const result = await runCli(['worker', 'user-data', ...args], { cwd });
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, message, args.join(' '));
        assert.equal(result.stdout, '', 'no partial script on stdout');
        assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      }),
    );
  });

  it('has help: the group lists its commands, user-data says how to prepare the bucket and read the logs', async (t) => {
    const project = awsProject(t);
    const help = await runCli(['worker', 'user-data', '--help'], { cwd: project.dir });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /journalctl -u synkti -f/);
    assert.match(help.stdout, /SYNKTI_BUCKET/);
    assert.match(help.stdout, /ssm put-parameter --type SecureString/);
    const { buildProgram } = await import('../main.ts');
    const group = buildProgram().commands.find((c) => c.name() === 'worker');
    assert.ok(group, 'synkti worker exists');
    assert.deepEqual(
      group.commands.map((c) => c.name()),
      ['pack', 'user-data', 'launch', 'list', 'terminate'],
    );
    for (const command of group.commands) assert.ok(command.description().length > 20, `${command.name()} is described`);
  });
});

describe('synkti worker launch | list | terminate on the local provider', () => {
  it('launches two workers, terminates one by id prefix, lists the other', async (t) => {
    const project = makeProject({ name: uniqueName('wk'), pools: { worker: { count: 1 } } });
    t.after(async () => {
      // In-process (no CLI start-up cost): kill whatever is left, then remove the project.
      const { spec, file } = await loadClusterConfig({ cwd: project.dir });
      await down(spec, file, { force: true, timeoutMs: 20_000, quiet: true });
      project.cleanup();
    });
    const launch = await runCli(['worker', 'launch', '--count', '2', '--json'], { cwd: project.dir });
    assert.equal(launch.code, 0, launch.stderr);
    const launched = JSON.parse(launch.stdout) as { id: string; role: string; lifecycle: string }[];
    assert.equal(launched.length, 2);
    assert.ok(launched.every((r) => r.role === 'worker' && r.lifecycle === 'spot'));

    const [gone, kept] = [launched[0]!, launched[1]!];
    const terminate = await runCli(['worker', 'terminate', gone.id.slice(0, 12), '--json'], { cwd: project.dir });
    assert.equal(terminate.code, 0, terminate.stderr);
    assert.deepEqual(JSON.parse(terminate.stdout), { terminated: [gone.id] });
    await waitFor(
      'the terminated worker to leave the list',
      async () => {
        const now = await runCli(['worker', 'list', '--json'], { cwd: project.dir });
        assert.equal(now.code, 0, now.stderr);
        const ids = (JSON.parse(now.stdout) as { id: string }[]).map((r) => r.id);
        return ids.includes(gone.id) ? undefined : ids;
      },
      30_000,
      250,
    ).then((ids) => assert.deepEqual(ids, [kept.id]));
  });
});
