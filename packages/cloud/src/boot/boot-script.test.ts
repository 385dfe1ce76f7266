/**
 * Runs the rendered boot script with bash, as cloud-init would, under a temporary root
 * (SYNKTI_ROOT) with stub `aws`, `curl`, `systemctl`, `useradd`, `id` and `uname` on PATH
 * that log their arguments; sha256sum, tar and the rest are the real tools. A fake bucket
 * serves the artifacts. The point: an artifact whose bytes do not match the embedded
 * checksum is never unpacked, installed or started.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { runProcess } from '@synkti/core/testing';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { validateCluster } from '@synkti/core';
import { renderWorkerUserData, type WorkerUserDataOptions } from './worker-user-data.ts';
import { WORKER_PATHS } from './synkti-unit.ts';

const exec = promisify(execFile);
const SPEC = validateCluster({ name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 2 } } });
const NODE_VERSION = '20.18.1';
const AGENT_VERSION = '0.1.0';
const ACCOUNT = '123456789012';

const STUBS: Record<string, string> = {
  // s3api get-object --bucket B --key K dest -> copies $FAKE_S3/B/K, if the caller expects the owner (the instance's account)
  aws: `#!/bin/bash
echo "aws $*" >>"$STUB_LOG"
if [ "$1 $2" = "s3api get-object" ]; then
  owner=""; bucket=""; key=""; dest=""
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --expected-bucket-owner) owner="$2"; shift 2 ;;
      --bucket) bucket="$2"; shift 2 ;;
      --key) key="$2"; shift 2 ;;
      --region) shift 2 ;;
      *) dest="$1"; shift ;;
    esac
  done
  [ "$owner" = "${ACCOUNT}" ] || { echo "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied" >&2; exit 254; }
  file="$FAKE_S3/$bucket/$key"
  [ -f "$file" ] || { echo "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist." >&2; exit 254; }
  cp "$file" "$dest"
  echo '{"ContentLength": 1}'
  exit 0
fi
if [ "$1 $2" = "ssm get-parameter" ]; then
  [ -n "\${FAKE_SECRET:-}" ] || { echo "An error occurred (ParameterNotFound)" >&2; exit 254; }
  printf '%s\\n' "$FAKE_SECRET"
  exit 0
fi
exit 2
`,
  curl: `#!/bin/bash
echo "curl $*" >>"$STUB_LOG"
case "$*" in
  *"-X PUT"*latest/api/token*) printf 'fake-imds-token' ;;
  *"X-aws-ec2-metadata-token: fake-imds-token"*instance-identity/document*) printf '{\\n  "accountId" : "${ACCOUNT}",\\n  "region" : "eu-west-1"\\n}' ;;
  *) echo "curl: (22) The requested URL returned error: 401" >&2; exit 22 ;;
esac
`,
  systemctl: '#!/bin/bash\necho "systemctl $*" >>"$STUB_LOG"\n',
  useradd: '#!/bin/bash\necho "useradd $*" >>"$STUB_LOG"\n',
  id: '#!/bin/bash\necho "id $*" >>"$STUB_LOG"\nexit 1\n',
  uname: '#!/bin/bash\nif [ "$1" = "-m" ]; then echo "${FAKE_MACHINE:-x86_64}"; else echo Linux; fi\n',
  sleep: '#!/bin/bash\necho "sleep $*" >>"$STUB_LOG"\n',
};

interface Sandbox {
  dir: string;
  root: string;
  s3: string;
  log: string;
  nodeSha: string;
  agentSha: string;
  env: Record<string, string>;
  stubLog(): string[];
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Builds fake artifacts (a Node tarball whose `node` prints v20, an agent tarball) and the stubs. */
async function sandbox(t: TestContext): Promise<Sandbox> {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-boot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const bin = join(dir, 'bin');
  const s3 = join(dir, 's3');
  const build = join(dir, 'build');
  const artifacts = join(s3, 'acme-synkti-prod', 'artifacts');
  for (const d of [root, bin, artifacts, join(build, `node-v${NODE_VERSION}-linux-x64`, 'bin'), join(build, 'package', 'bin')])
    mkdirSync(d, { recursive: true });
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(bin, name), body);
    chmodSync(join(bin, name), 0o755);
  }
  const node = join(build, `node-v${NODE_VERSION}-linux-x64`, 'bin', 'node');
  writeFileSync(node, `#!/bin/bash\necho v${NODE_VERSION}\n`);
  chmodSync(node, 0o755);
  writeFileSync(join(build, 'package', 'bin', 'synkti-agent.mjs'), 'console.log("agent");\n');
  writeFileSync(join(build, 'package', 'package.json'), '{"name":"synkti-agent","version":"0.1.0"}\n');
  const nodeTar = join(artifacts, `node-v${NODE_VERSION}-linux-x64.tar.xz`);
  const agentTar = join(artifacts, `synkti-agent-${AGENT_VERSION}.tgz`);
  await exec('tar', ['-cJf', nodeTar, '-C', build, `node-v${NODE_VERSION}-linux-x64`]);
  await exec('tar', ['-czf', agentTar, '-C', build, 'package']);
  const log = join(dir, 'stub.log');
  writeFileSync(log, '');
  return {
    dir,
    root,
    s3,
    log,
    nodeSha: sha256(nodeTar),
    agentSha: sha256(agentTar),
    env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, SYNKTI_ROOT: root, STUB_LOG: log, FAKE_S3: s3, HOME: dir, LANG: 'C' },
    stubLog: () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

