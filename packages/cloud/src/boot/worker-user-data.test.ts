/**
 * Rendering the worker user data: valid bash, under EC2's 16 KB, every input checked
 * (errors name the field), no secret in it, and a systemd unit systemd itself accepts.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { deserializeCluster, isSynktiError, validateCluster, type ClusterSpec } from '@synkti/core';
import {
  MAX_USER_DATA_BYTES,
  agentArtifactKey,
  nodeTarballKey,
  renderWorkerUserData,
  type WorkerUserDataOptions,
} from './worker-user-data.ts';
import { WORKER_PATHS } from './synkti-unit.ts';

const run = promisify(execFile);

const SPEC: ClusterSpec = validateCluster({ name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 2 } } });
const OPTIONS: WorkerUserDataOptions = {
  spec: SPEC,
  bucket: 'acme-synkti-prod',
  version: '0.1.0',
  sha256: 'A'.repeat(64),
  node: { version: '20.18.1', sha256: 'b'.repeat(64) },
};

function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-ud-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bashSyntaxCheck(script: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-ud-'));
  try {
    const file = join(dir, 'user-data.sh');
    writeFileSync(file, script);
    await run('bash', ['-n', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The body of the heredoc that writes `path` in the script. */
function embeddedFile(script: string, path: string): string {
  const start = script.indexOf(`write_file '${path}' `);
  assert.ok(start >= 0, `the script writes ${path}`);
  const body = script.slice(script.indexOf('\n', start) + 1);
  return body.slice(0, body.indexOf('\nSYNKTI_EOF\n') + 1);
}

function assertOptionError(options: unknown, field: RegExp): void {
  assert.throws(
    () => renderWorkerUserData(options as WorkerUserDataOptions),
    (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_USER_DATA_OPTIONS'), `a SynktiError E_USER_DATA_OPTIONS, got ${String(error)}`);
      assert.match(error.message, field);
      assert.ok(error.hint, 'with a hint');
      return true;
    },
  );
}

