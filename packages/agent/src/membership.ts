import { TAG_CLUSTER } from '@synkti/core';
import { listAllInstances, type InstanceProvider, type InstanceRecord } from '@synkti/cloud';
import type { MembershipUpdate, PeerRef, SwimMessage, SwimReply } from './gossip-messages.ts';
import type { MemberVerifier } from './identity/member-verifier.ts';
import { ListerElection, isListDue, listDelayMs } from './lister-election.ts';
import { claimWithinBounds, type Member, type MembershipView } from './membership-view.ts';
import type { PeerAddress, PeerClient } from './peer-client.ts';
import { SwimNode, type Outgoing } from './swim.ts';
import type { Logger } from './logger.ts';

export interface MembershipOptions {
  view: MembershipView;
  cluster: string;
  instances: InstanceProvider;
  peers: PeerClient;
  /** Where a listed instance's agent API is (its private IP, and its agent port from tags or the cluster default). */
  peerAddressOf: (record: InstanceRecord) => PeerAddress;
  /** SWIM protocol period: each node probes one random member this often. @default 1000 */
  gossipIntervalMs?: number;
  /** A member that stops answering is suspected, and declared dead this long after unless it refutes. @default 5000 */
  failureTimeoutMs?: number;
  /** How often a lister lists the cloud. @default 15000 */
  listIntervalMs?: number;
  /** How many nodes (rendezvous-chosen) list the cloud; the others learn through gossip. @default 2 */
  listers?: number;
  /** Members an update is pushed to per dissemination round. @default 3 */
  fanout?: number;
  /** Fleets up to this size are told of our own state changes directly, all at once. @default 64 */
  announceToAllUpTo?: number;
  logger: Logger;
  onJoined?: (member: Member) => void;
  /** A member left the view: it stopped answering probes, or left gracefully (state 'stopped'). */
  onLost?: (member: Member) => void;
  onCloudList?: (records: InstanceRecord[]) => void;
  /**
   * Member identities (issue 17): with it, only entries signed by a member's verified key,
   * at its cloud-signed address and ports, enter the view; claims about others are bounded.
   * @default none: the cluster secret alone admits (test fakes without a signed identity)
   */
  verifier?: MemberVerifier | undefined;
  random?: () => number;
  clock?: () => number;
}

/** Instances listed per page when a node looks for its first peers. */
const SEED_PAGE_SIZE = 50;
/** Unknown listed instances contacted per listing (bounded work after a mass launch). */
const MAX_CONTACTS_PER_LIST = 8;

/**
 * Runs the SWIM protocol over the agent API (POST /v1/gossip) and keeps the cloud API
 * budget bounded (invariant 3): a joining node lists one small page of the cloud to find
 * seeds; after that only the `listers` rendezvous-chosen nodes list the cloud, every
 * `listIntervalMs` ± 20 %, to find instances gossip has not brought (a split fleet, a
 * node that joined before anyone could answer). A node alone lists every interval / 4.
 */
export class Membership {
  readonly view: MembershipView;
  readonly swim: SwimNode;
  private readonly options: MembershipOptions;
  private readonly election: ListerElection;
  private readonly random: () => number;
  private readonly clock: () => number;
  private tickTimer: NodeJS.Timeout | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private running = false;
  private listing: Promise<void> | undefined;
  private lastListAt = 0;
  /** Ids in this node's latest full cloud listing and when it started (listers only). */
  private listed: { ids: Set<string>; at: number } | undefined;
  cloudListCalls = 0;
  /** Messages or updates dropped by the identity checks (metrics, tests). */
  readonly refusals = { entries: 0, claims: 0, probes: 0 };
  sendFailures = 0;

  constructor(options: MembershipOptions) {
    this.options = options;
    this.view = options.view;
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? Date.now;
    this.election = new ListerElection(options.cluster, options.listers ?? 2);
    this.swim = new SwimNode({
      view: options.view,
      probeIntervalMs: this.gossipIntervalMs,
      // failureTimeout is how long a silent member may stay in the view: about one period
      // to notice it (probe, indirect probes) and the rest as suspicion it can refute.
      suspicionTimeoutMs: Math.max(this.gossipIntervalMs, (options.failureTimeoutMs ?? 5000) - this.gossipIntervalMs),
      gossipFanout: options.fanout ?? 3,
      clock: this.clock,
      random: this.random,
      onJoined: options.onJoined,
      onLost: options.onLost,
    });
  }

