/**
 * The whole boot path with real parts: the compiled agent release from `synkti worker
 * pack` (~10 MB), a Node.js "tarball" holding this machine's node,
 * the rendered user data run by bash under a temporary root (stub aws/curl/systemctl),
 * then the unit's own ExecStart and Environment run as systemd would. The agent must
 * load from the installed tree and reach the metadata service.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { runProcess } from '@synkti/core/testing';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { validateCluster } from '@synkti/core';
import { WORKER_PATHS, renderWorkerUserData } from '@synkti/cloud';
import { packAgentArtifact } from './agent-artifact.ts';

const exec = promisify(execFile);
const SKIP =
  !(process.platform === 'linux' && process.arch === 'x64') &&
  "the node tarball is this machine's node, named linux-x64 as workers fetch it";

const STUBS: Record<string, string> = {
  // aws s3api get-object --region R --bucket B --key K --expected-bucket-owner O DEST
  aws: '#!/bin/bash\necho "aws $*" >>"$STUB_LOG"\nif [ "$1 $2" = "s3api get-object" ]; then cp "$FAKE_S3/$6/$8" "${11}"; exit $?; fi\nexit 2\n',
  curl: '#!/bin/bash\ncase "$*" in *latest/api/token*) printf t ;; *identity/document*) printf \'{"accountId" : "123456789012"}\' ;; *) exit 22 ;; esac\n',
  systemctl: '#!/bin/bash\necho "systemctl $*" >>"$STUB_LOG"\n',
  useradd: '#!/bin/bash\necho "useradd $*" >>"$STUB_LOG"\n',
  id: '#!/bin/bash\nexit 1\n',
};

it("a worker boots the packed agent: user data installs it, the unit's ExecStart starts it", { skip: SKIP }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-boot-e2e-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const version = '0.0.0-e2e';
  const nodeVersion = process.versions.node;
  assert.match(nodeVersion, /^20\./, 'this test runs on Node 20, the version workers install');
  const artifacts = join(dir, 's3', 'acme-e2e', 'artifacts');
  mkdirSync(artifacts, { recursive: true });

  const agent = await packAgentArtifact({ outDir: artifacts, version });
  // A Node.js tarball in nodejs.org's layout; bin/node points at this machine's node.
  const nodeTree = join(dir, 'build', `node-v${nodeVersion}-linux-x64`, 'bin');
  mkdirSync(nodeTree, { recursive: true });
  symlinkSync(process.execPath, join(nodeTree, 'node'));
  const nodeTar = join(artifacts, `node-v${nodeVersion}-linux-x64.tar.xz`);
  await exec('tar', ['-cJf', nodeTar, '-C', join(dir, 'build'), `node-v${nodeVersion}-linux-x64`]);
  const nodeSha = createHash('sha256').update(readFileSync(nodeTar)).digest('hex');

  const spec = validateCluster({ name: 'e2e', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
  const script = renderWorkerUserData({
    spec,
    bucket: 'acme-e2e',
    version,
    sha256: agent.sha256,
    node: { version: nodeVersion, sha256: nodeSha },
  });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(bin, name), body);
    chmodSync(join(bin, name), 0o755);
  }
  const root = join(dir, 'root');
  mkdirSync(root);
  const log = join(dir, 'stub.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'user-data.sh'), script);
  const boot = await runProcess('bash', [join(dir, 'user-data.sh')], {
    cwd: dir,
    env: { PATH: `${bin}:/usr/bin:/bin`, SYNKTI_ROOT: root, STUB_LOG: log, FAKE_S3: join(dir, 's3'), HOME: dir },
  });
  assert.equal(boot.code, 0, boot.stderr);
  assert.match(readFileSync(log, 'utf8'), /^systemctl enable --now synkti$/m);

  // Run the unit as systemd would: its ExecStart and Environment (paths under the temp root).
  const unit = readFileSync(join(root, WORKER_PATHS.unit), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(execStart, 'the unit has an ExecStart');
  const [program, ...args] = execStart.split(' ').map((part) => (part.startsWith('/opt/synkti/') ? root + part : part));
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  for (const match of unit.matchAll(/^Environment="([A-Z_]+)=(.*)"$/gm)) env[match[1]!] = match[2]!;
  assert.equal(env.SYNKTI_PROVIDER, 'aws');
  env.SYNKTI_IMDS_ENDPOINT = 'http://127.0.0.1:9';
  const started = await runProcess(program!, args, { env, cwd: dir });
  assert.equal(started.code, 1);
  assert.match(
    started.stderr,
    /^synkti-agent: instance metadata at http:\/\/127\.0\.0\.1:9 is unavailable/,
    'the agent loaded and asked IMDS',
  );
});
