/**
 * Which 127.X.0.0/16 block an emulated AWS gives its instances. Every emulated instance
 * binds its own loopback address with the production ports, so two emulated AWSes on one
 * host (two test files at once, a demo beside the tests) must not hand out the same
 * addresses: each claims a block with a lock file naming its process. A lock whose
 * process is gone is free again; ours are removed when this process exits.
 */
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynktiError } from '@synkti/core';

/** Second octets the emulator may use: 127.100.0.0/16 … 127.249.0.0/16. */
export const LOOPBACK_OCTETS = { first: 100, last: 249 } as const;

const claimed = new Set<string>();
let exitHooked = false;

function lockPath(octet: number, dir: string): string {
  return join(dir, `synkti-emulated-net-127.${octet}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryClaim(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // Taken: free again only if its process is gone (a crashed run).
  let owner = Number.NaN;
  try {
    owner = Number(readFileSync(path, 'utf8').trim());
  } catch {
    /* removed meanwhile */
  }
  if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
  try {
    unlinkSync(path);
  } catch {
    /* another claimer removed it first */
  }
  // One more attempt, no loop: a claimer that loses this race moves on to the next block.
  try {
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

/**
 * Claims a free 127.X.0.0/16 block for this process and returns X. Starts at a random
 * octet so concurrent claimers rarely even contend.
 */
export function claimLoopbackOctet(options: { lockDir?: string } = {}): number {
  const dir = options.lockDir ?? tmpdir();
  const span = LOOPBACK_OCTETS.last - LOOPBACK_OCTETS.first + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const octet = LOOPBACK_OCTETS.first + ((start + i) % span);
    const path = lockPath(octet, dir);
    if (!tryClaim(path)) continue;
    claimed.add(path);
    if (!exitHooked) {
      exitHooked = true;
      process.once('exit', () => {
        for (const p of claimed) {
          try {
            unlinkSync(p);
          } catch {
            /* gone */
          }
        }
      });
    }
    return octet;
  }
  throw new SynktiError(
    'E_EMULATED_NETWORK',
    `every loopback block 127.${LOOPBACK_OCTETS.first}-${LOOPBACK_OCTETS.last}.0.0/16 is claimed by a running emulated AWS`,
    {
      hint: `stop other emulated AWS runs, or remove stale ${join(dir, 'synkti-emulated-net-*.lock')} files`,
    },
  );
}

/** Gives a claimed block back (the process's exit does it too). */
export function releaseLoopbackOctet(octet: number, options: { lockDir?: string } = {}): void {
  const path = lockPath(octet, options.lockDir ?? tmpdir());
  if (!claimed.delete(path)) return;
  try {
    unlinkSync(path);
  } catch {
    /* gone */
  }
}
