/**
 * The workload's ownership record: the supervisor writes, beside its state, the pid of the
 * workload it started (which leads its own process group), the process's start time, the
 * machine's boot id and a random owner token it put in the workload's environment. An
 * agent that restarts after a SIGKILL (its workload re-parented to init, still holding its
 * port) reads the record and ends that process group before it binds anything, but only
 * once it has proved the process is really the one it started: same boot, same start
 * time (pids are reused), and the owner token in /proc/<pid>/environ. A recycled pid is
 * never signalled.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { SynktiError } from '@synkti/core';

/** Environment variable carrying the owner token into the workload (and all it starts). */
export const ENV_WORKLOAD_OWNER = 'SYNKTI_WORKLOAD_OWNER';
/** A record larger than this is not ours. */
const MAX_RECORD_BYTES = 4096;

export interface WorkloadPidRecord {
  /** Pid of the workload, also its process group id (it is spawned detached). */
  pid: number;
  /** Field 22 of /proc/<pid>/stat when it was spawned. */
  startTime: number;
  /** /proc/sys/kernel/random/boot_id: a record from before a reboot names nothing. */
  bootId: string;
  /** Random, per spawn; also in the workload's environment as SYNKTI_WORKLOAD_OWNER. */
  token: string;
}

export interface ReapResult {
  /** What the record said and what was done about it. */
  outcome: 'no-record' | 'stale' | 'not-ours' | 'ended';
  /** Processes signalled (the orphan's group). */
  killed: number[];
}

export interface ReapOptions {
  /** Between SIGTERM and SIGKILL. @default 2000 */
  graceMs?: number | undefined;
}

export function newOwnerToken(): string {
  return randomBytes(16).toString('hex');
}

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

interface Stat {
  state: string;
  pgrp: number;
  startTime: number;
}

function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const s = { state: rest[0] ?? '', pgrp: Number(rest[2]), startTime: Number(rest[19]) };
  return Number.isFinite(s.pgrp) && Number.isFinite(s.startTime) && s.state !== 'Z' && s.state !== 'X' ? s : undefined;
}

/** Start time of a live process (field 22 of /proc/<pid>/stat), or undefined. */
export function processStartTime(pid: number): number | undefined {
  return stat(pid)?.startTime;
}

function carriesToken(pid: number, token: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1')
      .slice(0, 256 * 1024)
      .split('\0')
      .includes(`${ENV_WORKLOAD_OWNER}=${token}`);
  } catch {
    return false;
  }
}

/** Live members of process group `pgid` that carry `token` (bounded scan of /proc). */
function groupMembersWithToken(pgid: number, token: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => stat(pid)?.pgrp === pgid && carriesToken(pid, token));
}

/** Writes the record atomically (0600): a crash mid-write leaves the old record or none. */
export function writeWorkloadPidFile(path: string, record: WorkloadPidRecord): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes the record if it still names `pid` (a newer spawn's record is left alone). */
export function clearWorkloadPidFile(path: string, pid: number): void {
  const record = readWorkloadPidFile(path);
  if (record === undefined || record.pid === pid) rmSync(path, { force: true });
}

/** The record, or undefined when absent or not a record this code wrote (treated as absent). */
export function readWorkloadPidFile(path: string): WorkloadPidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  if (text.length > MAX_RECORD_BYTES) return undefined;
  try {
    const r = JSON.parse(text) as Partial<WorkloadPidRecord>;
    if (
      !Number.isInteger(r.pid) ||
      (r.pid as number) <= 1 ||
      !Number.isFinite(r.startTime) ||
      typeof r.bootId !== 'string' ||
      typeof r.token !== 'string' ||
      !/^[0-9a-f]{32}$/.test(r.token)
    )
      return undefined;
    return r as WorkloadPidRecord;
  } catch {
    return undefined;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone already.
  }
}

/**
 * Ends the workload a previous agent left behind, if the record proves it is ours; then
 * removes the record. Resolves once none of its processes is left (bounded by `graceMs`
 * plus a SIGKILL wait).
 */
export async function reapOrphanWorkload(path: string, options: ReapOptions = {}): Promise<ReapResult> {
  const record = readWorkloadPidFile(path);
  if (record === undefined) {
    rmSync(path, { force: true });
    return { outcome: 'no-record', killed: [] };
  }
  const done = (outcome: ReapResult['outcome'], killed: number[]): ReapResult => {
    rmSync(path, { force: true });
    return { outcome, killed };
  };
  if (record.bootId !== bootId()) return done('stale', []);
  const leader = stat(record.pid);
  let victims: number[];
  if (leader) {
    // A live process with that pid: ours only if it is the very process we started.
    if (leader.startTime !== record.startTime || !carriesToken(record.pid, record.token)) return done('not-ours', []);
    victims = groupMembersWithToken(record.pid, record.token);
    if (!victims.includes(record.pid)) victims.push(record.pid);
  } else {
    // Leader gone: the kernel does not reuse a pid while its group has members, so members
    // of that group carrying our token are what the workload left.
    victims = groupMembersWithToken(record.pid, record.token);
    if (victims.length === 0) return done('stale', []);
  }
  const graceMs = options.graceMs ?? 2000;
  signalGroup(record.pid, 'SIGTERM');
  const alive = (): boolean => victims.some((pid) => stat(pid) !== undefined);
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (alive()) {
    signalGroup(record.pid, 'SIGKILL');
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const killDeadline = Date.now() + 5000;
    while (alive() && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 25));
    if (alive())
      throw new SynktiError('E_WORKLOAD_ORPHAN', `the previous workload (pid ${record.pid}) survived SIGKILL`, {
        hint: `end process group ${record.pid} by hand, then restart the agent`,
      });
  }
  return done('ended', victims);
}
