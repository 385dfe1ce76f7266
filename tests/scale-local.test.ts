/**
 * `synkti scale` on a real local fleet: 1 → 2 launches a node and waits until both are
 * ready and see each other; 2 → 1 drains and removes the newest idle node (its process
 * exits, its instance is terminated and untagged) and waits until the survivor no longer
 * lists it. Bad pools and counts are usage errors (exit 2) that say what to do.
 * `synkti ssh` to a local node names its pid and log instead (exit 4).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_PORT_AGENT, loadClusterConfig } from '@synkti/core';
import { createLocalCloud, listAllInstances, type InstanceRecord } from '@synkti/cloud';
import { down } from '../packages/cli/src/commands/down.ts';
import { logs } from '../packages/cli/src/commands/logs.ts';
import { scale } from '../packages/cli/src/commands/scale.ts';
import { up } from '../packages/cli/src/commands/up.ts';
import { makeProject, processAlive, runCli, uniqueName, waitFor } from './helpers/cli.ts';

// The agents inherit this: `logs --json` below looks for their info-level join line
// (scripts/run-tests.mjs sets warn for the whole suite).
process.env.SYNKTI_LOG_LEVEL = 'info';

const name = uniqueName('e2e-scale');
const project = makeProject({
  name,
  pools: { worker: { count: 1 } },
  timeouts: { gossipInterval: '300ms', failureTimeout: '2s', listInterval: '5s', shutdownGrace: '3s' },
});

const config = await loadClusterConfig({ cwd: project.dir });

after(async () => {
  await down(config.spec, config.file, { force: true, timeoutMs: 20_000, quiet: true }).catch(() => undefined);
  project.cleanup();
});

interface ScaleJson {
  pool: string;
  from: number;
  to: number;
  launched: string[];
  terminated: string[];
  ready: boolean;
  nodes: { id: string; state: string; members: string[] }[];
}

async function agentPid(record: InstanceRecord, secret: string): Promise<number> {
  const response = await fetch(`http://${record.privateIp}:${record.tags[TAG_PORT_AGENT]}/status`, {
    headers: { authorization: `Bearer ${secret}` },
    signal: AbortSignal.timeout(2000),
  });
  return ((await response.json()) as { pid: number }).pid;
}

test('scale a local fleet 1 → 2 → 1 with real processes', { timeout: 90_000 }, async (t) => {
  // The fleet of one starts in-process (the CLI's start-up is paid once, for the JSON path below).
  const started = await up(config.spec, config.file, { timeoutMs: 30_000, json: true, quiet: true });
  assert.equal(started.ok, true);
  const first = started.reports.map((r) => r.record.id);
  assert.equal(first.length, 1);

  const out = await runCli(['scale', 'worker', '2', '--json', '--timeout', '30s'], { cwd: project.dir });
  assert.equal(out.code, 0, out.stderr);
  const grown = JSON.parse(out.stdout) as ScaleJson;
  t.diagnostic(`1 → 2 settled in ${out.ms} ms (CLI included)`);
  assert.deepEqual([grown.from, grown.to, grown.ready, grown.launched.length, grown.terminated.length], [1, 2, true, 1, 0]);
  assert.deepEqual(
    grown.nodes.map((n) => n.state),
    ['ready', 'ready'],
  );
  const all = [...first, grown.launched[0]!].sort();
  for (const node of grown.nodes) assert.deepEqual([...node.members].sort(), all, `${node.id} sees both nodes`);

  const secret = readFileSync(join(project.dir, '.synkti', name, 'cluster-secret'), 'utf8').trim();
  const cloud = createLocalCloud({ stateDir: join(project.dir, '.synkti', name) });
  t.after(() => cloud.close());
  const records = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  const newest = records.find((r) => r.id === grown.launched[0])!;
  const newestPid = await agentPid(newest, secret);

  const shrunk = await scale(config.spec, config.file, 'worker', 1, { timeoutMs: 30_000, quiet: true });
  t.diagnostic(`2 → 1 settled in ${shrunk.waitedMs} ms`);
  assert.deepEqual([shrunk.from, shrunk.to, shrunk.ready], [2, 1, true]);
  assert.deepEqual(shrunk.terminated, grown.launched, 'both idle and ready: the newest goes');
  assert.deepEqual(
    shrunk.nodes.map((n) => [n.record.id, n.status?.state, n.status?.members.map((m) => m.id)]),
    [[first[0], 'ready', [first[0]]]],
    'the survivor no longer lists it',
  );
  await waitFor("the removed node's agent process to exit", async () => (processAlive(newestPid) ? undefined : true), 10_000);
  // The agent exits first; the host records the instance terminated after it (shutting-down
  // in between, for as long as a loaded machine takes to run the host's next step).
  const gone = await waitFor(
    'the removed instance to be terminated',
    async () => {
      const listed = await listAllInstances(cloud.instances, {
        ids: [newest.id],
        states: ['pending', 'running', 'shutting-down', 'terminated'],
      });
      return listed[0]?.state === 'terminated' ? listed : undefined;
    },
    30_000,
  );
  assert.deepEqual(
    Object.keys(gone[0]!.tags).filter((k) => k.startsWith('Synkti')),
    [],
    'it untagged itself on the way out (graceful)',
  );

  // `synkti logs --json` of the survivor: one JSON object per line, pino lines parsed.
  let logText = '';
  await logs(config.spec, config.file, first[0]!, { follow: false, lines: 1_000_000, json: true }, (text) => {
    logText += text;
  });
  const entries = logText
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { node: string; source: string; entry: { msg?: string } | null });
  assert.ok(entries.length > 0 && entries.every((e) => e.node === first[0] && e.source === 'agent'));
  t.diagnostic(`survivor's log: ${entries.length} lines`);
  assert.ok(
    entries.some((e) => /joined the fleet/.test(e.entry?.msg ?? '')),
    `pino lines come parsed; got ${entries.length} lines, first: ${entries
      .slice(0, 5)
      .map((e) => JSON.stringify(e.entry?.msg ?? e))
      .join(', ')}`,
  );

  // `synkti ssh` to a local node: nothing to log in to; says where its process and log are (exit 4).
  const survivor = first[0]!;
  const sshResult = await runCli(['ssh', survivor.slice(0, 8)], { cwd: project.dir });
  assert.equal(sshResult.code, 4, sshResult.stderr);
  assert.match(sshResult.stderr, new RegExp(`${survivor} is a local node`));
  assert.match(sshResult.stderr, /pid \d+/);
  assert.match(sshResult.stderr, /log: +\//);
  assert.ok(sshResult.stderr.includes(`synkti logs ${survivor} -f`), sshResult.stderr);

  // A node removed by scale left gracefully: no survivor launched a replacement for it.
  const live = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.deepEqual(
    live.map((r) => r.id),
    [survivor],
    'still exactly one node, seconds after the scale-in',
  );
});

test('a bad pool is a usage error: exit 2, naming the pools (counts: scale-aws.test.ts)', { timeout: 60_000 }, async () => {
  const pool = await runCli(['scale', 'wroker', '2'], { cwd: project.dir });
  assert.equal(pool.code, 2);
  assert.match(pool.stderr, /no pool named "wroker"/);
  assert.match(pool.stderr, /pools: worker/);
  await assert.rejects(scale(config.spec, config.file, 'worker', '500', { quiet: true }), /more than the 64 a local pool/);
  await assert.rejects(scale(config.spec, config.file, 'worker', '2.5', { quiet: true }), /whole number of 0 or more/);
});
