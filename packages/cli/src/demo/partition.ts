/**
 * `synkti demo --scenario partition` (root; Linux network namespaces): five hosts, each a
 * namespace with its own address on a private test bridge and the production ports
 * (router 8080, agent 7946, workload 8000), serve streaming completions to a client that
 * reaches them through the bridge. Then the network fails the way networks do, with
 * packets dropped instead of refused:
 * 1. one host's link is cut (it stays cut until the heal);
 * 2. the fleet splits 3 | 2 for `partitionMs`;
 * 3. everything heals, and the views must converge again.
 * What it shows: only requests in flight over a link a fault cut may fail; no replacement
 * is launched, because the cloud still says every host runs (a cut host is not a gone
 * instance: "the cloud's record decides"), so the fleet never exceeds five instances.
 * Nothing is routed outside the test bridge: no default route, no NAT.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynktiError, TAG_CLUSTER, TAG_ROLE, formatDuration, serializeCluster, validateCluster, type ClusterSpec } from '@synkti/core';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';
import { createLocalCloud, listAllInstances, localCloudProcesses, type LocalCloud } from '@synkti/cloud';
import { createNetnsHosts, netnsUnavailableReason, type NetnsHost, type NetnsHosts } from '@synkti/cloud/netns-hosts';
import { AGENT_MAIN, fetchAgentStatus, tsxLoader } from '../local-fleet.ts';
import { LoadGenerator, summarizeOutcomes, type RequestOutcome } from './load-generator.ts';
import { STAND_IN_MAIN } from './demo.ts';

const HOSTS = 5;
/**
 * Hosts beyond the five: where a replacement would go (on a host of its own, as a first
 * boot). Enough for both sides to replace the other side, so a wrong launch is recorded
 * by the cloud, never refused for want of a host.
 */
const SPARE_HOSTS = 5;
const AGENT_PORT = 7946;
const ROUTER_PORT = 8080;
const CLUSTER = 'synkti-partition-demo';
/** The client's own bound on a stream (what a load balancer's idle timeout does): a stream through the cut host's router can only end this way. */
const CLIENT_STREAM_TIMEOUT_MS = 8000;
/** A connect to a router that takes longer fails and is retried on another (nothing was sent). */
const CLIENT_CONNECT_TIMEOUT_MS = 1000;

export interface PartitionDemoOptions {
  /** How long the 3 | 2 partition lasts. @default 60000 */
  partitionMs?: number | undefined;
  /** Concurrent client streams. @default 8 */
  concurrency?: number | undefined;
  /** Progress lines (none with --json). @default none */
  onProgress?: ((line: string) => void) | undefined;
}

export interface PartitionDemoSummary {
  scenario: 'partition';
  hosts: number;
  requests: number;
  failed: number;
  /** Failed requests that were in flight on the cut host (its router or its workload) when its link was cut. */
  failedInFlightOnCut: number;
  /** Failed requests in flight across the partition line when it began (router on one side, workload on the other). */
  failedInFlightOnPartition: number;
  /**
   * Of those, the ones whose answer had begun reaching the client (its 200 and first
   * tokens: the router commits only then). The only partition-line failures there should
   * be: before that, the router sends the request to a peer on its own side instead.
   */
  failedInFlightOnPartitionMidStream: number;
  /** Failed requests that were neither: must be 0. */
  failedOther: number;
  /**
   * The first few of those, to tell why: when each began and ended relative to the cut, the
   * partition and the heal (ms; negative is before), through which host's router, served
   * by which host (index, or -1: not known), and the error.
   */
  failedOtherDetails?: Array<{
    fromCutMs: number;
    fromPartitionMs: number;
    fromHealMs: number;
    ms: number;
    router: number;
    servedBy: number;
    error: string;
    cutMidStream: boolean;
  }>;
  /** Requests in flight on the cut host when it was cut (failed or not: one not yet answered may be served elsewhere). */
  inFlightOnCut: number;
  /** Requests in flight across the partition line when it began (failed or not). */
  inFlightOnPartition: number;
  /** The latest a request in flight on the cut host ended, after the cut (through its own router: the client's bound, CLIENT_STREAM_TIMEOUT_MS). */
  inFlightOnCutEndedWithinMs: number;
  /** Requests in flight on the cut host's workload through another host's router when it was cut. */
  inFlightOnCutWorkload: number;
  /**
   * The latest a request in flight on the cut host's workload through another host's
   * router ended, after the cut: the routers' bound (they cut it, or send it elsewhere
   * when nothing reached the client yet, as soon as their membership loses the host).
   */
  inFlightOnCutWorkloadEndedWithinMs: number;
  /** When every survivor's view had dropped the cut host, after the cut. */
  cutDetectedMs: number | undefined;
  /** The most instances the cloud listed as pending or running at once. */
  maxInstances: number;
  /** Instances launched from the partition's start until the views converged after the heal. */
  replacementsDuringPartition: number;
  /** Instances launched after the first five, at any time. */
  replacements: number;
  partitionMs: number;
  /** When all five views listed all five hosts again, after the heal. */
  convergedAfterHealMs: number | undefined;
  p50Ms: number;
  p99Ms: number;
  failures: Record<string, number>;
}

