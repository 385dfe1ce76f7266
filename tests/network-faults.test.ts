/**
 * Failures the way networks make them (issue 23): five real agents, each on a host of its
 * own (a network namespace with its own address, the production agent port 7946), on the
 * local cloud in host-per-namespace mode. Faults drop packets, they never refuse them:
 * - a 3 | 2 partition: each side drops the other from its view, neither launches anything
 *   (the cloud still says the other side runs), and after the heal all five views agree;
 * - a cut link: a connect to the cut host times out (no ECONNREFUSED to help), and the
 *   survivors drop it from their views within a bound of the failure timeout;
 * - each host's metadata is at http://169.254.169.254 inside its namespace only (the agent
 *   runs with its production default, no override), never in this machine's namespace;
 * - a preempted host's replacement gets a host of its own (the spare) and joins from there.
 * Skipped with the reason where namespaces cannot be made (not root, no iproute2).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TAG_CLUSTER, TAG_ROLE, serializeCluster, validateCluster } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import { createTempLocalCloud, type TempLocalCloud } from '../packages/cloud/src/providers/local/testing/temp-local-cloud.ts';
import { createNetnsHosts, netnsUnavailableReason, type NetnsHost, type NetnsHosts } from '../packages/cloud/src/testing/netns-hosts.ts';
import { instanceProcesses, readCmdline, readEnviron } from '../packages/cloud/src/providers/local/proc.ts';
import { uniqueName, waitFor } from './helpers/cli.ts';

const execFileAsync = promisify(execFile);
const AGENT_MAIN = fileURLToPath(new URL('../packages/agent/src/main.ts', import.meta.url));
const FAILURE_TIMEOUT_MS = 2000;
const AGENT_PORT = 7946;
const HOSTS = 5;
/** One host more than the fleet: where a replacement goes (and where a wrong launch would show). */
const SPARES = 1;
const IMDS_ADDRESS = '169.254.169.254';
const skipReason = await netnsUnavailableReason();

let net: NetnsHosts | undefined;
let local: TempLocalCloud | undefined;
let secret = '';
let secretDir: string | undefined;
const name = uniqueName('netfault');
/** The host an instance runs on (by its private IP). */
function hostOf(record: { privateIp: string }): NetnsHost | undefined {
  return net!.hosts.find((h) => h.address === record.privateIp);
}

/** The hosts the fleet runs on now (the cloud's record), in host order. */
async function fleetHosts(): Promise<NetnsHost[]> {
  const running = await listAllInstances(local!.cloud.instances, { states: ['pending', 'running'] });
  return net!.hosts.filter((h) => running.some((r) => r.privateIp === h.address));
}

async function statusOf(host: NetnsHost): Promise<{ state: string; members: Array<{ id: string; address: string }> } | undefined> {
  try {
    const response = await fetch(`http://${host.address}:${AGENT_PORT}/status`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(1000),
    });
    return response.ok ? ((await response.json()) as { state: string; members: Array<{ id: string; address: string }> }) : undefined;
  } catch {
    return undefined;
  }
}

/** The member addresses each given host's agent sees (sorted), or undefined if one does not answer. */
async function views(hosts: NetnsHost[]): Promise<string[][] | undefined> {
  const all = await Promise.all(hosts.map((h) => statusOf(h)));
  if (all.some((s) => s === undefined)) return undefined;
  return all.map((s) => s!.members.map((m) => m.address).sort());
}

function addresses(hosts: NetnsHost[]): string[] {
  return hosts.map((h) => h.address).sort();
}

async function launchesSoFar(): Promise<number> {
  return (await listAllInstances(local!.cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] })).length;
}

/** From inside `from`, connect to `to`: 'connected', 'timeout' or the error code (e.g. ECONNREFUSED). */
async function probeConnect(from: NetnsHost, to: string, port: number, timeoutMs: number): Promise<string> {
  const script =
    `const s=require('node:net').connect({host:${JSON.stringify(to)},port:${port}});` +
    `const t=setTimeout(()=>{console.log('timeout');process.exit(0)},${timeoutMs});` +
    `s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)});`;
  return (await net!.exec(from, [process.execPath, '-e', script])).stdout.trim();
}