  get gossipIntervalMs(): number {
    return this.options.gossipIntervalMs ?? 1000;
  }
  get listIntervalMs(): number {
    return this.options.listIntervalMs ?? 15_000;
  }

  /** First contact: list one page of the cloud and sync full state with a few of the instances found. */
  async join(): Promise<void> {
    const records = await this.listSeeds();
    const seeds = records.filter((r) => r.id !== this.view.selfId);
    for (let i = seeds.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [seeds[i], seeds[j]] = [seeds[j]!, seeds[i]!];
    }
    await this.dispatch(this.swim.join(seeds.map((r) => this.refOf(r))));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // Ticks are finer than the period so probe timeouts are honoured to within a tick.
    const tickMs = Math.max(10, Math.min(100, this.gossipIntervalMs / 5));
    const tick = (): void => {
      if (!this.running) return;
      void this.dispatch(this.swim.tick());
      this.tickTimer = setTimeout(tick, tickMs).unref();
    };
    this.tickTimer = setTimeout(tick, tickMs).unref();
    this.scheduleList();
  }

  stop(): void {
    this.running = false;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.listTimer) clearTimeout(this.listTimer);
  }

  /** Should this node list the cloud now? The top `listers` by rendezvous, or anyone alone. */
  isLister(): boolean {
    return this.election.isLister(this.view);
  }

  private scheduleList(): void {
    this.listTimer = setTimeout(
      () => {
        const due = isListDue(this.election, this.view, this.lastListAt, this.clock(), this.listIntervalMs);
        void (due ? this.listCloud() : Promise.resolve()).finally(() => {
          if (this.running) this.scheduleList();
        });
      },
      listDelayMs(this.listIntervalMs, this.view.size <= 1, this.random),
    ).unref();
  }

  /**
   * May the router send to this member? It is in the view (so, with identities on, its
   * identity is proven), and the latest cloud listing this node made does not contradict
   * it: a member the cloud's tag index did not list as a live instance of this cluster,
   * though it ran before the listing began, is not routed to (nor replaced: replacement.ts
   * asks the cloud itself).
   */
  isRoutable(id: string): boolean {
    if (id === this.view.selfId) return true;
    if (!this.view.has(id)) return false;
    if (!this.listed || this.listed.ids.has(id)) return true;
    const launched = Date.parse(this.options.verifier?.documentOf(id)?.pendingTime ?? '');
    // Launched after the listing began (or unknown): the listing cannot speak for it yet.
    return !Number.isFinite(launched) || launched > this.listed.at - 60_000;
  }

  private async listSeeds(): Promise<InstanceRecord[]> {
    try {
      this.lastListAt = this.clock();
      this.cloudListCalls += 1;
      const page = await this.options.instances.list(
        { tags: { [TAG_CLUSTER]: this.options.cluster }, states: ['pending', 'running'] },
        { maxResults: SEED_PAGE_SIZE },
      );
      return page.items;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'listing the cloud for seed peers failed; will retry');
      return [];
    }
  }

  /** List the cluster's live instances and sync with a few that are not in our view. */
  listCloud(): Promise<void> {
    this.listing ??= (async () => {
      try {
        this.lastListAt = this.clock();
        const startedAt = this.clock();
        const records = await listAllInstances(this.options.instances, {
          tags: { [TAG_CLUSTER]: this.options.cluster },
          states: ['pending', 'running'],
        });
        this.cloudListCalls += 1;
        this.listed = { ids: new Set(records.map((r) => r.id)), at: startedAt };
        // Buried ones the cloud still lists as running too (after those never seen): a
        // partition buries the other side while it runs on; the sync tells them, they refute
        // with a newer incarnation and rejoin. Skipping them kept a healed partition split
        // until the tombstones expired (2 min; tests/network-faults.test.ts).
        const unknown = records
          .filter((r) => r.id !== this.view.selfId && !this.view.has(r.id))
          .sort((a, b) => Number(this.view.isDead(a.id)) - Number(this.view.isDead(b.id)));
        const contacts = unknown.slice(0, MAX_CONTACTS_PER_LIST).map((r) => this.swim.syncTo(this.refOf(r), true));
        this.options.onCloudList?.(records);
        await this.dispatch(contacts);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'listing the cloud failed; will retry');
      } finally {
        this.listing = undefined;
      }
    })();
    return this.listing;
  }

  /** Our own entry changed: tell the fleet now (all of a small fleet, a few of a big one), not at the next round. */
  async announce(): Promise<void> {
    const all = this.view.size <= (this.options.announceToAllUpTo ?? 64);
    await this.dispatch(this.swim.announce(all ? this.view.size : 3 * (this.options.fanout ?? 3)));
  }

  /** A message pushed to us by a peer; the answer goes back in the HTTP response. */
  receive(message: SwimMessage): SwimReply {
    const checked = this.screen(message);
    if (!checked) return { messages: [] };
    const { reply, send } = this.swim.receive(checked.message, { trustSender: checked.trustSender });
    void this.dispatch(send);
    return { messages: reply };
  }

  /**
   * The identity checks on an incoming message (no-op without a verifier): the sender's
   * entry is taken only when verified; alive entries only when verified (else held until
   * they are); suspect/dead claims only about members we know, within bounds; a ping-req
   * only for a member in our view, at its own address.
   */
  private screen(message: SwimMessage): { message: SwimMessage; trustSender: boolean } | undefined {
    const verifier = this.options.verifier;
    if (!verifier) return { message, trustSender: true };
    const senderVerdict = verifier.check(message.from);
    if (senderVerdict === 'refused' && message.from.id === this.view.selfId) {
      this.refusals.entries += 1;
      return undefined; // someone speaking as us: no answer at all
    }
    const trustSender = senderVerdict === 'ok';
    if (message.kind === 'ping-req') {
      const target = this.view.get(message.target.id);
      if (!trustSender || !target || target.address !== message.target.address || target.agentPort !== message.target.agentPort) {
        this.refusals.probes += 1;
        return undefined; // never probe an address on an unknown's word
      }
    }
    if (message.kind === 'sync') {
      const members = message.members.filter((m) => m.id === this.view.selfId || this.admit(m));
      const dead = message.dead.filter((d) => this.claimAdmissible(d, trustSender));
      return { message: { ...message, members, dead }, trustSender };
    }
    const updates = message.updates.filter((u) => this.updateAdmissible(u, trustSender));
    return { message: { ...message, updates }, trustSender };
  }

  private updateAdmissible(update: MembershipUpdate, fromMember: boolean): boolean {
    if (update.type === 'alive') return update.member.id === this.view.selfId || this.admit(update.member);
    return this.claimAdmissible(update, fromMember);
  }

  private admit(member: Member): boolean {
    const verdict = this.options.verifier!.check(member);
    if (verdict === 'refused') this.refusals.entries += 1;
    return verdict === 'ok';
  }

  /**
   * A claim (suspect/dead) about someone: about ourselves always (we refute); about others
   * only from a sender whose identity is proven (a member), about a member we know, within bounds.
   */
  private claimAdmissible(claim: { id: string; incarnation: number; version: number }, fromMember: boolean): boolean {
    if (claim.id === this.view.selfId) return true;
    const current = this.view.get(claim.id);
    const ok = fromMember && current !== undefined && claimWithinBounds(claim, current);
    if (!ok && current !== undefined) this.refusals.claims += 1;
    return ok;
  }

  private refOf(record: InstanceRecord): PeerRef {
    return { id: record.id, ...this.options.peerAddressOf(record) };
  }

  private async dispatch(outgoing: Outgoing[]): Promise<void> {
    await Promise.allSettled(outgoing.map((o) => this.deliver(o)));
  }

  private async deliver({ to, message }: Outgoing): Promise<void> {
    let reply: SwimReply;
    try {
      // A probe that takes longer than half a period counts as unanswered.
      const timeoutMs = message.kind === 'ping' ? Math.max(200, this.gossipIntervalMs / 2) : Math.max(1000, this.gossipIntervalMs);
      reply = await this.options.peers.swim(to, message, timeoutMs);
    } catch (error) {
      this.sendFailures += 1;
      this.swim.sendFailed(message, isConnectionRefused(error));
      this.options.logger.debug({ peer: to.id, kind: message.kind, err: (error as Error).message }, 'membership message not delivered');
      return;
    }
    for (const raw of reply.messages) {
      const checked = this.screen(raw);
      if (!checked) continue;
      const { reply: back, send } = this.swim.receive(checked.message, { trustSender: checked.trustSender });
      await this.dispatch([...back.map((m) => ({ to, message: m })), ...send]);
    }
  }
}

function isConnectionRefused(error: unknown): boolean {
  // fetch wraps the socket error: SynktiError → TypeError('fetch failed') → Error{code}.
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}
