/**
 * Membership at scale: N agents (100, 1,000, 10,000) run the real SWIM code
 * (@synkti/agent SwimNode, MembershipView, ListerElection) in one process under a fake
 * clock, on an in-process network that loses messages to dead nodes, against a fake EC2
 * that counts DescribeInstances calls and enforces the documented token bucket
 * (docs/field-notes.md: 100 burst, 20/s refill for a filtered or paginated call; one call per
 * page of 1,000).
 *
 *   npm run bench -- membership [--n 100,1000,10000] [--seconds 90] [--seed 1]
 *
 * Timeline per N: a converged fleet; at 20 s a new instance joins (it lists one page of
 * 50 to find seeds, then syncs with 3 of them); at 45 s a random instance is terminated
 * without notice. Measured: fleet-wide DescribeInstances/s over the whole run (our
 * listers and the joiner's seed lookup), time until every live agent knows the newcomer,
 * time until no live agent lists the dead one, throttled calls. In the same run, the
 * naive design (every node lists every 30 s) is charged against its own bucket.
 * Agent defaults: 1 s protocol period, 5 s failure timeout (4 s suspicion), 15 s list
 * interval ± 20 %, 2 listers. Final line per N:
 * {"bench":"membership","n":N,"describe_per_s":x,"naive_describe_per_s":y,"join_converge_s":a,"death_converge_s":b,"throttled":0}
 */