before(async () => {
  if (skipReason) return;
  net = await createNetnsHosts({ count: HOSTS + SPARES });
  secret = randomBytes(32).toString('hex');
  secretDir = mkdtempSync(join(tmpdir(), 'synkti-netfault-secret-'));
  const secretFile = join(secretDir, 'cluster-secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  local = await createTempLocalCloud({
    prefix: 'synkti-netfault-',
    bootCommand: [process.execPath, '--import', import.meta.resolve('tsx'), AGENT_MAIN],
    env: { SYNKTI_CLUSTER_SECRET_FILE: secretFile, SYNKTI_LOG_LEVEL: 'info', ...(process.env.PATH ? { PATH: process.env.PATH } : {}) },
    hosts: net.placements,
  });
  const spec = validateCluster({
    name,
    pools: { worker: { count: HOSTS } },
    timeouts: { gossipInterval: '500ms', failureTimeout: `${FAILURE_TIMEOUT_MS}ms`, listInterval: '5s' },
  });
  const userData = serializeCluster(spec);
  const bootStarted = Date.now();
  for (let i = 0; i < HOSTS; i += 1) {
    await local.cloud.instances.launch({
      tags: { [TAG_CLUSTER]: name, [TAG_ROLE]: 'worker' },
      instanceType: 't3.micro',
      lifecycle: 'spot',
      userData,
    });
  }
  const fleet = net.hosts.slice(0, HOSTS);
  const everyone = addresses(fleet);
  await waitFor(
    'five agents in their namespaces agree on five members',
    async () => {
      const seen = await views(fleet);
      return seen?.every((v) => v.join() === everyone.join()) ? true : undefined;
    },
    40_000,
    250,
  );
  process.stderr.write(`boot: ${HOSTS} agents in namespaces agreed in ${Date.now() - bootStarted} ms\n`);
});

after(async () => {
  await local?.destroy();
  await net?.destroy();
  if (secretDir) rmSync(secretDir, { recursive: true, force: true });
  if (net) {
    // Nothing left behind: no namespace nor link of this run.
    const run = net.bridge.slice(0, -2);
    const left = [(await execFileAsync('ip', ['netns', 'list'])).stdout, (await execFileAsync('ip', ['-o', 'link', 'show'])).stdout]
      .join('\n')
      .split('\n')
      .filter((line) => new RegExp(`\\b${run}(n|h|br)`).test(line));
    assert.deepEqual(left, [], 'namespaces and links removed');
  }
});

test(
  'a 3 | 2 partition: each side drops the other, nobody launches, views converge after the heal',
  { skip: skipReason, timeout: 60_000 },
  async () => {
    const hosts = net!.hosts.slice(0, HOSTS);
    const left = hosts.slice(0, 3);
    const right = hosts.slice(3);
    assert.equal(await launchesSoFar(), HOSTS);
    await net!.partition(left, right);
    const cutAt = Date.now();
    try {
      await waitFor(
        'each side sees only itself',
        async () => {
          const [l, r] = await Promise.all([views(left), views(right)]);
          return l?.every((v) => v.join() === addresses(left).join()) && r?.every((v) => v.join() === addresses(right).join())
            ? true
            : undefined;
        },
        20_000,
        200,
      );
      const splitMs = Date.now() - cutAt;
      // Both sides have declared the other dead; hold the partition for a few more failure
      // timeouts, long enough for any replacement decision to have been taken and acted on.
      const holdUntil = Date.now() + 2 * FAILURE_TIMEOUT_MS;
      while (Date.now() < holdUntil) {
        assert.equal(await launchesSoFar(), HOSTS, 'no replacement for instances the cloud says still run');
        await new Promise((r) => setTimeout(r, 250));
      }
      process.stderr.write(`partition: sides split in ${splitMs} ms\n`);
    } finally {
      await net!.heal();
    }
    const healedAt = Date.now();
    await waitFor(
      'all five agree on five members after the heal',
      async () => {
        const seen = await views(hosts);
        return seen?.every((v) => v.join() === addresses(hosts).join()) ? true : undefined;
      },
      30_000,
      200,
    );
    process.stderr.write(`partition: converged ${Date.now() - healedAt} ms after the heal\n`);
    assert.equal(await launchesSoFar(), HOSTS, 'nothing launched across partition and heal');
  },
);