function render(box: Sandbox, overrides: Partial<WorkerUserDataOptions> = {}): string {
  return renderWorkerUserData({
    spec: SPEC,
    bucket: 'acme-synkti-prod',
    version: AGENT_VERSION,
    sha256: box.agentSha,
    node: { version: NODE_VERSION, sha256: box.nodeSha },
    ...overrides,
  });
}

/** Runs a script with bash (not through a shell) and its own environment only. */
const runBash = (file: string, env: Record<string, string>) => runProcess('bash', [file], { env, timeoutMs: 30_000 });

async function boot(box: Sandbox, script: string, env: Record<string, string> = {}) {
  const file = join(box.dir, 'user-data.sh');
  writeFileSync(file, script);
  return runBash(file, { ...box.env, ...env });
}

/** Everything under the temp root except the scratch directory the script creates. */
function installed(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const relPath = `${rel}/${name}`;
      if (statSync(path).isDirectory()) walk(path, relPath);
      else out.push(relPath);
    }
  };
  if (existsSync(root)) walk(root, '');
  return out.sort();
}

function assertNothingInstalled(box: Sandbox): void {
  assert.deepEqual(installed(box.root), [], 'no file was written under the root');
  assert.ok(!existsSync(join(box.root, 'opt')), 'nothing unpacked under /opt');
  const log = box.stubLog();
  assert.ok(!log.some((l) => l.startsWith('systemctl')), `systemctl never called: ${log.join('; ')}`);
  assert.ok(!log.some((l) => l.startsWith('useradd')), 'no user created');
}

