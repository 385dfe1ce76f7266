/**
 * Test support: hosts with their own addresses, and faults the way networks make them.
 *
 * Each host is a network namespace with one veth link into a private bridge on a test
 * subnet of its own (10.231.X.0/24, X picked free per run; the bridge holds .1 so this
 * process can reach the hosts). Nothing is routed anywhere else: no default route, no NAT.
 *
 * Faults drop packets instead of refusing them, as on EC2 (where a dead instance's address
 * just stops answering). This kernel has no netem and the machine no nft/iptables, so:
 * - every host knows every other host's MAC statically (permanent neighbour entries): a
 *   dead peer never turns into a fast "host unreachable" from a failed ARP;
 * - a cut is the host side of the host's veth set down: the bridge drops what is sent to it,
 *   and what it sends goes nowhere;
 * - "from A, B is unreachable" is A's neighbour entry for B pointing at a MAC nobody has:
 *   the bridge floods the frame and every port drops it. Per direction, so a partition is
 *   both directions for every pair across the groups and asymmetric reachability is one.
 *
 * Each namespace's own `lo` also holds 169.254.169.254 (EC2's metadata address), where the
 * local cloud's host-per-namespace mode serves that host's metadata: traffic to it never
 * leaves the namespace, and the machine's own namespace never gets the address or a route.
 *
 * Root and iproute2 only; `netnsUnavailableReason()` says why not otherwise. Everything is
 * named `snf<X>…` and a marker file records the owning pid, so `sweepStaleNetnsHosts()`
 * removes what a crashed run left without touching a live parallel run. Removing a run
 * first ends every process still inside its namespaces (`ip netns pids`): a deleted
 * namespace's name goes, but its processes (agents, model servers) would live on. An
 * interrupted owner (SIGINT, SIGTERM, SIGHUP) removes its runs before it exits.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SynktiError } from '@synkti/core';
import { NAMESPACE_METADATA_ADDRESS, type LocalHostPlacement } from '../providers/local/host-pool.ts';

const run = promisify(execFile);
const NAME_PREFIX = 'snf';
const MARKER_DIR = '/run/synkti-netns-hosts';
/** A locally administered MAC no host has: frames to it are flooded and dropped by everyone. */
const VOID_MAC = '02:00:5e:00:de:ad';
const MAX_HOSTS = 50;

export interface NetnsHost {
  /** Index in creation order (0-based). */
  index: number;
  /** The network namespace (`ip netns exec <namespace> …`). */
  namespace: string;
  /** The host's address on the test subnet. */
  address: string;
  /** MAC of the host's interface (eth0 inside its namespace). */
  mac: string;
  /** The host-side end of its veth pair, on the bridge. */
  hostLink: string;
}

export interface NetnsHostsOptions {
  /** Number of hosts (1-50). */
  count: number;
}