import {
  type Member,
  MembershipView,
  ListerElection,
  SwimNode,
  defaultPeerRef,
  isListDue,
  listDelayMs,
  membershipBaseline,
} from '@synkti/agent';
import { SwimNetwork, seededRandom, type SimClock } from '@synkti/agent/testing';
import { numberArg, parseArgs } from './lib/args.ts';
import { round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- membership [options]

Simulates N agents (real membership code, fake clock, fake EC2 with its token bucket).
  --n LIST        fleet sizes (default 100,1000,10000)
  --seconds S     simulated seconds per fleet size (default 90)
  --seed S        random seed (default 1)
Prints a table, then one JSON line per N.`;

const PERIOD_MS = 1000;
const FAILURE_TIMEOUT_MS = 5000;
const LIST_INTERVAL_MS = 15_000;
const LISTERS = 2;
const NAIVE_INTERVAL_MS = 30_000;
const PAGE = 1000;
const JOIN_AT_MS = 20_000;
const CRASH_AT_MS = 45_000;

/** EC2's per-action token bucket: `capacity` calls at once, refilled at `refillPerS`. */
class TokenBucket {
  private tokens: number;
  private last: number;
  calls = 0;
  throttled = 0;

  constructor(
    private readonly capacity: number,
    private readonly refillPerS: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** One API call at `now`: false (RequestLimitExceeded) when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.refillPerS);
    this.last = now;
    this.calls += 1;
    if (this.tokens < 1) {
      this.throttled += 1;
      return false;
    }
    this.tokens -= 1;
    return true;
  }
}

/** The fake EC2: the cluster's running instances in launch order, listed page by page. */
class FakeEc2 {
  readonly running: string[] = [];
  constructor(readonly describe: TokenBucket) {}

  /** A full filtered listing (every page); undefined when a page was throttled. */
  listAll(now: number): string[] | undefined {
    const pages = Math.max(1, Math.ceil(this.running.length / PAGE));
    for (let i = 0; i < pages; i++) if (!this.describe.take(now)) return undefined;
    return this.running;
  }

  /** One page of `size` (a joiner looking for seeds). */
  firstPage(now: number, size: number): string[] | undefined {
    return this.describe.take(now) ? this.running.slice(0, size) : undefined;
  }
}

function memberOf(id: string): Member {
  return {
    id,
    role: 'worker',
    zone: 'sim',
    address: '10.0.0.1',
    agentPort: 7000,
    routerPort: 8080,
    workloadPort: 8000,
    state: 'ready',
    incarnation: 1,
    version: 0,
    load: 0,
  };
}

interface Result {
  n: number;
  describePerS: number;
  naivePerS: number;
  joinS: number | null;
  deathS: number | null;
  throttled: number;
  naiveThrottled: number;
  messagesPerNodeS: number;
  bytesPerNodeS: number;
  maxUpdates: number;
  wallS: number;
}

function simulate(n: number, seconds: number, seed: number): Result {
  const wallStart = performance.now();
  const clock: SimClock = { now: 0 };
  const random = seededRandom(seed);
  const ids = Array.from({ length: n }, (_, i) => `i-${String(i).padStart(6, '0')}`);
  const baseline = membershipBaseline(ids.map(memberOf));
  const net = new SwimNetwork({ clock, latencyMs: 1, tickMs: 100, afterTick: (now) => afterTick(now) });
  const ec2 = new FakeEc2(new TokenBucket(100, 20, 0));
  const naive = new TokenBucket(100, 20, 0);
  const scores = new Map<string, bigint>();
  interface Lister {
    election: ListerElection;
    nextAt: number;
    lastAt: number;
    naiveAt: number;
  }
  const listers = new Map<string, Lister>();

  const addNode = (id: string, view: MembershipView): SwimNode => {
    const node = new SwimNode({
      view,
      probeIntervalMs: PERIOD_MS,
      suspicionTimeoutMs: FAILURE_TIMEOUT_MS - PERIOD_MS,
      clock: () => clock.now,
      random,
    });
    net.add(node);
    listers.set(id, {
      election: new ListerElection('bench', LISTERS, scores),
      nextAt: clock.now + listDelayMs(LIST_INTERVAL_MS, view.size <= 1, random),
      lastAt: 0,
      naiveAt: clock.now + random() * NAIVE_INTERVAL_MS,
    });
    return node;
  };
  for (const id of ids) {
    addNode(id, new MembershipView({ self: memberOf(id), baseline, clock: () => clock.now }));
    ec2.running.push(id);
  }

  const newcomer = 'i-newcomer';
  let victim = '';
  let joinedAt: number | undefined;
  let deadAt: number | undefined;
  let joinS: number | null = null;
  let deathS: number | null = null;

  function afterTick(now: number): void {
    // Cloud listers, exactly as Membership schedules them.
    for (const [id, lister] of listers) {
      const node = net.nodes.get(id);
      if (!node) continue;
      if (now >= lister.naiveAt) {
        lister.naiveAt += NAIVE_INTERVAL_MS;
        const pages = Math.max(1, Math.ceil(ec2.running.length / PAGE));
        for (let i = 0; i < pages; i++) naive.take(now); // a throttled page is still a call asked of the API
      }
      if (now < lister.nextAt) continue;
      lister.nextAt = now + listDelayMs(LIST_INTERVAL_MS, node.view.size <= 1, random);
      if (!isListDue(lister.election, node.view, lister.lastAt, now, LIST_INTERVAL_MS)) continue;
      lister.lastAt = now;
      const listed = ec2.listAll(now);
      if (!listed) continue;
      let contacts = 0;
      for (const other of listed) {
        if (contacts >= 8) break;
        if (other === id || node.view.has(other) || node.view.isDead(other)) continue;
        contacts += 1;
        net.send(id, [node.syncTo({ ...defaultPeerRef(memberOf(other)), id: other })]);
      }
    }
    // Convergence checks, once per simulated 100 ms.
    if (joinedAt !== undefined && joinS === null) {
      let all = true;
      for (const node of net.nodes.values())
        if (!node.view.has(newcomer)) {
          all = false;
          break;
        }
      if (all) joinS = (now - joinedAt) / 1000;
    }
    if (deadAt !== undefined && deathS === null) {
      let none = true;
      for (const node of net.nodes.values())
        if (node.view.has(victim)) {
          none = false;
          break;
        }
      if (none) deathS = (now - deadAt) / 1000;
    }
  }

  net.runUntil(JOIN_AT_MS);
  // A new instance boots: one page of 50 to find seeds, a full sync with 3 of them.
  joinedAt = clock.now;
  const joiner = addNode(newcomer, new MembershipView({ self: memberOf(newcomer), clock: () => clock.now }));
  ec2.running.push(newcomer);
  const page = ec2.firstPage(clock.now, 50) ?? [];
  const seeds = page
    .filter((id) => id !== newcomer)
    .sort(() => random() - 0.5)
    .slice(0, 3);
  net.send(newcomer, joiner.join(seeds.map((id) => ({ ...defaultPeerRef(memberOf(id)), id }))));

  net.runUntil(CRASH_AT_MS);
  victim = ids[Math.floor(random() * ids.length)]!;
  deadAt = clock.now;
  net.crash(victim);
  ec2.running.splice(ec2.running.indexOf(victim), 1); // terminated: gone from the listing

  net.runUntil(seconds * 1000);
  return {
    n,
    describePerS: ec2.describe.calls / seconds,
    naivePerS: naive.calls / seconds,
    joinS,
    deathS,
    throttled: ec2.describe.throttled,
    naiveThrottled: naive.throttled,
    messagesPerNodeS: net.messages / n / seconds,
    bytesPerNodeS: net.bytes / n / seconds,
    maxUpdates: net.maxUpdatesPerMessage,
    wallS: (performance.now() - wallStart) / 1000,
  };
}

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return;
  }
  const args = parseArgs(argv);
  const sizes = (args.get('n') ?? '100,1000,10000').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 2 || n > 20_000)
      throw new Error(`--n takes fleet sizes from 2 to 20000 separated by commas, got "${s}"`);
    return n;
  });
  const seconds = numberArg(args, 'seconds', 90);
  if (seconds * 1000 <= CRASH_AT_MS + 10_000)
    throw new Error(`--seconds must be more than ${CRASH_AT_MS / 1000 + 10} (the crash happens at ${CRASH_AT_MS / 1000} s)`);
  const seed = numberArg(args, 'seed', 1);

  const results: Result[] = [];
  for (const n of sizes) {
    console.error(`simulating ${n} agents for ${seconds} s ...`);
    const result = simulate(n, seconds, seed);
    console.error(`  done in ${round(result.wallS, 1)} s of wall time`);
    results.push(result);
  }
  console.log(
    table([
      [
        'N',
        'Describe/s',
        'naive/s',
        'naive throttled',
        'join known by all (s)',
        'death known by all (s)',
        'throttled',
        'msgs/node/s',
        'bytes/node/s',
        'max updates/msg',
      ],
      ...results.map((r) => [
        r.n,
        round(r.describePerS, 3),
        round(r.naivePerS, 1),
        r.naiveThrottled,
        r.joinS ?? 'never',
        r.deathS ?? 'never',
        r.throttled,
        round(r.messagesPerNodeS, 1),
        Math.round(r.bytesPerNodeS),
        r.maxUpdates,
      ]),
    ]),
  );
  for (const r of results) {
    console.log(
      JSON.stringify({
        bench: 'membership',
        n: r.n,
        describe_per_s: round(r.describePerS, 3),
        naive_describe_per_s: round(r.naivePerS, 2),
        join_converge_s: r.joinS,
        death_converge_s: r.deathS,
        throttled: r.throttled,
      }),
    );
  }
}
