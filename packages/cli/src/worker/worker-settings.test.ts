/**
 * Flags to user-data options: checksums given or computed from the uploaded files (never
 * read from the bucket), each bad value reported under its flag, subnets parsed; and the
 * worker table.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isSynktiError, validateCluster } from '@synkti/core';
import { renderWorkerUserData, type InstanceRecord } from '@synkti/cloud';
import { renderWorkerTable, workersToJson } from './worker-output.ts';
import { openWorkerProvider } from './worker-provider.ts';
import {
  DEFAULT_NODE_VERSION,
  asUsageError,
  cliVersion,
  parseSubnet,
  splitList,
  userDataOptions,
  type UserDataFlags,
} from './worker-settings.ts';

const SPEC = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const OK: UserDataFlags = { bucket: 'acme', sha256: SHA_A, nodeSha256: SHA_B };

/** What the CLI would print for these flags: the script, or the usage error's message. */
async function attempt(flags: UserDataFlags): Promise<string> {
  try {
    return renderWorkerUserData(await userDataOptions(SPEC, flags));
  } catch (error) {
    const mapped = asUsageError(error);
    assert.ok(isSynktiError(mapped, 'E_USAGE'), `a usage error, got ${String(error)}`);
    return `usage: ${mapped.message}`;
  }
}

describe('worker user-data flags', () => {
  it("defaults: the CLI's version, Node.js 20, x64", async () => {
    const options = await userDataOptions(SPEC, OK);
    assert.equal(options.version, cliVersion());
    assert.match(cliVersion(), /^\d+\.\d+\.\d+/);
    assert.deepEqual(options.node, { version: DEFAULT_NODE_VERSION, sha256: SHA_B, arch: 'x64' });
  });

  it('computes checksums from the local files, and refuses a given one that disagrees', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'synkti-flags-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const agent = join(dir, 'agent.tgz');
    const node = join(dir, 'node.tar.xz');
    writeFileSync(agent, 'agent');
    writeFileSync(node, 'node');
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const options = await userDataOptions(SPEC, { bucket: 'acme', artifact: agent, nodeTarball: node });
    assert.equal(options.sha256, sha('agent'));
    assert.equal(options.node.sha256, sha('node'));
    const same = await userDataOptions(SPEC, { bucket: 'acme', artifact: agent, sha256: sha('agent').toUpperCase(), nodeTarball: node });
    assert.equal(same.sha256, sha('agent'));
    assert.match(await attempt({ ...OK, artifact: agent }), /^usage: --sha256 a+ does not match .*agent\.tgz/);
    assert.match(await attempt({ ...OK, sha256: undefined, artifact: join(dir, 'missing.tgz') }), /^usage: --artifact: cannot read/);
  });

  it('names the flag of every bad or missing value', async () => {
    const cases: [UserDataFlags, RegExp][] = [
      [{ ...OK, bucket: undefined }, /^usage: the cluster bucket is required/],
      [{ ...OK, sha256: undefined }, /^usage: the SHA-256 of the agent artifact .* is required/],
      [
        { ...OK, nodeSha256: undefined },
        /^usage: the SHA-256 of the Node\.js tarball artifacts\/node-v20\.18\.1-linux-x64\.tar\.xz is required/,
      ],
      [{ ...OK, sha256: 'abc' }, /^usage: --sha256: is not a SHA-256/],
      [{ ...OK, nodeSha256: 'xyz' }, /^usage: --node-sha256: is not a SHA-256/],
      [{ ...OK, bucket: 'Bad_Bucket' }, /^usage: --bucket: "Bad_Bucket" is not a valid S3 bucket name/],
      [{ ...OK, version: 'a/b' }, /^usage: --version: "a\/b" is not a version/],
      [{ ...OK, nodeVersion: '18.0.0' }, /^usage: --node-version: "18\.0\.0" is not a Node\.js 20 release/],
      [{ ...OK, arch: 'ia32' }, /^usage: --arch: /],
      [{ ...OK, bucketOwner: '42' }, /^usage: --bucket-owner: /],
      [{ ...OK, secretParameter: 'x' }, /^usage: --secret-parameter: /],
      [{ ...OK, logLevel: 'loud' }, /^usage: --log-level: /],
    ];
    for (const [flags, expected] of cases) assert.match(await attempt(flags), expected);
    assert.match(await attempt(OK), /^#!\/bin\/bash\n/);
  });

  it('passes other errors through unchanged', () => {
    const error = new Error('boom');
    assert.equal(asUsageError(error), error);
  });

  it('parses subnets and lists from flags or environment variables', () => {
    assert.deepEqual(parseSubnet('subnet-0abc:us-east-1a'), { subnetId: 'subnet-0abc', zone: 'us-east-1a' });
    assert.throws(() => parseSubnet('subnet-0abc'), /<subnet-id>:<zone>/);
    // What the workers would refuse in their cluster config is refused here (exit 2), not at boot.
    for (const bad of ['subnet-0ABC:us-east-1a', 'subnet-0abc:us-east-1a;x', 'sg-0abc:us-east-1a'])
      assert.throws(() => parseSubnet(bad), /<subnet-id>:<zone>/, bad);
    const aws = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
    assert.throws(
      () =>
        openWorkerProvider(aws, {
          configFile: '/nonexistent/synkti.config.ts',
          aws: { subnet: ['subnet-0abc:us-east-1a', 'subnet-0abc:us-east-1b'] },
        }),
      /subnet-0abc is given twice/,
    );
    assert.deepEqual(splitList(['subnet-a:z1,subnet-b:z2', 'sg-1 sg-2']), ['subnet-a:z1', 'subnet-b:z2', 'sg-1', 'sg-2']);
    assert.deepEqual(splitList(undefined), []);
  });
});

describe('worker table', () => {
  const record: InstanceRecord = {
    id: 'i-0abc',
    state: 'terminated',
    stateReason: 'Server.SpotInstanceTermination',
    privateIp: '10.0.0.7',
    instanceType: 'g5.xlarge',
    zone: 'us-east-1a',
    lifecycle: 'spot',
    launchedAt: 1_000,
    tags: { SynktiCluster: 'prod', SynktiRole: 'gpu' },
  };

  it('shows one row per instance, with why a terminated one ended', () => {
    const table = renderWorkerTable([record], 61_000);
    const [header, row] = table.split('\n');
    assert.match(header!, /^ID\s+ROLE\s+STATE\s+TYPE\s+LIFECYCLE\s+ZONE\s+ADDRESS\s+AGE$/);
    assert.match(
      row!,
      /^i-0abc\s+gpu\s+terminated \(Server\.SpotInstanceTermination\)\s+g5\.xlarge\s+spot\s+us-east-1a\s+10\.0\.0\.7\s+1m/,
    );
    assert.match(renderWorkerTable([]), /synkti worker launch/);
  });

  it('JSON carries ids, roles, states and ISO launch times', () => {
    assert.deepEqual(workersToJson([record])[0], {
      id: 'i-0abc',
      role: 'gpu',
      state: 'terminated',
      stateReason: 'Server.SpotInstanceTermination',
      instanceType: 'g5.xlarge',
      lifecycle: 'spot',
      zone: 'us-east-1a',
      privateIp: '10.0.0.7',
      launchedAt: '1970-01-01T00:00:01.000Z',
      tags: record.tags,
    });
  });
});