export interface NetnsHosts {
  hosts: NetnsHost[];
  /** This process's address on the bridge (reaches every host that is not cut). */
  gateway: string;
  /** The bridge. */
  bridge: string;
  /** The hosts as the local cloud's `hosts` option takes them (host-per-namespace mode). */
  placements: LocalHostPlacement[];
  /** argv that runs `argv` inside a host (`ip netns exec` execs it: the pid is the command's). */
  command(host: NetnsHost, argv: string[]): string[];
  /** Spawns `argv` inside a host. */
  spawn(host: NetnsHost, argv: string[], options?: SpawnOptions): ChildProcess;
  /** Runs `argv` inside a host to completion. */
  exec(host: NetnsHost, argv: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Cuts the host's link: packets to and from it are dropped (no reset, no ICMP). */
  cut(host: NetnsHost): Promise<void>;
  /** Restores a cut link. */
  restore(host: NetnsHost): Promise<void>;
  /** Packets from `from` to `to` vanish (one direction only). */
  block(from: NetnsHost, to: NetnsHost): Promise<void>;
  /** Undoes `block(from, to)`. */
  unblock(from: NetnsHost, to: NetnsHost): Promise<void>;
  /** No host of `a` reaches any of `b` nor the other way; both still reach the gateway. */
  partition(a: NetnsHost[], b: NetnsHost[]): Promise<void>;
  /** Undoes every block and partition (cuts stay: `restore` them). */
  heal(): Promise<void>;
  /**
   * Removes the namespaces, links and bridge. Idempotent. A process still inside a host is
   * ended with SIGKILL first (end yours gracefully before, where that matters).
   */
  destroy(): Promise<void>;
}

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 10_000 })).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new SynktiError('E_NETNS', `ip ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: error,
      hint: 'test hosts need root and iproute2 (ip netns, veth, bridge)',
    });
  }
}

async function ipQuiet(args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 }).catch(() => undefined);
}

/** Why namespaces cannot be made here (for a test skip), or undefined when they can. */
export async function netnsUnavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return 'network namespaces need root (run the tests as root, as CI does)';
  try {
    await run('ip', ['-V'], { timeout: 5000 });
  } catch {
    return 'iproute2 (`ip`) is not installed: apt-get install -y iproute2';
  }
  const probe = `${NAME_PREFIX}p${process.pid % 100_000}`;
  const steps: Array<[string, string[]]> = [
    ['a network namespace', ['netns', 'add', probe]],
    ['a bridge', ['link', 'add', `${probe}b`, 'type', 'bridge']],
    ['a veth pair into a namespace', ['link', 'add', `${probe}v`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', probe]],
  ];
  try {
    for (const [what, args] of steps) {
      try {
        await run('ip', args, { timeout: 5000 });
      } catch (error) {
        return `cannot create ${what}: ${((error as { stderr?: string }).stderr ?? String(error)).trim()}`;
      }
    }
  } finally {
    await ipQuiet(['link', 'del', `${probe}v`]);
    await ipQuiet(['link', 'del', `${probe}b`]);
    await ipQuiet(['netns', 'del', probe]);
  }
  return undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces, links and bridges `snf<X>…` whose owning process is gone (a crashed run). */
export async function sweepStaleNetnsHosts(): Promise<void> {
  const owners = new Map<string, number>();
  try {
    for (const file of readdirSync(MARKER_DIR)) {
      const pid = Number(readFileSync(join(MARKER_DIR, file), 'utf8').trim());
      owners.set(file, Number.isInteger(pid) ? pid : 0);
    }
  } catch {
    /* no markers yet */
  }
  const runs = new Set<string>();
  for (const line of (await ip(['netns', 'list'])).split('\n')) {
    const match = /^(snf\d+)n\d+\b/.exec(line.trim());
    if (match) runs.add(match[1]!);
  }
  for (const line of (await ip(['-o', 'link', 'show'])).split('\n')) {
    const match = /^\d+:\s+(snf\d+)(?:br|h\d+)[@:]/.exec(line);
    if (match) runs.add(match[1]!);
  }
  for (const runName of runs) {
    const owner = owners.get(runName);
    // No marker: its creator died before writing one or a marker dir was wiped; alive owners keep theirs.
    if (owner !== undefined && owner > 0 && pidAlive(owner)) continue;
    await removeRun(runName);
  }
  for (const [runName, pid] of owners)
    if (!runs.has(runName) && !(pid > 0 && pidAlive(pid))) rmSync(join(MARKER_DIR, runName), { force: true });
}

/** The pids inside a namespace (none when it is gone). */
async function pidsIn(namespace: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', namespace], { timeout: 10_000 }).then(
    (r) => r.stdout,
    () => '',
  );
  return out
    .split('\n')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}

/** Ends what runs inside the namespaces (SIGKILL: the run is over, no drain is owed) and waits until they are empty (bounded). */
async function emptyNamespaces(namespaces: string[]): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const left = (await Promise.all(namespaces.map(pidsIn))).flat();
    if (left.length === 0 || Date.now() > until) return;
    left.forEach(killQuietly);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function removeRun(runName: string): Promise<void> {
  const namespaces = (await ip(['netns', 'list']))
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((ns): ns is string => ns !== undefined && ns.startsWith(`${runName}n`));
  await emptyNamespaces(namespaces);
  for (const ns of namespaces) await ipQuiet(['netns', 'del', ns]);
  for (const line of (await ip(['-o', 'link', 'show'])).split('\n')) {
    const match = /^\d+:\s+([^@:\s]+)/.exec(line);
    const link = match?.[1];
    if (link && (link === `${runName}br` || new RegExp(`^${runName}h\\d+$`).test(link))) await ipQuiet(['link', 'del', link]);
  }
  rmSync(join(MARKER_DIR, runName), { force: true });
}

/** Runs this process owns, removed synchronously if it is interrupted. */
const liveRuns = new Set<string>();
const TEARDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The synchronous twin of removeRun, for a signal handler (the event loop may not turn
 * again): ends the processes inside the run's namespaces, then removes namespaces, links
 * and marker. Best effort and bounded (each `ip` call times out).
 */
function removeRunSync(runName: string): void {
  const ipSync = (args: string[]): string => {
    try {
      return execFileSync('ip', args, { timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  const namespaces = ipSync(['netns', 'list'])
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((ns): ns is string => ns !== undefined && ns.startsWith(`${runName}n`));
  for (const ns of namespaces)
    ipSync(['netns', 'pids', ns])
      .split('\n')
      .map(Number)
      .filter((pid) => pid > 0)
      .forEach(killQuietly);
  for (const ns of namespaces) ipSync(['netns', 'del', ns]);
  for (const line of ipSync(['-o', 'link', 'show']).split('\n')) {
    const link = /^\d+:\s+([^@:\s]+)/.exec(line)?.[1];
    if (link && (link === `${runName}br` || new RegExp(`^${runName}h\\d+$`).test(link))) ipSync(['link', 'del', link]);
  }
  rmSync(join(MARKER_DIR, runName), { force: true });
}

function onTeardownSignal(signal: NodeJS.Signals): void {
  for (const runName of liveRuns) removeRunSync(runName);
  liveRuns.clear();
  for (const s of TEARDOWN_SIGNALS) process.removeListener(s, onTeardownSignal);
  // Nobody else handles the signal: die of it, as without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function trackRun(runName: string): void {
  if (liveRuns.size === 0) for (const s of TEARDOWN_SIGNALS) process.on(s, onTeardownSignal);
  liveRuns.add(runName);
}

function untrackRun(runName: string): void {
  liveRuns.delete(runName);
  if (liveRuns.size === 0) for (const s of TEARDOWN_SIGNALS) process.removeListener(s, onTeardownSignal);
}

/** Picks X for 10.231.X.0/24: no run of ours uses it and no interface here has an address in it. */
async function pickSubnet(): Promise<number> {
  const used = new Set<number>();
  for (const match of (await ip(['-4', '-o', 'addr', 'show'])).matchAll(/inet 10\.231\.(\d+)\./g)) used.add(Number(match[1]));
  for (const match of (await ip(['-o', 'link', 'show'])).matchAll(/\bsnf(\d+)(?:br|h\d+)\b/g)) used.add(Number(match[1]));
  for (const match of (await ip(['netns', 'list'])).matchAll(/\bsnf(\d+)n\d+\b/g)) used.add(Number(match[1]));
  const start = (process.pid + Math.floor(Math.random() * 254)) % 254;
  for (let i = 0; i < 254; i += 1) {
    const x = ((start + i) % 254) + 1;
    if (!used.has(x)) return x;
  }
  throw new SynktiError('E_NETNS', 'no free test subnet in 10.231.0.0/16', {
    hint: 'sweepStaleNetnsHosts() removes what crashed runs left',
  });
}

/** Creates `count` hosts on a fresh bridge; call `destroy()` in a finally / t.after. */
export async function createNetnsHosts(options: NetnsHostsOptions): Promise<NetnsHosts> {
  const count = options.count;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new SynktiError('E_NETNS', `count must be an integer from 1 to ${MAX_HOSTS}, got ${count}`, {
      hint: 'e.g. createNetnsHosts({ count: 3 })',
    });
  }
  await sweepStaleNetnsHosts();
  const x = await pickSubnet();
  const runName = `${NAME_PREFIX}${x}`;
  // The marker first: a crash from here on leaves something a later sweep can attribute.
  mkdirSync(MARKER_DIR, { recursive: true });
  writeFileSync(join(MARKER_DIR, runName), String(process.pid));
  trackRun(runName);
  const bridge = `${runName}br`;
  const gateway = `10.231.${x}.1`;
  const hosts: NetnsHost[] = [];
  const cutLinks = new Set<string>();
  const blocked = new Set<string>();
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => (destroyed ??= removeRun(runName).finally(() => untrackRun(runName)));
  const macOf = new Map<string, string>();

  try {
    await ip(['link', 'add', bridge, 'type', 'bridge']);
    await ip(['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    await ip(['link', 'set', bridge, 'up']);
    for (let i = 0; i < count; i += 1) {
      const namespace = `${runName}n${i}`;
      const hostLink = `${runName}h${i}`;
      const address = `10.231.${x}.${i + 10}`;
      await ip(['netns', 'add', namespace]);
      await ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
      await ip(['link', 'set', hostLink, 'master', bridge, 'up']);
      await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
      // The host's metadata address, on its own loopback: answered inside, routed nowhere else.
      await ip(['-n', namespace, 'addr', 'add', `${NAMESPACE_METADATA_ADDRESS}/32`, 'dev', 'lo']);
      await ip(['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      await ip(['-n', namespace, 'link', 'set', 'eth0', 'up']);
      const link = JSON.parse(await ip(['-j', '-n', namespace, 'link', 'show', 'eth0'])) as Array<{ address: string }>;
      const mac = link[0]!.address;
      macOf.set(address, mac);
      hosts.push({ index: i, namespace, address, mac, hostLink });
    }
    const bridgeMac = (JSON.parse(await ip(['-j', 'link', 'show', bridge])) as Array<{ address: string }>)[0]!.address;
    macOf.set(gateway, bridgeMac);
    // Static neighbours everywhere: a dead peer is silence, never a failed ARP's quick error.
    await Promise.all(
      hosts.map((host) =>
        setNeighbours(
          host.namespace,
          [...macOf].filter(([address]) => address !== host.address).map(([address, mac]) => ({ address, mac })),
        ),
      ),
    );
  } catch (error) {
    await destroy();
    throw error;
  }

  /** Sets each (from, to) pair blocked or not: one `ip -batch` per source namespace. */
  const setBlocked = async (pairs: Array<[NetnsHost, NetnsHost]>, on: boolean): Promise<void> => {
    const bySource = new Map<NetnsHost, NetnsHost[]>();
    for (const [from, to] of pairs) bySource.set(from, [...(bySource.get(from) ?? []), to]);
    await Promise.all(
      [...bySource].map(([from, tos]) =>
        setNeighbours(
          from.namespace,
          tos.map((to) => ({ address: to.address, mac: on ? VOID_MAC : to.mac })),
        ),
      ),
    );
    for (const [from, to] of pairs) {
      if (on) blocked.add(`${from.index}>${to.index}`);
      else blocked.delete(`${from.index}>${to.index}`);
    }
  };

  return {
    hosts,
    gateway,
    bridge,
    placements: hosts.map((host) => ({ namespace: host.namespace, privateIp: host.address })),
    command: (host, argv) => ['ip', 'netns', 'exec', host.namespace, ...argv],
    spawn: (host, argv, spawnOptions = {}) => spawn('ip', ['netns', 'exec', host.namespace, ...argv], spawnOptions),
    exec: async (host, argv) => {
      const { stdout, stderr } = await run('ip', ['netns', 'exec', host.namespace, ...argv], { timeout: 30_000 });
      return { stdout, stderr };
    },
    async cut(host) {
      await ip(['link', 'set', host.hostLink, 'down']);
      cutLinks.add(host.hostLink);
    },
    async restore(host) {
      await ip(['link', 'set', host.hostLink, 'up']);
      cutLinks.delete(host.hostLink);
    },
    block: (from, to) => setBlocked([[from, to]], true),
    unblock: (from, to) => setBlocked([[from, to]], false),
    async partition(a, b) {
      const pairs: Array<[NetnsHost, NetnsHost]> = [];
      for (const from of a) for (const to of b) pairs.push([from, to], [to, from]);
      await setBlocked(pairs, true);
    },
    async heal() {
      await setBlocked(
        [...blocked].map((key) => {
          const [from, to] = key.split('>').map(Number);
          return [hosts[from!]!, hosts[to!]!];
        }),
        false,
      );
    },
    destroy,
  };
}

/** Permanent neighbour entries in a namespace, in one `ip -batch` (a process per entry is seconds under load). */
async function setNeighbours(namespace: string, entries: Array<{ address: string; mac: string }>): Promise<void> {
  if (entries.length === 0) return;
  const script = entries.map((e) => `neigh replace ${e.address} lladdr ${e.mac} dev eth0 nud permanent`).join('\n') + '\n';
  const child = spawn('ip', ['-n', namespace, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  child.stdin!.end(script);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new SynktiError('E_NETNS', `ip -n ${namespace} -batch (neighbours) exited ${code}: ${stderr.trim()}`, {
      hint: 'test hosts need root and iproute2 (ip netns, veth, bridge)',
    });
  }
}
