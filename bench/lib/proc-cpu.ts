/**
 * CPU time a process (and, if asked, its direct children: nginx's workers) has used so far,
 * read from /proc/<pid>/stat (utime + stime, in clock ticks). Linux only.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (CLK_TCK); 100 on every mainstream Linux. */
const TICKS_PER_S = 100;

function statFields(pid: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function ownMicros(pid: number): number {
  const f = statFields(pid);
  if (f === undefined) return 0;
  // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return ((Number(f[11]) + Number(f[12])) * 1_000_000) / TICKS_PER_S;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f !== undefined && Number(f[1]) === pid) out.push(Number(name));
  }
  return out;
}

/** CPU µs used so far by `pid`, plus its direct children's when `withChildren`. */
export function cpuMicros(pid: number, withChildren = false): number {
  let total = ownMicros(pid);
  if (withChildren) for (const child of childrenOf(pid)) total += ownMicros(child);
  return total;
}

/** CPU µs used so far by `pid` and every descendant still running (a server and its workers, at any depth). */
export function treeCpuMicros(pid: number): number {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (f !== undefined) parentOf.set(Number(name), Number(f[1]));
  }
  let total = 0;
  for (const candidate of parentOf.keys()) {
    // Walk up (bounded: a pid table holds no cycle, but a racing reuse must not loop forever).
    let at: number | undefined = candidate;
    for (let hops = 0; at !== undefined && at > 1 && hops < 64; hops += 1) {
      if (at === pid) {
        total += ownMicros(candidate);
        break;
      }
      at = parentOf.get(at);
    }
  }
  return total;
}
