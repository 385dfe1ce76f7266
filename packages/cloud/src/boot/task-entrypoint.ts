/**
 * The entrypoint of a Synkti ECS task (batch workers, pipeline agents and API): a stock
 * Node.js 20 image runs this script, which fetches the packed release from the cluster's
 * artifacts bucket, checks its SHA-256 against the value fixed here at render time, unpacks
 * it and runs its entry with the task's arguments. The same release and the same check as
 * the EC2 boot script (worker-user-data.ts), so one artifact runs everywhere
 * (docs/adr/0008-code-into-tasks.md says why this and not an image per service).
 *
 * The script uses only Node's built-ins (a stock image has no AWS CLI or SDK): credentials
 * come from the ECS container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * on 169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI, which must be loopback or
 * HTTPS as in the SDK), else from AWS_ACCESS_KEY_ID/SECRET; the GET is signed with SigV4 and
 * sent with `x-amz-expected-bucket-owner` when an owner is given.
 *
 * Like the boot script, tests may move where things go (SYNKTI_TASK_ROOT for the install
 * directory, AWS_ENDPOINT_URL(_S3) for the S3 endpoint), never what is downloaded or checked.
 * On a mismatch it REFUSES: exit 1, nothing unpacked, nothing run.
 */
import { SynktiError } from '@synkti/core';
import { checkAccountId, checkBucket, checkRegion, checkRelativePath, checkSha256, checkVersion } from './boot-inputs.ts';

export interface TaskEntrypointOptions {
  /** The cluster's artifacts bucket (holds `artifacts/synkti-<version>.tgz`). */
  bucket: string;
  /** Release to run: the object `artifacts/synkti-<version>.tgz`. */
  version: string;
  /** Expected SHA-256 of the artifact (64 hex digits), fixed here, never fetched. */
  sha256: string;
  /** Region of the bucket. */
  region: string;
  /**
   * Account that must own the bucket (S3 refuses the GET otherwise).
   * @default no check (ECS tasks have no identity document to read it from)
   */
  bucketOwner?: string | undefined;
  /**
   * The entry script inside the unpacked artifact, run with this Node.js.
   * @default 'bin/synkti.mjs'
   */
  entry?: string | undefined;
}

/** The bucket key of a packed release (what `npm pack` of the CLI produces, renamed). */
export function taskArtifactKey(version: string): string {
  return `artifacts/synkti-${checkVersion(version)}.tgz`;
}

