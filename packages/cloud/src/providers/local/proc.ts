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
  return liveProcessStats()
    .filter((stat) => stat.pgrp === pgid)
    .map((stat) => stat.pid);
}

/** Bound on what is read of one /proc/<pid>/cmdline or environ. */
const MAX_PROC_FILE_BYTES = 256 * 1024;

function readNulSeparated(pid: number, file: 'cmdline' | 'environ'): string[] | undefined {
  if (!HAS_PROC || !Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/${file}`, 'latin1');
    return text
      .slice(0, MAX_PROC_FILE_BYTES)
      .split('\0')
      .filter((part) => part !== '');
  } catch {
    return undefined;
  }
}

/** The argument vector of a process, or undefined when it is gone (or there is no /proc). */
export function readCmdline(pid: number): string[] | undefined {
  return readNulSeparated(pid, 'cmdline');
}

/**
 * The environment a process started with, or undefined when it cannot be read (gone, or
 * another user's). Only processes of this user are ever matched by it.
 */
export function readEnviron(pid: number): Map<string, string> | undefined {
  const entries = readNulSeparated(pid, 'environ');
  if (!entries) return undefined;
  const env = new Map<string, string>();
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** Set by an instance host on its boot command (inherited by everything the instance runs). */
export const ENV_LOCAL_INSTANCE_ID = 'SYNKTI_LOCAL_INSTANCE_ID';
/** Set by an instance host on its boot command: the local cloud's state directory. */
export const ENV_LOCAL_STATE_DIR_MARK = 'SYNKTI_LOCAL_STATE_DIR';
/** The host's entry: the source through tsx, or the agent release's compiled copy. */
const HOST_MAIN_NAMES = ['instance-host-main.ts', 'instance-host-main.mjs'];

/** `{ id, stateDir }` when `pid` is a local instance host (from its command line). */
export function instanceHostOf(pid: number): { id: string; stateDir: string } | undefined {
  const argv = readCmdline(pid);
  if (!argv || !argv.some((a) => HOST_MAIN_NAMES.some((name) => a.endsWith(name)))) return undefined;
  const at = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const id = at('--id');
  const stateDir = at('--state-dir');
  return id !== undefined && stateDir !== undefined ? { id, stateDir } : undefined;
}

/** Every pid in /proc (empty where there is no /proc). */
export function processIds(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** /proc/<pid>/stat of every live process (zombies and dead ones left out). */
export function liveProcessStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const pid of processIds()) {
    const stat = readProcStat(pid);
    if (stat && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x') stats.push(stat);
  }
  return stats;
}

/**
 * Every live process of one instance, and no other instance's:
 *   - its process group (led by the instance host) and the descendants of its members,
 *     but never through another instance's host: a replacement this instance launched is
 *     spawned detached, yet it is a child of this instance's agent until that agent dies,
 *     and it is a machine of its own;
 *   - processes that carry this instance's mark in their environment (set by the host on
 *     its boot command and inherited by all it starts): a workload whose agent was
 *     SIGKILLed is re-parented to init, out of the tree, and still belongs to the machine.
 * Without /proc only the process group is known.
 */
export function instanceProcesses(pgid: number): number[] {
  if (!HAS_PROC) return processGroupMembers(pgid);
  const stats = liveProcessStats();
  const self = instanceHostOf(pgid);
  // Another instance's host (never this one's) bounds the walk.
  const isOtherHost = (pid: number): boolean => pid !== pgid && instanceHostOf(pid) !== undefined;
  const members = new Set<number>();
  for (const s of stats) {
    if (s.pgrp === pgid && !isOtherHost(s.pid)) members.add(s.pid);
  }
  if (self) {
    for (const s of stats) {
      if (members.has(s.pid)) continue;
      const env = readEnviron(s.pid);
      if (env?.get(ENV_LOCAL_INSTANCE_ID) === self.id && env.get(ENV_LOCAL_STATE_DIR_MARK) === self.stateDir && !isOtherHost(s.pid))
        members.add(s.pid);
    }
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const stat of stats) {
      if (!members.has(stat.pid) && members.has(stat.ppid) && !isOtherHost(stat.pid)) {
        members.add(stat.pid);
        grew = true;
      }
    }
  }
  return [...members];
}

/**
 * Every live process that belongs to the local cloud at `stateDir`: instance hosts of
 * that state directory and whatever carries its mark in the environment, except those of
 * `exceptInstances` (instances still live). What `synkti down` ends once its instances
 * are terminated, so nothing of the fleet outlives it.
 */
export function localCloudProcesses(stateDir: string, options: { exceptInstances?: ReadonlySet<string> } = {}): number[] {
  if (!HAS_PROC) return [];
  const out: number[] = [];
  const except = options.exceptInstances ?? new Set<string>();
  for (const s of liveProcessStats()) {
    if (s.pid === process.pid) continue;
    const host = instanceHostOf(s.pid);
    if (host) {
      if (host.stateDir === stateDir && !except.has(host.id)) out.push(s.pid);
      continue;
    }
    const env = readEnviron(s.pid);
    if (env?.get(ENV_LOCAL_STATE_DIR_MARK) === stateDir && !except.has(env.get(ENV_LOCAL_INSTANCE_ID) ?? '')) out.push(s.pid);
  }
  return out;
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
