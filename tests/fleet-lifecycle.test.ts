/**
 * End to end, on real processes: `synkti up --nodes 3` brings up three local instances
 * whose agents agree on membership; a kill -9 is noticed by the survivors within the
 * stated bound; `synkti down` leaves no process and no tag behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_REPLACES } from '@synkti/core';
import { createLocalCloud, listAllInstances, type InstanceRecord } from '@synkti/cloud';
import { makeProject, processAlive, runCli, uniqueName, waitFor } from './helpers/cli.ts';

const GOSSIP_MS = 500;
const FAILURE_TIMEOUT_MS = 2000;
/** Stated bound: a silent peer is dropped after failureTimeout plus two gossip rounds. */
const DROP_BOUND_MS = FAILURE_TIMEOUT_MS + 2 * GOSSIP_MS + 1000;

const name = uniqueName('e2e-life');
const project = makeProject({
  name,
  pools: { worker: { count: 1 } },
  timeouts: { gossipInterval: `${GOSSIP_MS}ms`, failureTimeout: `${FAILURE_TIMEOUT_MS}ms`, listInterval: '5s' },
});
const stateDir = join(project.dir, '.synkti', name);
let secret = '';

interface Status {
  id: string;
  state: string;
  pid: number;
  members: { id: string }[];
}

async function agentStatus(record: InstanceRecord): Promise<Status | undefined> {
  try {
    const response = await fetch(`http://${record.privateIp}:${record.tags[TAG_PORT_AGENT]}/status`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.timeout(1000),
    });
    return response.ok ? ((await response.json()) as Status) : undefined;
  } catch {
    return undefined;
  }
}

before(() => {});
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

test('up, crash, down on a local fleet of three', { timeout: 180_000 }, async (t) => {
  // up's --timeout is a did-it-hang bound: 30 s was exceeded beside two busy loops and
  // another fleet's benchmark on 2 cores (the README tour's numbers are an idle machine's).
  const upResult = await runCli(['up', '--nodes', '3', '--json', '--timeout', '90s'], { cwd: project.dir });
  assert.equal(upResult.code, 0, `synkti up failed:\n${upResult.stderr}`);
  // Converged within up's own --timeout (exit 0 above). Its wall time is reported, not
  // asserted: a loaded 2-core machine stretches it (over 30 s seen with two busy loops
  // beside the suite), and README's "under 10 s" is what an idle machine measures.
  t.diagnostic(`up --nodes 3 converged in ${upResult.ms} ms (idle machine: about 4 s plus the CLI's start)`);
  const summary = JSON.parse(upResult.stdout) as { ready: boolean; nodes: { id: string; state: string; members: string[] }[] };
  assert.equal(summary.ready, true);
  assert.equal(summary.nodes.length, 3);
  secret = readFileSync(join(stateDir, 'cluster-secret'), 'utf8').trim();

  const cloud = createLocalCloud({ stateDir });
  t.after(() => cloud.close());
  const records = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.equal(records.length, 3);
  const ids = records.map((r) => r.id).sort();
  const statuses = await Promise.all(records.map(agentStatus));
  for (const s of statuses) {
    assert.ok(s, 'every agent answers /status');
    assert.equal(s.state, 'ready');
    assert.deepEqual(s.members.map((m) => m.id).sort(), ids, `${s.id} sees the same membership of 3`);
  }
  const pids = statuses.map((s) => s!.pid);

  const logs = await runCli(['logs', records[1]!.id.slice(0, 8), '--lines', '200'], { cwd: project.dir });
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /joined the fleet/, "synkti logs shows the agent's log (a unique id prefix is enough)");
  assert.doesNotMatch(logs.stdout, new RegExp(secret), 'the cluster secret never appears in logs');

  // kill -9 one instance (its whole process tree, as a machine that dies).
  const victim = records[0]!;
  const survivors = records.slice(1);
  const killedAt = Date.now();
  await cloud.instances.kill(victim.id);
  await waitFor(
    'survivors to drop the killed node',
    async () => {
      const views = await Promise.all(survivors.map(agentStatus));
      return views.every((v) => v && v.members.length === 2 && !v.members.some((m) => m.id === victim.id)) ? true : undefined;
    },
    DROP_BOUND_MS + 2000,
  );
  const dropMs = Date.now() - killedAt;
  t.diagnostic(`killed node dropped by both survivors after ${dropMs} ms (bound ${DROP_BOUND_MS} ms)`);
  assert.ok(dropMs <= DROP_BOUND_MS, `dropped after ${dropMs} ms, bound ${DROP_BOUND_MS} ms`);

  // The crashed node is replaced by one survivor; status shows the new fleet of three.
  const replacement = await waitFor(
    'a replacement for the killed node',
    async () => {
      const found = await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: victim.id } });
      return found[0];
    },
    30_000,
  );
  const status = await runCli(['status', '--json'], { cwd: project.dir });
  assert.equal(status.code, 0, status.stderr);
  const listed = JSON.parse(status.stdout) as {
    id: string;
    state: string;
    pids?: { host: number; agent?: number; workload?: number };
    chaos?: { ratePerHour: number };
  }[];
  assert.ok(!listed.some((n) => n.id === victim.id), 'status no longer lists the crashed instance');
  // Local nodes carry their processes' ids (the agent's is the one it reports itself) and
  // the chaos setting (tests/cli-package.test.ts checks the workload's pid).
  for (const [i, survivor] of survivors.entries()) {
    const node = listed.find((n) => n.id === survivor.id);
    assert.equal(node?.pids?.agent, statuses[i + 1]!.pid, `${survivor.id}: status --json names its agent's pid`);
    assert.ok(node?.pids?.host !== undefined && processAlive(node.pids.host), `${survivor.id}: its host's pid, alive`);
    assert.deepEqual(node?.chaos?.ratePerHour, 0, 'chaos off');
  }
  assert.deepEqual(listed.map((n) => n.id).sort(), [...survivors.map((r) => r.id), replacement.id].sort());
  const replacementStatus = await waitFor(
    'the replacement to join',
    async () => {
      const s = await agentStatus(replacement);
      return s?.state === 'ready' && s.members.length === 3 ? s : undefined;
    },
    60_000,
  ); // booting a replacement on a loaded 2-core machine: a did-it-happen bound
  pids.push(replacementStatus.pid);

  const downResult = await runCli(['down', '--timeout', '30s'], { cwd: project.dir });
  assert.equal(downResult.code, 0, downResult.stderr);
  for (const pid of pids) assert.equal(processAlive(pid), false, `agent process ${pid} is gone`);
  const everything = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
  assert.equal(everything.length, 4, 'three originals and one replacement');
  for (const record of everything) {
    assert.equal(record.state, 'terminated');
    assert.deepEqual(
      Object.keys(record.tags).filter((k) => k.startsWith('Synkti')),
      [],
      `${record.id} has no Synkti tags left`,
    );
  }
});