/** The demo fleet: five workers on the stand-in model server, with the demo's fast timeouts. */
export function partitionSpec(): ClusterSpec {
  return validateCluster(
    {
      name: CLUSTER,
      pools: { worker: { count: HOSTS } },
      workload: {
        // {host}: the workload listens on the host's own address, where the other routers dial it.
        command: [
          process.execPath,
          '--import',
          tsxLoader(),
          STAND_IN_MAIN,
          '--host',
          '{host}',
          '--port',
          '{port}',
          '--token-latency',
          '15ms',
        ],
        healthPath: '/health',
        startupTimeout: '60s',
      },
      timeouts: {
        gossipInterval: '500ms',
        failureTimeout: '2s',
        listInterval: '5s',
        noticePollInterval: '1s',
        drainMargin: '1s',
        shutdownGrace: '3s',
      },
    },
    'the partition demo cluster',
  );
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 200,
  lastSeen?: () => string,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) {
      throw new SynktiError(
        'E_DEMO_TIMEOUT',
        `partition demo: ${what} did not happen within ${formatDuration(timeoutMs)}${lastSeen ? ` (last seen: ${lastSeen()})` : ''}`,
        {
          hint: 'the machine may be overloaded: run it again when it is quieter',
        },
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Was the outcome's request still open at `at`? */
function inFlightAt(o: RequestOutcome, at: number): boolean {
  return o.startedAt <= at && o.startedAt + o.ms >= at;
}

/** Runs the scenario; throws E_NETNS_UNAVAILABLE (with the reason) where namespaces cannot be made. */
export async function runPartitionDemo(options: PartitionDemoOptions = {}): Promise<PartitionDemoSummary> {
  const partitionMs = options.partitionMs ?? 60_000;
  if (!Number.isFinite(partitionMs) || partitionMs < 1000 || partitionMs > 600_000) {
    throw new SynktiError('E_USAGE', `--partition must be from 1s to 10 minutes, got ${formatDuration(partitionMs)}`, {
      hint: 'e.g. --partition 60s',
    });
  }
  const say = options.onProgress ?? ((): void => undefined);
  const reason = await netnsUnavailableReason();
  if (reason !== undefined) {
    throw new SynktiError(
      'E_NETNS_UNAVAILABLE',
      `--scenario partition needs hosts in network namespaces, and this machine cannot make them: ${reason}`,
      {
        hint: 'run it as root on Linux with iproute2 (`ip netns`, veth, bridge), e.g. in CI or a VM; the other scenarios run anywhere',
      },
    );
  }

  const spec = partitionSpec();
  const stateDir = mkdtempSync(join(tmpdir(), 'synkti-partition-'));
  let net: NetnsHosts | undefined;
  let cloud: LocalCloud | undefined;
  let load: LoadGenerator | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      clearInterval(sampler);
      await load?.stop();
      await teardown(cloud, join(stateDir, 'cloud'));
      await net?.destroy();
      rmSync(stateDir, { recursive: true, force: true });
    })());
  // Interrupted (Ctrl-C, a CI timeout): the hosts, their processes and the directory go
  // first. Without this the detached instance hosts and the namespaces outlive the demo.
  const exitCodeOf = (signal: NodeJS.Signals): number => (signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    // A second signal: stop waiting (the hosts' own handler has already removed them).
    if (interrupted) process.exit(exitCodeOf(signal));
    interrupted = true;
    process.stderr.write(`${signal}: taking the demo fleet and its hosts down\n`);
    void cleanup().finally(() => process.exit(exitCodeOf(signal)));
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  try {
    net = await createNetnsHosts({ count: HOSTS + SPARE_HOSTS });
    const hosts = net.hosts.slice(0, HOSTS);
    const secret = randomBytes(32).toString('hex');
    const secretFile = join(stateDir, 'cluster-secret');
    writeFileSync(secretFile, secret, { mode: 0o600 });
    const hostOf = new Map<string, NetnsHost>();
    cloud = createLocalCloud({
      stateDir: join(stateDir, 'cloud'),
      bootCommand: [process.execPath, '--import', tsxLoader(), AGENT_MAIN],
      env: { SYNKTI_CLUSTER_SECRET_FILE: secretFile, SYNKTI_LOG_LEVEL: 'info', ...(process.env.PATH ? { PATH: process.env.PATH } : {}) },
      terminateGraceMs: 3000,
      // Saved in the cloud: a replacement an agent launched would get a host of its own too.
      hosts: net.placements,
    });
    const instances = cloud.instances;
    const userData = serializeCluster(spec);
    say(
      `${HOSTS} hosts (and ${SPARE_HOSTS} spare) in their own network namespaces on ${net.gateway.replace(/\.1$/, '.0/24')} (bridge ${net.bridge}); booting an agent and the stand-in model server on each`,
    );
    const bootStarted = Date.now();
    for (let i = 0; i < HOSTS; i++) {
      const record = await instances.launch({
        tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker' },
        instanceType: 't3.micro',
        lifecycle: 'spot',
        userData,
      });
      const host = net.hosts.find((h) => h.address === record.privateIp);
      if (host) hostOf.set(record.id, host);
    }
    if (hosts.some((h) => ![...hostOf.values()].includes(h))) {
      throw new SynktiError('E_NETNS', 'partition demo: the five instances did not land on the first five hosts', {
        hint: 'a fresh cloud fills its hosts in order; report this as a bug',
      });
    }

    const addresses = hosts.map((h) => h.address).sort();
    const routerUrl = (h: NetnsHost): string => `http://${h.address}:${ROUTER_PORT}`;
    let lastViews = 'no agent asked yet';
    const views = async (of: NetnsHost[]): Promise<string[][] | undefined> => {
      const all = await Promise.all(of.map((h) => fetchAgentStatus(`http://${h.address}:${AGENT_PORT}`, secret, 1000)));
      lastViews = all
        .map(
          (s, i) =>
            `${of[i]!.address}: ${s === undefined ? 'no answer' : `${s.state}, sees ${s.members.map((m) => `${m.address.split('.').pop()}=${m.state}`).join(' ')}`}`,
        )
        .join('; ');
      if (all.some((s) => s === undefined)) return undefined;
      return all.map((s) =>
        s!.members
          .filter((m) => m.state === 'ready')
          .map((m) => m.address)
          .sort(),
      );
    };
    const agree = async (of: NetnsHost[], expected: string[]): Promise<boolean> => {
      const seen = await views(of);
      return seen !== undefined && seen.every((v) => v.join() === expected.join());
    };
    await waitFor(
      'five ready nodes that all see each other',
      async () => (await agree(hosts, addresses)) || undefined,
      90_000,
      250,
      () => lastViews,
    );
    await waitFor(
      'five routers answering their health check',
      async () => {
        const health = await Promise.all(
          hosts.map((h) =>
            fetch(`${routerUrl(h)}${ROUTER_HEALTH_PATH}`, { signal: AbortSignal.timeout(1000) })
              .then((r) => r.ok)
              .catch(() => false),
          ),
        );
        return health.every(Boolean) || undefined;
      },
      30_000,
      250,
    );
    say(`fleet ready in ${formatDuration(Date.now() - bootStarted)}: ${hosts.map((h) => h.address).join(', ')}`);

    // The cloud's record, sampled all along: how many instances, how many ever launched.
    let maxInstances = 0;
    const launches: number[] = [];
    const sample = async (): Promise<void> => {
      const all = await listAllInstances(instances, {
        tags: { [TAG_CLUSTER]: CLUSTER },
        states: ['pending', 'running', 'shutting-down', 'terminated'],
      });
      maxInstances = Math.max(maxInstances, all.filter((r) => r.state === 'pending' || r.state === 'running').length);
      launches.splice(0, launches.length, ...all.map((r) => r.launchedAt));
    };
    await sample();
    let sampling = false;
    sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      void sample()
        .catch(() => undefined)
        .finally(() => {
          sampling = false;
        });
    }, 500);

    load = new LoadGenerator({
      endpoints: () => hosts.map(routerUrl),
      concurrency: options.concurrency ?? 8,
      maxTokens: 32,
      requestTimeoutMs: CLIENT_STREAM_TIMEOUT_MS,
      connectTimeoutMs: CLIENT_CONNECT_TIMEOUT_MS,
      // A new connection per request: a request to the cut router fails at connect (and is
      // retried elsewhere) instead of being sent on a kept-alive connection that went silent.
      keepAlive: false,
    });
    load.start();
    await new Promise((r) => setTimeout(r, 3000));

    // 1. A link cut: the last host's packets are dropped from now on. Cut while its workload
    // streams to a client through another host's router (bounded wait), so the routers'
    // side of the cut is shown on every run, not only when traffic happens to be there.
    const victim = hosts[HOSTS - 1]!;
    const survivors = hosts.slice(0, HOSTS - 1);
    const victimIds = new Set([...hostOf].filter(([, h]) => h === victim).map(([id]) => id));
    // A bound on waiting for such a stream, not a pace: beside two busy loops on 2 cores,
    // 10 s passed once without one (the cut then showed only the cut host's own router).
    const busyUntil = Date.now() + 60_000;
    while (
      Date.now() < busyUntil &&
      ![...load.open].some((s) => s.servedBy !== undefined && victimIds.has(s.servedBy) && s.router !== routerUrl(victim))
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    say(`cutting ${victim.address}'s link (packets dropped, nothing refused) with ${load.inFlight} streams in flight`);
    await net.cut(victim);
    const cutAt = Date.now();
    const cutDetectedMs = await waitFor(
      'the survivors drop the cut host',
      async () => {
        const seen = await views(survivors);
        return seen?.every((v) => !v.includes(victim.address)) ? Date.now() - cutAt : undefined;
      },
      30_000,
      100,
    ).catch(() => undefined);
    say(
      cutDetectedMs === undefined
        ? 'the survivors did not drop the cut host'
        : `every survivor dropped ${victim.address} ${formatDuration(cutDetectedMs)} after the cut; the cloud still says it runs, so nobody replaces it`,
    );
    // Past the client's own bound: every stream that was open on the cut host has ended.
    await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CLIENT_STREAM_TIMEOUT_MS + 500 - Date.now())));

    // 2. A 3 | 2 partition (the cut host stays cut, on the side of two).
    const left = hosts.slice(0, 3);
    const right = hosts.slice(3);
    say(
      `partition: ${left.map((h) => h.address).join(', ')} | ${right.map((h) => h.address).join(', ')} for ${formatDuration(partitionMs)}`,
    );
    await net.partition(left, right);
    const partitionAt = Date.now();
    await new Promise((r) => setTimeout(r, partitionMs));

    // 3. Heal: partition and cut.
    await net.heal();
    await net.restore(victim);
    const healAt = Date.now();
    say('healed: partition lifted, cut link restored');
    const convergedAfterHealMs = await waitFor(
      'all five views agree again',
      async () => ((await agree(hosts, addresses)) ? Date.now() - healAt : undefined),
      60_000,
      200,
    ).catch((error: unknown) => {
      say(`${String(error)}; last seen: ${lastViews}`);
      return undefined;
    });
    const convergedAt = Date.now();
    say(
      convergedAfterHealMs === undefined
        ? 'the views did not converge'
        : `all five views agree ${formatDuration(convergedAfterHealMs)} after the heal`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    await load.stop();
    clearInterval(sampler);
    await sample();

    // Which host each request went through: its router (the URL) and its workload (x-synkti-peer).
    const indexOfRouter = new Map(hosts.map((h) => [routerUrl(h), h.index]));
    const indexOfPeer = (id: string | undefined): number | undefined => (id === undefined ? undefined : hostOf.get(id)?.index);
    const sideOf = (index: number | undefined): string | undefined => (index === undefined ? undefined : index < 3 ? 'left' : 'right');
    let failedInFlightOnCut = 0;
    let failedInFlightOnPartition = 0;
    let failedInFlightOnPartitionMidStream = 0;
    let failedOther = 0;
    const failedOtherDetails: NonNullable<PartitionDemoSummary['failedOtherDetails']> = [];
    let inFlightOnCutEndedWithinMs = 0;
    let inFlightOnCut = 0;
    let inFlightOnPartition = 0;
    let inFlightOnCutWorkloadEndedWithinMs = 0;
    let inFlightOnCutWorkload = 0;
    for (const o of load.outcomes) {
      const router = indexOfRouter.get(o.router);
      const peer = indexOfPeer(o.servedBy);
      const onCut = inFlightAt(o, cutAt) && (router === victim.index || peer === victim.index);
      const onPartition =
        !onCut &&
        inFlightAt(o, partitionAt) &&
        sideOf(router) !== undefined &&
        sideOf(peer) !== undefined &&
        sideOf(router) !== sideOf(peer);
      if (onCut) {
        inFlightOnCut++;
        inFlightOnCutEndedWithinMs = Math.max(inFlightOnCutEndedWithinMs, o.startedAt + o.ms - cutAt);
        if (router !== victim.index) {
          inFlightOnCutWorkload++;
          inFlightOnCutWorkloadEndedWithinMs = Math.max(inFlightOnCutWorkloadEndedWithinMs, o.startedAt + o.ms - cutAt);
        }
      }
      if (onPartition) inFlightOnPartition++;
      if (o.ok) continue;
      if (onCut) failedInFlightOnCut++;
      else if (onPartition) {
        failedInFlightOnPartition++;
        if (o.cutMidStream === true) failedInFlightOnPartitionMidStream++;
      } else {
        failedOther++;
        if (failedOtherDetails.length < 10) {
          failedOtherDetails.push({
            fromCutMs: o.startedAt - cutAt,
            fromPartitionMs: o.startedAt - partitionAt,
            fromHealMs: o.startedAt - healAt,
            ms: o.ms,
            router: router ?? -1,
            servedBy: peer ?? -1,
            error: o.error ?? 'failed',
            cutMidStream: o.cutMidStream === true,
          });
        }
      }
    }
    const traffic = summarizeOutcomes(load.outcomes);
    const firstLaunches = [...launches].sort((a, b) => a - b).slice(0, HOSTS);
    return {
      scenario: 'partition',
      hosts: HOSTS,
      requests: traffic.requests,
      failed: traffic.failed,
      failedInFlightOnCut,
      failedInFlightOnPartition,
      failedInFlightOnPartitionMidStream,
      failedOther,
      ...(failedOtherDetails.length > 0 ? { failedOtherDetails } : {}),
      inFlightOnCut,
      inFlightOnPartition,
      inFlightOnCutEndedWithinMs,
      inFlightOnCutWorkload,
      inFlightOnCutWorkloadEndedWithinMs,
      cutDetectedMs,
      maxInstances,
      replacementsDuringPartition: launches.filter((at) => at >= partitionAt && at <= convergedAt).length,
      replacements: launches.length - firstLaunches.length,
      partitionMs,
      convergedAfterHealMs,
      p50Ms: traffic.p50Ms,
      p99Ms: traffic.p99Ms,
      failures: traffic.failures,
    };
  } finally {
    await cleanup();
    for (const signal of signals) process.removeListener(signal, onSignal);
  }
}