/** Renders the entrypoint (an ES module for `node`); throws SynktiError naming a bad field. */
export function renderTaskEntrypoint(options: TaskEntrypointOptions): string {
  if (typeof options !== 'object' || options === null) {
    throw new SynktiError('E_USER_DATA_OPTIONS', 'options are required', { hint: 'pass { bucket, version, sha256, region }' });
  }
  const constants = {
    bucket: checkBucket(options.bucket),
    key: taskArtifactKey(options.version),
    version: checkVersion(options.version),
    sha256: checkSha256(options.sha256),
    region: checkRegion(options.region),
    bucketOwner: options.bucketOwner === undefined ? '' : checkAccountId(options.bucketOwner),
    entry: checkRelativePath(options.entry ?? 'bin/synkti.mjs', 'entry'),
  };
  // JSON.stringify of validated strings: nothing in them can break out of the literal.
  return `#!/usr/bin/env node
// Synkti task entrypoint: release ${constants.version} from s3://${constants.bucket}/${constants.key},
// run only if its SHA-256 is ${constants.sha256}. Rendered by renderTaskEntrypoint; no secrets.
import { createHash, createHmac } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RELEASE = ${JSON.stringify(constants)};
const ROOT = process.env.SYNKTI_TASK_ROOT || '/opt/synkti';
const log = (text) => process.stderr.write('synkti-task: ' + text + '\\n');
const die = (text) => { log('ERROR: ' + text); process.exit(1); };

const sha256hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();
const uriEncode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

async function credentials() {
  const env = process.env;
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (relative || full) {
    const url = new URL(relative ? 'http://169.254.170.2' + relative : full);
    // The SDK's rule: a full URI is HTTPS, or HTTP to a loopback address only.
    const loopback = url.hostname === 'localhost' || /^127\\./.test(url.hostname) || url.hostname === '[::1]';
    if (!relative && url.protocol !== 'https:' && !loopback) die('AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback address, got ' + url.host);
    const headers = {};
    if (env.AWS_CONTAINER_AUTHORIZATION_TOKEN) headers.Authorization = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    if (!response.ok) die('the container credentials endpoint answered ' + response.status);
    const body = await response.json();
    return { id: body.AccessKeyId, secret: body.SecretAccessKey, token: body.Token };
  }
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return { id: env.AWS_ACCESS_KEY_ID, secret: env.AWS_SECRET_ACCESS_KEY, token: env.AWS_SESSION_TOKEN };
  die('no credentials: run as an ECS task (task role) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
}

/** GET s3://bucket/key, signed with SigV4 (path-style: works with every endpoint). */
async function getObject(creds) {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || 'https://s3.' + RELEASE.region + '.amazonaws.com';
  const base = new URL(endpoint);
  const path = (base.pathname.replace(/\\/$/, '')) + '/' + uriEncode(RELEASE.bucket) + '/' + RELEASE.key.split('/').map(uriEncode).join('/');
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\\.\\d{3}/, '');
  const day = now.slice(0, 8);
  const headers = { host: base.host, 'x-amz-content-sha256': sha256hex(''), 'x-amz-date': now };
  if (creds.token) headers['x-amz-security-token'] = creds.token;
  if (RELEASE.bucketOwner) headers['x-amz-expected-bucket-owner'] = RELEASE.bucketOwner;
  const names = Object.keys(headers).sort();
  const canonical = ['GET', path, '', names.map((n) => n + ':' + headers[n] + '\\n').join(''), names.join(';'), headers['x-amz-content-sha256']].join('\\n');
  const scope = day + '/' + RELEASE.region + '/s3/aws4_request';
  const toSign = ['AWS4-HMAC-SHA256', now, scope, sha256hex(canonical)].join('\\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + creds.secret, day), RELEASE.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const { host: _host, ...sent } = headers;
  sent.Authorization = 'AWS4-HMAC-SHA256 Credential=' + creds.id + '/' + scope + ', SignedHeaders=' + names.join(';') + ', Signature=' + signature;
  const response = await fetch(new URL(path, base), { headers: sent, signal: AbortSignal.timeout(120000) });
  if (!response.ok) throw new Error('S3 answered ' + response.status + ' ' + (await response.text()).slice(0, 300));
  return Buffer.from(await response.arrayBuffer());
}

const where = 's3://' + RELEASE.bucket + '/' + RELEASE.key;
const dir = join(ROOT, RELEASE.version);
// Fetched and checked at every task start: a task's disk is new, and nothing unchecked ever runs.
{
  const creds = await credentials();
  let body;
  for (let attempt = 1; ; attempt++) {
    try { body = await getObject(creds); break; } catch (error) {
      log('download of ' + where + ' failed (attempt ' + attempt + ' of 5): ' + error.message);
      if (attempt >= 5) die('cannot download ' + where + ' (the task role needs s3:GetObject on it; is it uploaded?)');
      await new Promise((r) => setTimeout(r, attempt * 1000));
    }
  }
  const actual = sha256hex(body);
  if (actual !== RELEASE.sha256) die('REFUSING ' + where + ': its SHA-256 is ' + actual + ', expected ' + RELEASE.sha256 + '. Nothing was unpacked or run.');
  log('verified ' + where + ': sha256 ' + actual);
  const partial = dir + '.partial';
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  writeFileSync(join(partial, '.artifact.tgz'), body);
  const tar = spawnSync('tar', ['-xzf', join(partial, '.artifact.tgz'), '-C', partial, '--strip-components=1', '--no-same-owner'], { stdio: 'inherit' });
  rmSync(join(partial, '.artifact.tgz'), { force: true });
  if (tar.status !== 0) die('cannot unpack ' + where);
  if (!existsSync(join(partial, RELEASE.entry))) die('the artifact has no ' + RELEASE.entry);
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
}

// Run the release with the task's arguments; ECS's SIGTERM (a stop, Fargate Spot's notice) goes to it.
const child = spawn(process.execPath, [join(dir, RELEASE.entry), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGKILL' ? 137 : 143)));
`;
}