test(
  'asymmetric reachability: two hosts that cannot reach each other are not declared dead (indirect probes)',
  { skip: skipReason, timeout: 30_000 },
  async () => {
    const hosts = net!.hosts.slice(0, HOSTS);
    const [a, b] = [hosts[0]!, hosts[1]!];
    // One direction dropped at the link layer is both for TCP (a's SYN-ACKs never reach b):
    // a and b cannot talk at all, while both reach everyone else.
    await net!.block(a, b);
    try {
      assert.equal(await probeConnect(a, b.address, AGENT_PORT, 1500), 'timeout', 'a does not reach b');
      const until = Date.now() + 2 * FAILURE_TIMEOUT_MS;
      let samples = 0;
      while (Date.now() < until) {
        const seen = await views(hosts);
        if (seen) {
          samples += 1;
          for (const [i, view] of seen.entries()) assert.deepEqual(view, addresses(hosts), `host ${i} still sees all five`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(samples >= 3, `views sampled ${samples} times`);
    } finally {
      await net!.unblock(a, b);
    }
  },
);

test(
  'a cut link: connects time out (no reset) and the survivors drop the host within a bound',
  { skip: skipReason, timeout: 60_000 },
  async () => {
    const hosts = net!.hosts.slice(0, HOSTS);
    const victim = hosts[HOSTS - 1]!;
    const survivors = hosts.slice(0, HOSTS - 1);
    // The probe can tell the two apart: a live host's closed port refuses at once.
    assert.equal(await probeConnect(hosts[0]!, victim.address, 9, 1500), 'ECONNREFUSED');
    await net!.cut(victim);
    try {
      const cutAt = Date.now();
      const probe = probeConnect(hosts[0]!, victim.address, AGENT_PORT, 3000);
      const detected = waitFor(
        'the survivors drop the cut host',
        async () => {
          const seen = await views(survivors);
          return seen?.every((v) => !v.includes(victim.address)) ? Date.now() - cutAt : undefined;
        },
        30_000,
        100,
      );
      assert.equal(await probe, 'timeout', 'a cut host does not answer: no reset, no ICMP');
      const detectionMs = await detected;
      process.stderr.write(
        `cut: dropped from every survivor's view ${detectionMs} ms after the cut (failure timeout ${FAILURE_TIMEOUT_MS} ms)\n`,
      );
      // SWIM: suspicion after a failed probe (+ indirect probes), dead after the suspicion
      // timeout. 5 x the failure timeout leaves room for a loaded 2-core machine.
      assert.ok(detectionMs < 5 * FAILURE_TIMEOUT_MS, `detected in ${detectionMs} ms`);
      const records = await listAllInstances(local!.cloud.instances, {});
      assert.equal(
        records.find((r) => hostOf(r) === victim)?.state,
        'running',
        'the cloud still says it runs: it is the network that failed',
      );
    } finally {
      await net!.restore(victim);
    }
    // Restored: the host rejoins (it never left the cloud's record), so the next test starts from five.
    await waitFor(
      'all five agree again after the restore',
      async () => {
        const seen = await views(hosts);
        return seen?.every((v) => v.join() === addresses(hosts).join()) ? true : undefined;
      },
      30_000,
      200,
    );
  },
);

test(
  'metadata at 169.254.169.254 inside each host only: the agent uses the production default, with IMDSv2 tokens',
  { skip: skipReason, timeout: 30_000 },
  async () => {
    // This machine's namespace holds no such address (only `ip` is asked: no packet is sent).
    const rootAddresses = (await execFileAsync('ip', ['-o', 'addr', 'show'])).stdout;
    assert.ok(!rootAddresses.includes(IMDS_ADDRESS), `the root namespace has no ${IMDS_ADDRESS}: ${rootAddresses}`);
    const [record] = await listAllInstances(local!.cloud.instances, { states: ['running'] });
    const host = hostOf(record!)!;
    assert.ok(host, 'the instance runs on a test host');
    const inside = (await net!.exec(host, ['ip', '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
    assert.match(inside, /inet 169\.254\.169\.254\/32 /, 'the host holds it on its own lo');
    assert.equal(local!.cloud.metadataEndpointOf(record!.id), undefined, 'no endpoint is handed out that only works inside the namespace');
    // The agent got no override: what it read, it read from the production default.
    const hostPid = local!.cloud.instances.hostPid(record!.id)!;
    const agentPid = instanceProcesses(hostPid).find((pid) => readCmdline(pid)?.includes(AGENT_MAIN));
    assert.ok(agentPid, 'the agent runs on the host');
    const environ = readEnviron(agentPid);
    assert.ok(environ, 'the agent environment is readable');
    assert.equal(environ.get('SYNKTI_IMDS_ENDPOINT'), undefined, 'no SYNKTI_IMDS_ENDPOINT: the agent uses http://169.254.169.254');
    // It read its identity there: its view of itself carries its instance id and its address.
    const status = await statusOf(host);
    assert.ok(
      status?.members.some((m) => m.id === record!.id && m.address === host.address),
      `the agent joined as ${record!.id} at ${host.address}`,
    );
    // Inside the namespace, the production address speaks IMDSv2: a token-less GET is 401, a
    // token opens the instance's own identity (plain node: no loader to compile, a fraction of a second).
    const script =
      `const base='http://${IMDS_ADDRESS}';` +
      `const bare=(await fetch(base+'/latest/meta-data/instance-id')).status;` +
      `const token=await (await fetch(base+'/latest/api/token',{method:'PUT',headers:{'x-aws-ec2-metadata-token-ttl-seconds':'60'}})).text();` +
      `const get=async(p)=>(await fetch(base+'/latest/meta-data/'+p,{headers:{'x-aws-ec2-metadata-token':token}})).text();` +
      `console.log(JSON.stringify({instanceId:await get('instance-id'),privateIp:await get('local-ipv4'),tokenless:bare}));`;
    const { stdout } = await net!.exec(host, [process.execPath, '--input-type=module', '-e', script]);
    assert.deepEqual(JSON.parse(stdout.trim()), { instanceId: record!.id, privateIp: host.address, tokenless: 401 });
  },
);

test(
  "a preempted host's replacement gets a host of its own and joins from its address",
  { skip: skipReason, timeout: 60_000 },
  async () => {
    const before = await fleetHosts();
    assert.equal(before.length, HOSTS);
    const spare = net!.hosts.find((h) => !before.includes(h))!;
    const [victimRecord] = await listAllInstances(local!.cloud.instances, { states: ['running'] });
    const victim = hostOf(victimRecord!)!;
    const preemptedAt = Date.now();
    await local!.cloud.instances.preempt(victimRecord!.id, { noticeInMs: 1000 });
    const expected = addresses([...before.filter((h) => h !== victim), spare]);
    const replacement = await waitFor(
      'a replacement on the spare host, in every view',
      async () => {
        const records = await listAllInstances(local!.cloud.instances, { states: ['running'] });
        const fresh = records.find((r) => r.launchedAt >= preemptedAt);
        if (fresh === undefined) return undefined;
        const seen = await views(net!.hosts.filter((h) => expected.includes(h.address)));
        return seen?.every((v) => v.join() === expected.join()) ? fresh : undefined;
      },
      50_000,
      250,
    );
    process.stderr.write(
      `replacement: ${replacement.id} joined from ${replacement.privateIp} ${Date.now() - preemptedAt} ms after the preemption\n`,
    );
    assert.equal(replacement.privateIp, spare.address, 'the replacement runs on the spare host, with its own address');
    const status = await statusOf(spare);
    assert.ok(
      status?.members.some((m) => m.id === replacement.id && m.address === spare.address),
      'its agent joined as itself from its address',
    );
    assert.equal(await launchesSoFar(), HOSTS + 1, 'one replacement');
  },
);
