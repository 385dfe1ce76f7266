/**
 * The ECS task entrypoint, run for real with node against a loopback S3 stand-in that
 * records each request: it runs the release only when its SHA-256 matches, refuses
 * otherwise with nothing unpacked, signs its GET exactly as the AWS SDK's SigV4 signer
 * would, and takes its credentials from the ECS container credentials endpoint.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { isSynktiError } from '@synkti/core';
import { renderTaskEntrypoint, taskArtifactKey, type TaskEntrypointOptions } from './task-entrypoint.ts';

const BUCKET = 'synkti-test-artifacts';

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The hash the SDK's signer takes (SHA-256, or HMAC-SHA256 with a secret), from node:crypto. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}
const VERSION = '1.2.3';
const CREDS = { accessKeyId: 'AKIDTASKROLE0000001', secretAccessKey: 'task-role-secret', sessionToken: 'task-role-session' };

/** A release tarball whose entry prints its arguments and exits with the first one. */
function buildArtifact(dir: string): Buffer {
  const pkg = join(dir, 'build', 'package');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  writeFileSync(
    join(pkg, 'bin', 'synkti.mjs'),
    "process.stdout.write('release ran: ' + JSON.stringify(process.argv.slice(2)) + '\\n'); process.exit(Number(process.argv[2] ?? 0));\n",
  );
  const out = join(dir, 'artifact.tgz');
  const tar = spawnSync('tar', ['-czf', out, '-C', join(dir, 'build'), 'package']);
  assert.equal(tar.status, 0, String(tar.stderr));
  return readFileSync(out);
}

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** Loopback S3 (serves the one object) and ECS credentials endpoint, recording requests. */
async function startStandIns(object: Buffer): Promise<{ url: string; requests: Recorded[]; server: Server }> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.url === '/creds') {
      if (req.headers.authorization !== 'ecs-auth-token') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          AccessKeyId: CREDS.accessKeyId,
          SecretAccessKey: CREDS.secretAccessKey,
          Token: CREDS.sessionToken,
          Expiration: new Date(Date.now() + 3600_000).toISOString(),
        }),
      );
      return;
    }
    if (req.url === `/${BUCKET}/${taskArtifactKey(VERSION)}`) {
      res.writeHead(200).end(object);
      return;
    }
    res.writeHead(404).end('NoSuchKey');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

/**
 * A scratch directory (removed after the test), a release in it, the stand-ins serving it
 * (closed after the test), and the entrypoint rendered to a file: with the release's
 * SHA-256 unless `options` say otherwise.
 */
async function makeRelease(
  t: TestContext,
  options: Partial<TaskEntrypointOptions> = {},
): Promise<{ dir: string; artifact: Buffer; aws: Awaited<ReturnType<typeof startStandIns>>; script: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-task-entry-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const artifact = buildArtifact(dir);
  const aws = await startStandIns(artifact);
  t.after(() => aws.server.close());
  const script = join(dir, 'entrypoint.mjs');
  writeFileSync(
    script,
    renderTaskEntrypoint({
      bucket: BUCKET,
      version: VERSION,
      sha256: createHash('sha256').update(artifact).digest('hex'),
      region: 'us-east-1',
      ...options,
    }),
  );
  return { dir, artifact, aws, script };
}

function run(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    const child = spawn(process.execPath, [script, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      reject(new Error(`entrypoint did not finish:\n${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('ECS task entrypoint (run with node against loopback stand-ins)', () => {
  it("verifies the release, runs it with the task's arguments and passes its exit code on; signed like the SDK, with the task role from the container endpoint", async (t) => {
    const { dir, aws, script } = await makeRelease(t, { bucketOwner: '123456789012' });
    assert.equal(spawnSync(process.execPath, ['--check', script]).status, 0, 'the rendered script parses');

    const root = join(dir, 'root');
    const result = await run(script, ['7', 'batch', 'worker'], {
      SYNKTI_TASK_ROOT: root,
      AWS_ENDPOINT_URL: aws.url,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${aws.url}/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'ecs-auth-token',
    });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /release ran: \["7","batch","worker"\]/);
    assert.match(result.stderr, /verified s3:\/\/synkti-test-artifacts\/artifacts\/synkti-1\.2\.3\.tgz/);
    assert.ok(existsSync(join(root, VERSION, 'bin', 'synkti.mjs')));

    // The GET carried the task role's session and the expected owner, and its signature is the AWS SDK's for the same request.
    const get = aws.requests.find((r) => r.url.startsWith(`/${BUCKET}/`))!;
    assert.equal(get.headers['x-amz-security-token'], CREDS.sessionToken);
    assert.equal(get.headers['x-amz-expected-bucket-owner'], '123456789012');
    const date = String(get.headers['x-amz-date']);
    const signer = new SignatureV4({
      credentials: CREDS,
      region: 'us-east-1',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    const headers: Record<string, string> = { host: new URL(aws.url).host };
    for (const name of ['x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token', 'x-amz-expected-bucket-owner'])
      headers[name] = String(get.headers[name]);
    const signed = await signer.sign(
      { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: Number(new URL(aws.url).port), path: get.url, query: {}, headers },
      {
        signingDate: new Date(
          `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
        ),
      },
    );
    const signature = (s: string): string => /Signature=([0-9a-f]{64})/.exec(s)?.[1] ?? 'none';
    assert.match(
      String(get.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDTASKROLE0000001\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-expected-bucket-owner;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    assert.equal(
      signature(String(get.headers.authorization)),
      signature(String(signed.headers.authorization ?? signed.headers.Authorization)),
    );
  });

  it('REFUSES a release whose SHA-256 does not match: exit 1, nothing unpacked, nothing run', async (t) => {
    const { dir, aws, script } = await makeRelease(t, { sha256: 'a'.repeat(64) });
    const root = join(dir, 'root');
    const result = await run(script, ['0'], {
      SYNKTI_TASK_ROOT: root,
      AWS_ENDPOINT_URL: aws.url,
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /REFUSING s3:\/\/synkti-test-artifacts\/artifacts\/synkti-1\.2\.3\.tgz: its SHA-256 is [0-9a-f]{64}, expected a{64}/,
    );
    assert.doesNotMatch(result.stdout, /release ran/);
    assert.deepEqual(existsSync(root) ? readdirSync(root).filter((f) => !f.endsWith('.partial')) : [], []);
  });

  it("refuses a plain-HTTP full credentials URI that is not loopback (the SDK's rule), before sending anything", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'synkti-task-entry-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'entrypoint.mjs');
    writeFileSync(script, renderTaskEntrypoint({ bucket: BUCKET, version: VERSION, sha256: 'a'.repeat(64), region: 'us-east-1' }));
    // Never contacted: the check happens before any request.
    const result = await run(script, [], {
      SYNKTI_TASK_ROOT: join(dir, 'root'),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://192.0.2.1/creds',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback address/);
  });

  it('refuses bad inputs naming the field', () => {
    assert.throws(
      () => renderTaskEntrypoint({ bucket: BUCKET, version: VERSION, sha256: 'nope', region: 'us-east-1' }),
      (e: unknown) => isSynktiError(e) && /sha256/.test(e.message),
    );
    assert.throws(
      () => renderTaskEntrypoint({ bucket: BUCKET, version: VERSION, sha256: 'a'.repeat(64), region: 'us-east-1', entry: '../etc/passwd' }),
      (e: unknown) => isSynktiError(e) && /entry/.test(e.message),
    );
  });
});
