/**
 * Process ownership, replayed as attacks on real processes:
 *   - the local provider's kill of node A, and a spot reclaim of node C, end exactly that
 *     node's processes: B and D, replacements A and C launched (so their hosts are
 *     children of A's and C's "agents"), keep running, and A's and C's workloads, in
 *     sessions of their own, die with them;
 *   - kill -9 of an agent on a local fleet of 2: the restarted agent serves again (no
 *     EADDRINUSE, the workload port held by a new workload), the orphaned workload is gone;
 *   - `synkti down` then leaves no process of that fleet (matched by the fleet's state
 *     directory in /proc cmdline/environ).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TAG_CLUSTER, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD } from '@synkti/core';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { STAND_IN_MAIN } from '../../packages/cli/src/demo/demo.ts';
import { isProcessAlive, localCloudProcesses, waitUntil } from '../../packages/cloud/src/providers/local/proc.ts';
import { makeProject, REPO_ROOT, runCli, uniqueName, waitFor } from '../helpers/cli.ts';
import { recordAttack } from './attack-ledger.ts';

const FIXTURE = fileURLToPath(new URL('./process-fixture-node.ts', import.meta.url));

interface NodeFile {
  pid: number;
  workloadPid: number;
  launched?: string;
}

function nodeFile(stateDir: string, id: string): NodeFile | undefined {
  const path = join(stateDir, `${id}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as NodeFile) : undefined;
}

test(
  'kill of node A, and a spot reclaim of node C, each end exactly that node: its agent and its own-session workload, never the replacement it launched',
  { timeout: 120_000 },
  async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), 'synkti-owned-'));
    const cloud = createLocalCloud({
      stateDir,
      bootCommand: [process.execPath, '--import', 'tsx', FIXTURE],
      cwd: REPO_ROOT,
      terminateGraceMs: 2000,
    });
    t.after(async () => {
      for (const pid of localCloudProcesses(resolve(stateDir))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await waitUntil(() => localCloudProcesses(resolve(stateDir)).length === 0, 5000, 20);
      cloud.close();
      await rm(stateDir, { recursive: true, force: true });
    });
    // A launches B and C launches D from their boot commands: B's host is a child of A's "agent", D's of C's.
    const launch = async (): Promise<string> =>
      (
        await cloud.instances.launch({
          tags: { SynktiCluster: 'owned', SynktiRole: 'worker' },
          instanceType: 'local.small',
          lifecycle: 'spot',
        })
      ).id;
    const [a, c] = await Promise.all([launch(), launch()]);
    writeFileSync(join(stateDir, 'roots.json'), JSON.stringify([a, c]));
    const files: Record<string, NodeFile | undefined> = {};
    const booted = await waitUntil(
      () =>
        [a, c].every((root) => {
          files[root] ??= nodeFile(stateDir, root);
          const next = files[root]?.launched;
          if (next !== undefined) files[next] ??= nodeFile(stateDir, next);
          return next !== undefined && files[next] !== undefined;
        }),
      90_000,
      50,
    );
    assert.ok(booted, 'A and C booted, each launched its replacement, and both replacements booted');
    const [fa, fc] = [files[a]!, files[c]!];
    const [b, d] = [fa.launched!, fc.launched!];
    const [fb, fd] = [files[b]!, files[d]!];
    const hostB = cloud.instances.hostPid(b)!;
    const hostC = cloud.instances.hostPid(c)!;
    const hostD = cloud.instances.hostPid(d)!;
    const runs = (host: number, f: NodeFile): boolean => isProcessAlive(host) && isProcessAlive(f.pid) && isProcessAlive(f.workloadPid);

    // The provider's kill (a crash) and the host's own reclaim at the notice time (a spot interruption), at once.
    await Promise.all([cloud.instances.kill(a), cloud.instances.preempt(c, { noticeInMs: 0 })]);
    const aGone = await waitUntil(() => !isProcessAlive(fa.pid) && !isProcessAlive(fa.workloadPid), 5000, 20);
    const cGone = await waitUntil(() => !isProcessAlive(hostC) && !isProcessAlive(fc.pid) && !isProcessAlive(fc.workloadPid), 15_000, 20);
    const running = (await cloud.instances.list({ states: ['running'] })).items.map((r) => r.id);
    const bKept = runs(hostB, fb) && running.includes(b);
    const dKept = runs(hostD, fd) && running.includes(d);
    recordAttack('local provider kill of A: every process of A ends (its own-session workload too)', aGone);
    recordAttack('local provider kill of A: B, launched by A, keeps running', bKept);
    recordAttack('spot reclaim of C: every process of C ends', cGone);
    recordAttack('spot reclaim of C: D, launched by C, keeps running', dKept);
    assert.ok(aGone, "A's agent and its workload are gone");
    assert.ok(bKept, "B's host, agent and workload still run, and B is listed running");
    assert.ok(cGone, "C's host, agent and workload are gone");
    assert.ok(dKept, "D's host, agent and workload still run, and D is listed running");
  },
);

/** Every live process whose command line or environment names `dir` (what `synkti down` must leave none of). */
function processesNaming(dir: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (cmd.includes(dir) || environ.includes(dir)) out.push({ pid: Number(entry), cmd: cmd.replace(/\0/g, ' ').slice(0, 200) });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

function readPidRecord(path: string): { pid: number } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { pid: number };
  } catch {
    return undefined;
  }
}

