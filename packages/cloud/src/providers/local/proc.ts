/**
 * Process facts the local cloud needs to treat a process tree as a machine: is the
 * instance host still the process we started (pids are reused), and which processes
 * belong to an instance (its process group). Linux reads /proc; elsewhere the checks
 * fall back to `kill(pid, 0)`, which cannot detect pid reuse.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  /** One-letter state from /proc/<pid>/stat field 3: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** Parent pid (field 4). */
  ppid: number;
  /** Process group id (field 5). */
  pgrp: number;
  /** Start time in clock ticks after boot (field 22): with the pid, identifies one process. */
  startTime: number;
}

const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** /proc/<pid>/stat, or undefined when the process does not exist (or there is no /proc). */
export function readProcStat(pid: number): ProcStat | undefined {
  if (!HAS_PROC || !Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may itself contain spaces or ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3, so field n is rest[n - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (state === undefined || !Number.isFinite(pgrp) || !Number.isFinite(ppid) || !Number.isFinite(startTime)) return undefined;
  return { pid, state, ppid, pgrp, startTime };
}

/** The start time to record beside a pid, or undefined where /proc is not available. */
export function processStartTime(pid: number): number | undefined {
  return readProcStat(pid)?.startTime;
}

/**
 * True while `pid` runs and is the same process as when `startTime` was read. A zombie
 * counts as gone: it has exited and only waits for its parent to reap it.
 */
export function isProcessAlive(pid: number, startTime?: number | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (HAS_PROC) {
    const stat = readProcStat(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return false;
    return startTime === undefined || startTime === null || stat.startTime === startTime;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live (non-zombie) members of a process group. */
export function processGroupMembers(pgid: number): number[] {
  if (!HAS_PROC) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x') members.push(stat.pid);
  }
  return members;
}

/**
 * Every live process of an instance: its process group and all their descendants. A
 * workload supervisor may start its workload in a group of its own (to stop the
 * workload's whole tree); that workload still runs on the "machine" and dies with it.
 */
export function instanceProcesses(pgid: number): number[] {
  if (!HAS_PROC) return processGroupMembers(pgid);
  const stats: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x') stats.push(stat);
  }
  const members = new Set(stats.filter((s) => s.pgrp === pgid).map((s) => s.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const stat of stats) {
      if (!members.has(stat.pid) && members.has(stat.ppid)) {
        members.add(stat.pid);
        grew = true;
      }
    }
  }
  return [...members];
}

/**
 * SIGKILLs what is left of a process group whose leader has died (e.g. a boot command
 * that outlived its instance host). Only when the leader's pid is unused or a zombie:
 * while any member lives the kernel does not reuse the pid, so a live process with that
 * pid means the old group is gone and the pid belongs to someone else.
 */
export function killOrphanedGroup(pgid: number): void {
  const leader = readProcStat(pgid);
  if (leader && leader.state !== 'Z' && leader.state !== 'X' && leader.state !== 'x') return;
  if (processGroupMembers(pgid).length > 0) signalQuietly(-pgid, 'SIGKILL');
}

/** Sends a signal, ignoring a target that is already gone. Returns whether it was delivered. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls `condition` every `intervalMs` until it holds or `timeoutMs` passes; returns its last value. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