describe('worker boot script (run under a temp root with stubs)', () => {
  it('installs, writes synkti.service and starts it when both checksums match', async (t) => {
    const box = await sandbox(t);
    const script = render(box);
    const result = await boot(box, script);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /verified Node\.js 20\.18\.1/);
    assert.match(result.stderr, /verified synkti agent 0\.1\.0/);
    assert.match(result.stderr, /journalctl -u synkti -f/);

    assert.deepEqual(installed(box.root), [
      '/etc/synkti/cluster.json',
      '/etc/systemd/system/synkti.service',
      `/opt/synkti/${AGENT_VERSION}/bin/synkti-agent.mjs`,
      `/opt/synkti/${AGENT_VERSION}/package.json`,
      '/opt/synkti/libexec/fetch-cluster-secret',
      `/opt/synkti/node-v${NODE_VERSION}/bin/node`,
    ]);
    const unit = readFileSync(join(box.root, WORKER_PATHS.unit), 'utf8');
    const expectedUnit = script
      .slice(script.indexOf(`write_file '${WORKER_PATHS.unit}'`))
      .split('\n')
      .slice(1);
    assert.equal(unit, `${expectedUnit.slice(0, expectedUnit.indexOf('SYNKTI_EOF')).join('\n')}\n`, 'the unit on disk is the rendered one');
    assert.match(unit, /^ExecStart=\/opt\/synkti\/node-v20\.18\.1\/bin\/node \/opt\/synkti\/0\.1\.0\/bin\/synkti-agent\.mjs$/m);
    assert.match(unit, /^Restart=on-failure$/m);
    assert.equal(statSync(join(box.root, WORKER_PATHS.unit)).mode & 0o777, 0o644);
    assert.equal(statSync(join(box.root, WORKER_PATHS.fetchSecret)).mode & 0o777, 0o755);
    assert.equal(JSON.parse(readFileSync(join(box.root, WORKER_PATHS.clusterConfig), 'utf8')).spec.name, 'prod');

    const log = box.stubLog();
    const downloads = log.filter((l) => l.startsWith('aws s3api get-object'));
    assert.equal(downloads.length, 2);
    for (const line of downloads) assert.match(line, new RegExp(`--expected-bucket-owner ${ACCOUNT} `));
    assert.ok(
      log.some((l) => /^useradd --system .* synkti$/.test(l)),
      'creates the synkti system user',
    );
    const systemctl = log.filter((l) => l.startsWith('systemctl'));
    assert.deepEqual(systemctl, ['systemctl daemon-reload', 'systemctl enable --now synkti']);
    assert.ok(
      log.indexOf('systemctl daemon-reload') > log.findIndex((l) => l.startsWith('useradd')),
      'started after everything is in place',
    );
    assert.ok(
      !existsSync(join(box.root, 'var', 'tmp')) || readdirSync(join(box.root, 'var', 'tmp')).length === 0,
      'scratch downloads removed',
    );
  });

  it('REFUSES an agent artifact whose bytes do not match: non-zero exit, nothing unpacked, systemctl never called', async (t) => {
    const box = await sandbox(t);
    const script = render(box);
    // Someone replaced the object in the bucket after the user data was rendered.
    const key = join(box.s3, 'acme-synkti-prod', 'artifacts', `synkti-agent-${AGENT_VERSION}.tgz`);
    writeFileSync(key, Buffer.concat([readFileSync(key), Buffer.from('tampered')]));
    const result = await boot(box, script);
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      new RegExp(
        `REFUSING synkti agent 0\\.1\\.0 .*its SHA-256 is ${sha256(key)}, expected ${box.agentSha}\\. Nothing was installed or run\\.`,
      ),
    );
    assert.match(result.stderr, /synkti\.service was not started/);
    assertNothingInstalled(box);
  });

  it('REFUSES a Node.js tarball whose checksum does not match, before unpacking either', async (t) => {
    const box = await sandbox(t);
    const result = await boot(box, render(box, { node: { version: NODE_VERSION, sha256: 'f'.repeat(64) } }));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /REFUSING Node\.js 20\.18\.1/);
    assertNothingInstalled(box);
  });

  it('stops when the artifact is missing from the bucket, after retrying', async (t) => {
    const box = await sandbox(t);
    const result = await boot(box, render(box, { version: '9.9.9' }));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /cannot download s3:\/\/acme-synkti-prod\/artifacts\/synkti-agent-9\.9\.9\.tgz/);
    assert.equal(box.stubLog().filter((l) => l.includes('synkti-agent-9.9.9.tgz')).length, 5, 'five attempts');
    assertNothingInstalled(box);
  });

  it('refuses a bucket owned by another account (expected bucket owner from IMDSv2)', async (t) => {
    const box = await sandbox(t);
    const result = await boot(box, render(box, { bucketOwner: '999999999999' }));
    assert.notEqual(result.code, 0);
    assert.ok(!box.stubLog().some((l) => l.includes('latest/api/token')), 'an explicit owner needs no metadata call');
    assertNothingInstalled(box);
  });

  it('reads the metadata from SYNKTI_IMDS_ENDPOINT when set (the emulated EC2), else from the rendered URL', async (t) => {
    const box = await sandbox(t);
    const script = render(box);
    const overridden = await boot(box, script, { SYNKTI_IMDS_ENDPOINT: 'http://127.0.0.1:41234' });
    assert.equal(overridden.code, 0, overridden.stderr);
    const curls = box.stubLog().filter((l) => l.startsWith('curl'));
    assert.ok(curls.length >= 2 && curls.every((l) => l.includes('http://127.0.0.1:41234/latest/')), curls.join('\n'));
    // The same script, the same checks: the override moved where the owner was read, nothing else.
    assert.ok(box.stubLog().some((l) => l.includes(`--expected-bucket-owner ${ACCOUNT} `)));

    const plain = await sandbox(t);
    const result = await boot(plain, render(plain));
    assert.equal(result.code, 0, result.stderr);
    const plainCurls = plain.stubLog().filter((l) => l.startsWith('curl'));
    assert.ok(plainCurls.length >= 2 && plainCurls.every((l) => l.includes('http://169.254.169.254/latest/')), plainCurls.join('\n'));
  });

  it('refuses to install Node.js for another architecture', async (t) => {
    const box = await sandbox(t);
    const result = await boot(box, render(box), { FAKE_MACHINE: 'aarch64' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /this instance is arm64 but the user data installs Node\.js for x64/);
    assert.ok(!box.stubLog().some((l) => l.startsWith('aws')), 'nothing downloaded');
    assertNothingInstalled(box);
  });
});

