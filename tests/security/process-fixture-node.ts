/**
 * Test fixture: the boot command of a local instance in process-ownership.test.ts, a
 * stand-in for an agent. An instance the test lists in `<stateDir>/roots.json` launches
 * one more instance (as an agent launches its replacement: the new host is this
 * process's child); every instance starts a "workload" in a session of its own (as the
 * workload supervisor does) and stays up. Writes `<stateDir>/<instance id>.json` with its
 * pid, its workload's and the id it launched.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { createLocalCloud } from '@synkti/cloud';

const stateDir = process.env.SYNKTI_LOCAL_STATE_DIR!;
const id = process.env.SYNKTI_LOCAL_INSTANCE_ID!;
const rootsFile = join(stateDir, 'roots.json');
// The test writes the roots right after launching them; a root may boot first.
for (let i = 0; i < 600 && !existsSync(rootsFile); i += 1) await new Promise((r) => setTimeout(r, 50));
const roots = existsSync(rootsFile) ? (JSON.parse(readFileSync(rootsFile, 'utf8')) as string[]) : [];
let launched: string | undefined;
if (roots.includes(id)) {
  const cloud = createLocalCloud({ stateDir });
  launched = (
    await cloud.instances.launch({
      tags: { [TAG_CLUSTER]: 'owned', [TAG_ROLE]: 'replacement' },
      instanceType: 'local.small',
      lifecycle: 'spot',
    })
  ).id;
  cloud.close();
}
const workload = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
workload.unref();
writeFileSync(join(stateDir, `${id}.json`), JSON.stringify({ pid: process.pid, workloadPid: workload.pid, launched }));
setInterval(() => {}, 1e9);