test(
  'kill -9 of an agent: the restarted agent serves (its workload port held by a new workload, no EADDRINUSE), the orphan is gone; synkti down then leaves no process of the fleet',
  { timeout: 180_000 },
  async (t) => {
    const name = uniqueName('sec-owned');
    const project = makeProject({
      name,
      pools: { worker: { count: 2 } },
      workload: {
        command: [process.execPath, '--import', import.meta.resolve('tsx'), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '1ms'],
        healthPath: '/health',
        startupTimeout: '60s',
      },
      timeouts: { gossipInterval: '500ms', failureTimeout: '3s', listInterval: '5s', shutdownGrace: '5s' },
    });
    const stateDir = join(project.dir, '.synkti', name);
    t.after(async () => {
      await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
      for (const p of processesNaming(stateDir)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      project.cleanup();
    });
    const up = await runCli(['up', '--timeout', '90s'], { cwd: project.dir, timeoutMs: 120_000 });
    assert.equal(up.code, 0, up.stderr);
    const cloud = createLocalCloud({ stateDir });
    t.after(() => cloud.close());
    const [a] = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
    assert.ok(a);
    const pidFile = join(stateDir, 'instances', a.id, 'workload.pid');
    const orphan = await waitFor('the workload record of A', async () => readPidRecord(pidFile), 30_000);
    // The workload's parent is A's agent (router in the same process).
    const stat = readFileSync(`/proc/${orphan.pid}/stat`, 'utf8');
    const agentPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    assert.ok(readFileSync(`/proc/${agentPid}/environ`, 'latin1').includes(`SYNKTI_LOCAL_INSTANCE_ID=${a.id}`), "the parent is A's agent");
    const workloadLog = join(stateDir, 'instances', a.id, 'workload.log');
    const logBefore = readFileSync(workloadLog, 'utf8').length;

    process.kill(agentPid, 'SIGKILL');
    const router = `http://127.0.0.1:${a.tags[TAG_PORT_ROUTER]}`;
    const fresh = await waitFor(
      'a new workload on A',
      async () => {
        const r = readPidRecord(pidFile);
        return r && r.pid !== orphan.pid && isProcessAlive(r.pid) ? r : undefined;
      },
      60_000,
    );
    await waitFor(
      "A's restarted agent ready (router health 200)",
      async () =>
        (await fetch(`${router}/_synkti/router/health`, { signal: AbortSignal.timeout(5000) })).status === 200 ? true : undefined,
      90_000,
      250,
    );
    const health = await fetch(`http://127.0.0.1:${a.tags[TAG_PORT_WORKLOAD]}/health`, { signal: AbortSignal.timeout(5000) });
    const completion = await fetch(`${router}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
      signal: AbortSignal.timeout(20_000),
    });
    const addrInUse = /EADDRINUSE/.test(readFileSync(workloadLog, 'utf8').slice(logBefore));
    const held =
      !isProcessAlive(orphan.pid) && isProcessAlive(fresh.pid) && health.status === 200 && completion.status === 200 && !addrInUse;
    recordAttack('kill -9 of an agent: restarted agent serves, orphaned workload gone, no EADDRINUSE', held);
    assert.equal(isProcessAlive(orphan.pid), false, 'the orphaned workload is gone');
    assert.equal(health.status, 200, 'the workload port is served by the new workload');
    assert.equal(completion.status, 200, await completion.text());
    assert.equal(addrInUse, false, 'no EADDRINUSE in the workload log since the kill');

    const down = await runCli(['down', '--timeout', '60s'], { cwd: project.dir, timeoutMs: 90_000 });
    assert.equal(down.code, 0, down.stderr);
    const left = processesNaming(stateDir);
    recordAttack('synkti down after a kill -9: no process of the fleet remains', left.length === 0);
    assert.deepEqual(left, [], "no process names the fleet's state directory");
  },
);
