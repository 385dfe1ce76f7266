/**
 * Process ownership, replayed as attacks on real processes:
 *   - the local provider's kill (and a spot reclaim) of node A ends exactly A's processes:
 *     B, a replacement A launched (so B's host is a child of A's "agent"), keeps running,
 *     and A's workload, in a session of its own, dies with A;
 *   - kill -9 of an agent on a local fleet of 2: the restarted agent serves again (no
 *     EADDRINUSE, the workload port held by a new workload), the orphaned workload is gone;
 *   - `synkti down` then leaves no process of that fleet (matched by the fleet's state
 *     directory in /proc cmdline/environ).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalCloud, type LocalCloud } from '@synkti/cloud';
import { isProcessAlive, localCloudProcesses, waitUntil } from '../../packages/cloud/src/providers/local/proc.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { recordAttack } from './attack-ledger.ts';

const FIXTURE = fileURLToPath(new URL('./process-fixture-node.ts', import.meta.url));

interface NodeFile { pid: number; workloadPid: number; launched?: string }

function nodeFile(stateDir: string, id: string): NodeFile | undefined {
  const path = join(stateDir, `${id}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as NodeFile : undefined;
}

test('kill of node A, then a spot reclaim of node B, each end exactly that node: its agent and its own-session workload, never the replacement it launched', { timeout: 120_000 }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'synkti-owned-'));
  const cloud = createLocalCloud({ stateDir, bootCommand: [process.execPath, '--import', 'tsx', FIXTURE], cwd: REPO_ROOT, terminateGraceMs: 2000 });
  t.after(async () => {
    for (const pid of localCloudProcesses(resolve(stateDir))) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await waitUntil(() => localCloudProcesses(resolve(stateDir)).length === 0, 5000, 20);
    cloud.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  // A launches B from its boot command, B launches C: B's host is a child of A's "agent", C's of B's.
  const a = (await cloud.instances.launch({ tags: { SynktiCluster: 'owned', SynktiRole: 'worker' }, instanceType: 'local.small', lifecycle: 'spot' })).id;
  const files: Record<string, NodeFile | undefined> = {};
  let chain: string[] = [a];
  const booted = await waitUntil(() => {
    chain = [a];
    for (;;) {
      const id = chain[chain.length - 1]!;
      files[id] ??= nodeFile(stateDir, id);
      const next = files[id]?.launched;
      if (next === undefined) break;
      chain.push(next);
    }
    return chain.length === 3 && files[chain[2]!] !== undefined;
  }, 90_000, 50);
  assert.ok(booted, `the chain A → B → C booted (${chain.join(' → ')})`);
  const [, b, c] = chain as [string, string, string];
  const [fa, fb, fc] = [files[a]!, files[b]!, files[c]!];
  const hostB = cloud.instances.hostPid(b)!;
  const hostC = cloud.instances.hostPid(c)!;
  const runs = (host: number, f: NodeFile): boolean => isProcessAlive(host) && isProcessAlive(f.pid) && isProcessAlive(f.workloadPid);

  await cloud.instances.kill(a);
  const aGone = await waitUntil(() => !isProcessAlive(fa.pid) && !isProcessAlive(fa.workloadPid), 5000, 20);
  const bKept = runs(hostB, fb) && (await cloud.instances.list({ states: ['running'] })).items.some((r) => r.id === b);
  recordAttack('local provider kill of A: every process of A ends (its own-session workload too)', aGone);
  recordAttack('local provider kill of A: B, launched by A, keeps running', bKept);
  assert.ok(aGone, "A's agent and its workload are gone");
  assert.ok(bKept, "B's host, agent and workload still run, and B is listed running");

  // B's notice time comes: its host reclaims the whole instance (the path a spot interruption takes).
  await cloud.instances.preempt(b, { noticeInMs: 0 });
  const bGone = await waitUntil(() => !isProcessAlive(hostB) && !isProcessAlive(fb.pid) && !isProcessAlive(fb.workloadPid), 15_000, 20);
  const cKept = runs(hostC, fc);
  recordAttack('spot reclaim of B: every process of B ends', bGone);
  recordAttack('spot reclaim of B: C, launched by B, keeps running', cKept);
  assert.ok(bGone, "B's host, agent and workload are gone");
  assert.ok(cKept, "C's host, agent and workload still run");
});