describe('fetch-cluster-secret (ExecStartPre)', () => {
  async function fetcher(t: TestContext) {
    const box = await sandbox(t);
    const result = await boot(box, render(box));
    assert.equal(result.code, 0, result.stderr);
    const runtime = join(box.dir, 'run-synkti');
    mkdirSync(runtime, { mode: 0o700 });
    return { box, runtime, file: join(box.root, WORKER_PATHS.fetchSecret) };
  }

  it('writes the secret from SSM into the runtime directory (0600) and prints nothing of it', async (t) => {
    const { box, runtime, file } = await fetcher(t);
    const secret = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';
    const result = await runBash(file, { ...box.env, RUNTIME_DIRECTORY: runtime, FAKE_SECRET: secret });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(join(runtime, 'cluster-secret'), 'utf8').trim(), secret);
    assert.equal(statSync(join(runtime, 'cluster-secret')).mode & 0o777, 0o600);
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'the secret is never printed');
    assert.ok(
      box
        .stubLog()
        .some(
          (l) =>
            l ===
            'aws ssm get-parameter --region eu-west-1 --name /synkti/prod/cluster-secret --with-decryption --query Parameter.Value --output text',
        ),
    );
  });

  it('fails with the permission to check when SSM refuses, leaving no file', async (t) => {
    const { box, runtime, file } = await fetcher(t);
    const result = await runBash(file, { ...box.env, RUNTIME_DIRECTORY: runtime });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /ssm:GetParameter/);
    assert.deepEqual(readdirSync(runtime), []);
  });

  it('refuses a secret shorter than 16 characters', async (t) => {
    const { box, runtime, file } = await fetcher(t);
    const result = await runBash(file, { ...box.env, RUNTIME_DIRECTORY: runtime, FAKE_SECRET: 'short' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /shorter than 16 characters/);
    assert.deepEqual(readdirSync(runtime), []);
  });
});
