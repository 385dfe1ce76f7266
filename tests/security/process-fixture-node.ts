/**
 * Test fixture: the boot command of a local instance in process-ownership.test.ts, a
 * stand-in for an agent. The first instance to boot launches one more instance (as an
 * agent launches its replacement: the new host is this process's child) and starts a
 * "workload" in a session of its own (as the workload supervisor does); every instance
 * then stays up. Writes `<stateDir>/<instance id>.json` with its pid and its workload's.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { createLocalCloud } from '@synkti/cloud';

const stateDir = process.env.SYNKTI_LOCAL_STATE_DIR!;
const id = process.env.SYNKTI_LOCAL_INSTANCE_ID!;
let launched: string | undefined;
for (const generation of [0, 1]) {
  try {
    // Each generation's lock is taken by exactly one instance: a chain A → B → C.
    closeSync(openSync(join(stateDir, `launcher-${generation}.lock`), 'wx'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    continue;
  }
  const cloud = createLocalCloud({ stateDir });
  launched = (await cloud.instances.launch({ tags: { [TAG_CLUSTER]: 'owned', [TAG_ROLE]: 'replacement' }, instanceType: 'local.small', lifecycle: 'spot' })).id;
  cloud.close();
  break;
}
const workload = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
workload.unref();
writeFileSync(join(stateDir, `${id}.json`), JSON.stringify({ pid: process.pid, workloadPid: workload.pid, launched }));
setInterval(() => {}, 1e9);
