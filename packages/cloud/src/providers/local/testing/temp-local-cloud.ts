/**
 * Test support: a local cloud in a fresh temp directory, and a teardown that SIGKILLs
 * every instance it ever started before removing the directory (instances are detached
 * and outlive the test process otherwise).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCloud, type LocalCloud } from '../local-cloud.ts';
import type { LocalCloudOptions } from '../local-instance-provider.ts';
import { isProcessAlive, killOrphanedGroup, processGroupMembers, signalQuietly, waitUntil } from '../proc.ts';
import { LocalRegistry } from '../registry.ts';

/** A boot command that just stays alive, as a minimal "AMI". */
export const STAY_ALIVE_BOOT = [process.execPath, '-e', 'setInterval(() => {}, 1e9)'];

export interface TempLocalCloud {
  stateDir: string;
  cloud: LocalCloud;
  /** Kills every instance, closes the cloud and removes the directory. Idempotent. */
  destroy(): Promise<void>;
}

export async function createTempLocalCloud(options: Partial<LocalCloudOptions> & { prefix?: string } = {}): Promise<TempLocalCloud> {
  const { prefix, ...rest } = options;
  const stateDir = await mkdtemp(join(tmpdir(), prefix ?? 'synkti-local-'));
  const cloud = createLocalCloud({ bootCommand: STAY_ALIVE_BOOT, terminateGraceMs: 2000, ...rest, stateDir });
  let destroyed: Promise<void> | undefined;
  return {
    stateDir,
    cloud,
    destroy() {
      destroyed ??= (async () => {
        try {
          await killAllLocalInstances(stateDir);
        } finally {
          cloud.close();
          await rm(stateDir, { recursive: true, force: true });
        }
      })();
      return destroyed;
    },
  };
}

/** SIGKILLs the process group of every instance ever launched in `stateDir` and waits until they are gone. */
export async function killAllLocalInstances(stateDir: string): Promise<void> {
  const registry = LocalRegistry.open(stateDir);
  const groups: number[] = [];
  try {
    for (const row of registry.queryInstances({ states: ['pending', 'running', 'shutting-down', 'terminated'], limit: 1_000_000 })) {
      if (row.hostPid === null) continue;
      if (isProcessAlive(row.hostPid, row.hostStartTime)) signalQuietly(-row.hostPid, 'SIGKILL');
      else killOrphanedGroup(row.hostPid);
      groups.push(row.hostPid);
    }
  } finally {
    registry.close();
  }
  await waitUntil(() => groups.every((pgid) => processGroupMembers(pgid).length === 0), 5000, 20);
}