describe('renderWorkerUserData', () => {
  it('renders a bash script that passes bash -n and fits in EC2 user data', async () => {
    const script = renderWorkerUserData(OPTIONS);
    assert.ok(script.startsWith('#!/bin/bash\n'), 'cloud-init runs it as a shell script');
    assert.match(script, /^set -euo pipefail$/m);
    assert.ok(Buffer.byteLength(script) <= MAX_USER_DATA_BYTES);
    await bashSyntaxCheck(script);
  });

  it('embeds the checksums (lowercased) and the versioned keys in the cluster bucket', () => {
    const script = renderWorkerUserData(OPTIONS);
    assert.match(script, new RegExp(`^readonly AGENT_SHA256='${'a'.repeat(64)}'$`, 'm'));
    assert.match(script, new RegExp(`^readonly NODE_SHA256='${'b'.repeat(64)}'$`, 'm'));
    assert.match(script, /^readonly AGENT_KEY='artifacts\/synkti-agent-0\.1\.0\.tgz'$/m);
    assert.match(script, /^readonly NODE_KEY='artifacts\/node-v20\.18\.1-linux-x64\.tar\.xz'$/m);
    assert.match(script, /^readonly BUCKET='acme-synkti-prod'$/m);
    assert.match(script, /sha256sum -c/);
    assert.match(script, /aws s3api get-object --region "\$REGION" --bucket "\$BUCKET" --key "\$1" --expected-bucket-owner "\$owner"/);
    assert.doesNotMatch(script, /curl[^\n]*\|\s*(ba)?sh/, 'nothing from the internet is piped into a shell');
    assert.equal(agentArtifactKey('1.2.3'), 'artifacts/synkti-agent-1.2.3.tgz');
    assert.equal(nodeTarballKey('20.1.0', 'arm64'), 'artifacts/node-v20.1.0-linux-arm64.tar.xz');
  });

  it('carries the cluster config for the agent, and no secret', () => {
    const script = renderWorkerUserData(OPTIONS);
    const config = embeddedFile(script, WORKER_PATHS.clusterConfig);
    assert.deepEqual(deserializeCluster(config.trim()), SPEC);
    assert.doesNotMatch(script, /SYNKTI_CLUSTER_SECRET=/, 'the secret is never in user data');
    const fetcher = embeddedFile(script, WORKER_PATHS.fetchSecret);
    assert.match(fetcher, /aws ssm get-parameter --region 'eu-west-1' --name '\/synkti\/prod\/cluster-secret' --with-decryption/);
  });

  it('writes synkti.service: journal logging, restart on failure, unprivileged user, the agent env', () => {
    const unit = embeddedFile(renderWorkerUserData({ ...OPTIONS, logLevel: 'debug' }), WORKER_PATHS.unit);
    for (const line of [
      'User=synkti',
      'Restart=on-failure',
      'StandardOutput=journal',
      'StandardError=journal',
      'SyslogIdentifier=synkti',
      'Environment="SYNKTI_CLUSTER=prod"',
      'Environment="SYNKTI_PROVIDER=aws"',
      'Environment="AWS_REGION=eu-west-1"',
      'Environment="SYNKTI_IMDS_ENDPOINT=http://169.254.169.254"',
      'Environment="SYNKTI_CLUSTER_CONFIG_FILE=/etc/synkti/cluster.json"',
      'Environment="SYNKTI_CLUSTER_SECRET_FILE=/run/synkti/cluster-secret"',
      'Environment="SYNKTI_LOG_LEVEL=debug"',
      'ExecStartPre=/opt/synkti/libexec/fetch-cluster-secret',
      'ExecStart=/opt/synkti/node-v20.18.1/bin/node /opt/synkti/0.1.0/bin/synkti-agent.mjs',
      'TimeoutStopSec=60',
      'WantedBy=multi-user.target',
    ]) {
      assert.ok(unit.split('\n').includes(line), `unit has ${line}:\n${unit}`);
    }
  });

  it('writes a unit that systemd-analyze verify accepts (apart from binaries not installed here)', (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    withTemp((dir) => {
      const file = join(dir, 'synkti.service');
      writeFileSync(file, embeddedFile(renderWorkerUserData(OPTIONS), WORKER_PATHS.unit));
      const result = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      const complaints = `${result.stdout}\n${result.stderr}`
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/is not executable: No such file or directory/.test(l));
      assert.deepEqual(complaints, [], 'no unknown keys or bad values');
    });
  });

  it('names the field of each bad input', () => {
    assertOptionError({ ...OPTIONS, bucket: 'Not_A_Bucket' }, /^bucket: /);
    assertOptionError({ ...OPTIONS, bucket: '192.168.1.1' }, /^bucket: /);
    assertOptionError({ ...OPTIONS, bucket: undefined }, /^bucket: is required/);
    assertOptionError({ ...OPTIONS, version: '../1.0' }, /^version: /);
    assertOptionError({ ...OPTIONS, version: "1.0'; rm -rf /" }, /^version: /);
    assertOptionError({ ...OPTIONS, sha256: 'abc' }, /^sha256: is not a SHA-256 .*got 3 characters/);
    assertOptionError({ ...OPTIONS, sha256: 'g'.repeat(64) }, /^sha256: /);
    assertOptionError({ ...OPTIONS, node: { version: '18.20.0', sha256: 'b'.repeat(64) } }, /^node\.version: /);
    assertOptionError({ ...OPTIONS, node: { version: '20.18.1', sha256: 'nope' } }, /^node\.sha256: /);
    assertOptionError({ ...OPTIONS, node: { version: '20.18.1', sha256: 'b'.repeat(64), arch: 'ia32' } }, /^node\.arch: /);
    assertOptionError({ ...OPTIONS, node: undefined }, /^node: /);
    assertOptionError({ ...OPTIONS, region: 'moon-base-1a' }, /^region: /);
    assertOptionError({ ...OPTIONS, spec: { ...SPEC, region: 'nowhere' } }, /^spec\.region: /);
    assertOptionError({ ...OPTIONS, spec: { ...SPEC, provider: 'local' } }, /^spec\.provider: /);
    assertOptionError({ ...OPTIONS, bucketOwner: '12345' }, /^bucketOwner: /);
    assertOptionError({ ...OPTIONS, secretParameter: 'no-slash' }, /^secretParameter: /);
    assertOptionError({ ...OPTIONS, imdsEndpoint: 'http://169.254.169.254/x y' }, /^imdsEndpoint: /);
    assertOptionError({ ...OPTIONS, agentEntry: '../../bin/sh' }, /^agentEntry: /);
    assertOptionError({ ...OPTIONS, logLevel: 'loud' }, /^logLevel: /);
  });

  it('honours the optional settings', async () => {
    const script = renderWorkerUserData({
      ...OPTIONS,
      region: 'us-gov-west-1',
      bucketOwner: '123456789012',
      secretParameter: '/acme/prod/secret',
      imdsEndpoint: 'http://[fd00:ec2::254]/',
      agentEntry: 'dist/agent.mjs',
      stopTimeout: '2 minutes',
      node: { version: '20.11.0', sha256: 'c'.repeat(64), arch: 'arm64' },
    });
    await bashSyntaxCheck(script);
    assert.match(script, /^readonly BUCKET_OWNER='123456789012'$/m);
    assert.match(script, /^readonly NODE_ARCH='arm64'$/m);
    const unit = embeddedFile(script, WORKER_PATHS.unit);
    assert.match(unit, /^ExecStart=\/opt\/synkti\/node-v20\.11\.0\/bin\/node \/opt\/synkti\/0\.1\.0\/dist\/agent\.mjs$/m);
    assert.match(unit, /^Environment="SYNKTI_IMDS_ENDPOINT=http:\/\/\[fd00:ec2::254\]"$/m);
    assert.match(unit, /^Environment="AWS_REGION=us-gov-west-1"$/m);
    assert.match(unit, /^TimeoutStopSec=120$/m);
    assert.match(embeddedFile(script, WORKER_PATHS.fetchSecret), /--name '\/acme\/prod\/secret'/);
  });

  it('refuses to render user data over 16 KB, saying what to shorten', () => {
    const big = validateCluster({
      name: 'prod',
      provider: 'aws',
      region: 'eu-west-1',
      pools: { worker: { count: 1 } },
      workload: { command: ['serve'], env: { BIG: 'x'.repeat(MAX_USER_DATA_BYTES) } },
    });
    assert.throws(
      () => renderWorkerUserData({ ...OPTIONS, spec: big }),
      (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USER_DATA_TOO_LARGE'));
        assert.match(error.message, /at most 16384/);
        assert.match(error.hint ?? '', /workload\.env/);
        return true;
      },
    );
  });

  it('keeps shell metacharacters in the cluster config inert', async () => {
    const tricky = validateCluster({
      name: 'prod',
      provider: 'aws',
      region: 'eu-west-1',
      pools: { worker: { count: 1 } },
      workload: { command: ['sh', '-c', 'echo $(id) `id` \'" \\\nSYNKTI_EOF'], env: { A: '$HOME' } },
    });
    const script = renderWorkerUserData({ ...OPTIONS, spec: tricky });
    await bashSyntaxCheck(script);
    assert.deepEqual(deserializeCluster(embeddedFile(script, WORKER_PATHS.clusterConfig).trim()), tricky);
  });
});