/**
 * Ends every process of the demo's cloud (SIGKILL: the traffic is over and the cloud's
 * directory goes with it, so no drain is owed to anyone) and waits until they are gone (bounded).
 */
async function teardown(cloud: LocalCloud | undefined, cloudDir: string): Promise<void> {
  if (cloud === undefined) return;
  cloud.close();
  const until = Date.now() + 10_000;
  for (;;) {
    const left = localCloudProcesses(cloudDir);
    if (left.length === 0 || Date.now() > until) break;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function renderPartitionSummary(s: PartitionDemoSummary): string {
  return [
    '',
    'Summary',
    `  requests        ${s.requests}`,
    `  failed          ${s.failed}  (in flight on the cut host ${s.failedInFlightOnCut} of ${s.inFlightOnCut}, across the partition line as it began ${s.failedInFlightOnPartition} of ${s.inFlightOnPartition} (${s.failedInFlightOnPartitionMidStream} of them mid-stream), other ${s.failedOther})`,
    `  cut host        dropped from every view ${s.cutDetectedMs === undefined ? 'never' : `after ${formatDuration(s.cutDetectedMs)}`}; streams open on it ended within ${formatDuration(s.inFlightOnCutWorkloadEndedWithinMs)} through the other routers, ${formatDuration(s.inFlightOnCutEndedWithinMs)} through its own (the client's timeout)`,
    `  instances       at most ${s.maxInstances} (the cloud says the cut and the partitioned hosts run: nobody replaces them)`,
    `  replacements    ${s.replacementsDuringPartition} during the ${formatDuration(s.partitionMs)} partition, ${s.replacements} in all`,
    `  after the heal  views converged ${s.convergedAfterHealMs === undefined ? 'never' : `in ${formatDuration(s.convergedAfterHealMs)}`}`,
    `  latency         p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms (whole stream)`,
  ].join('\n');
}
