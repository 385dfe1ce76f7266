import { TAG_CLUSTER, rendezvousPick } from '@synkti/core';
import { listAllInstances, type InstanceProvider, type InstanceRecord } from '@synkti/cloud';
import { MembershipView, type Member } from './membership-view.ts';
import type { PeerAddress, PeerClient } from './peer-client.ts';
import type { Logger } from './logger.ts';

export interface MembershipOptions {
  view: MembershipView;
  cluster: string;
  instances: InstanceProvider;
  peers: PeerClient;
  /** Where a listed instance's agent API is (its private IP, and its agent port from tags or the cluster default). */
  peerAddressOf: (record: InstanceRecord) => PeerAddress;
  /** @default 1000 */
  gossipIntervalMs?: number;
  /** How often a lister lists the cloud. @default 15000 */
  listIntervalMs?: number;
  /** How many nodes (rendezvous-chosen) list the cloud; the others learn through gossip. @default 2 */
  listers?: number;
  /** Peers contacted per gossip round. @default 3 */
  fanout?: number;
  logger: Logger;
  onJoined?: (member: Member) => void;
  /** A member left the view: its heartbeat stopped or a peer reported it dead. */
  onLost?: (member: Member) => void;
  onCloudList?: (records: InstanceRecord[]) => void;
  random?: () => number;
  clock?: () => number;
}

/**
 * Keeps the view converged: each gossip round bumps our heartbeat, expires silent
 * members and exchanges views with a few peers; a few rendezvous-chosen nodes list the
 * cloud so the account's API rate stays bounded whatever the fleet size (invariant 3).
 */
export class Membership {
  readonly view: MembershipView;
  /** Instances seen in the cloud but not (yet) in the view: gossip targets, so newcomers are found. */
  private readonly candidates = new Map<string, PeerAddress>();
  private readonly options: MembershipOptions;
  private readonly random: () => number;
  private readonly clock: () => number;
  private gossipTimer: NodeJS.Timeout | undefined;
  private listTimer: NodeJS.Timeout | undefined;
  private running = false;
  private gossiping = false;
  private listing: Promise<void> | undefined;
  private lastListAt = 0;
  cloudListCalls = 0;
  gossipRounds = 0;
  gossipFailures = 0;

  constructor(options: MembershipOptions) {
    this.options = options;
    this.view = options.view;
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? Date.now;
  }

  get gossipIntervalMs(): number { return this.options.gossipIntervalMs ?? 1000; }
  get listIntervalMs(): number { return this.options.listIntervalMs ?? 15_000; }

  /** First contact: list the cloud, gossip with everyone found. */
  async join(): Promise<void> {
    await this.listCloud();
    await this.gossipRound(Number.POSITIVE_INFINITY);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = (): void => {
      void this.gossipRound().finally(() => {
        if (this.running) this.gossipTimer = setTimeout(tick, this.gossipIntervalMs).unref();
      });
    };
    this.gossipTimer = setTimeout(tick, this.gossipIntervalMs).unref();
    this.scheduleList();
  }

  stop(): void {
    this.running = false;
    if (this.gossipTimer) clearTimeout(this.gossipTimer);
    if (this.listTimer) clearTimeout(this.listTimer);
  }

  /** Should this node list the cloud now? The top `listers` by rendezvous, or anyone alone. */
  isLister(): boolean {
    const ids = this.view.memberIds();
    if (ids.length <= 1) return true;
    const key = `list:${this.options.cluster}`;
    return rendezvousPick(key, ids, this.options.listers ?? 2).includes(this.view.selfId);
  }

  private scheduleList(): void {
    // Jitter (±20%) keeps listers from calling the API in step after a mass event.
    const delay = this.listIntervalMs * (0.8 + 0.4 * this.random());
    this.listTimer = setTimeout(() => {
      const alone = this.view.members().length <= 1;
      const due = this.isLister() || (alone && this.clock() - this.lastListAt >= this.listIntervalMs / 4);
      void (due ? this.listCloud() : Promise.resolve()).finally(() => {
        if (this.running) this.scheduleList();
      });
    }, delay).unref();
  }

  /** List the cluster's live instances and add the unknown ones as gossip targets. */
  listCloud(): Promise<void> {
    this.listing ??= (async () => {
      try {
        this.lastListAt = this.clock();
        this.cloudListCalls += 1;
        const records = await listAllInstances(this.options.instances, {
          tags: { [TAG_CLUSTER]: this.options.cluster },
          states: ['pending', 'running'],
        });
        const listed = new Set<string>();
        for (const record of records) {
          listed.add(record.id);
          if (record.id === this.view.selfId || this.view.has(record.id)) continue;
          this.candidates.set(record.id, this.options.peerAddressOf(record));
        }
        for (const id of this.candidates.keys()) if (!listed.has(id)) this.candidates.delete(id);
        this.options.onCloudList?.(records);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'listing the cloud failed; will retry');
      } finally {
        this.listing = undefined;
      }
    })();
    return this.listing;
  }

  /** Tell every member at once about our own entry (a state change must not wait a round). */
  async announce(): Promise<void> {
    const targets = this.view.members().filter((m) => m.id !== this.view.selfId);
    await Promise.allSettled(targets.map((m) => this.exchange(m.id, m)));
  }

  /** One round: heartbeat, expire, exchange with `fanout` random peers (or `fanout` = all). */
  async gossipRound(fanout = this.options.fanout ?? 3): Promise<void> {
    if (this.gossiping) return;
    this.gossiping = true;
    try {
      this.gossipRounds += 1;
      this.view.beat();
      for (const lost of this.view.expire()) this.lost(lost);
      const targets = this.pickTargets(fanout);
      await Promise.allSettled(targets.map(([id, address]) => this.exchange(id, address)));
    } finally {
      this.gossiping = false;
    }
  }

  private pickTargets(fanout: number): [string, PeerAddress][] {
    const pool = new Map<string, PeerAddress>();
    for (const member of this.view.members()) if (member.id !== this.view.selfId) pool.set(member.id, member);
    for (const [id, address] of this.candidates) if (!pool.has(id) && !this.view.isDead(id)) pool.set(id, address);
    const all = [...pool];
    if (all.length <= fanout) return all;
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return all.slice(0, fanout);
  }

  private async exchange(id: string, address: PeerAddress): Promise<void> {
    try {
      const reply = await this.options.peers.gossip(address, this.view.toMessage());
      this.candidates.delete(id);
      const { joined, lost } = this.view.merge(reply);
      for (const joinedId of joined) {
        this.candidates.delete(joinedId);
        const member = this.view.get(joinedId);
        if (member) this.options.onJoined?.(member);
      }
      for (const member of lost) this.lost(member);
    } catch (error) {
      this.gossipFailures += 1;
      this.options.logger.debug({ peer: id, err: (error as Error).message }, 'gossip exchange failed');
    }
  }

  /** Merge gossip pushed to us by a peer, and answer with our view. */
  receive(message: Parameters<MembershipView['merge']>[0]): ReturnType<MembershipView['toMessage']> {
    const { joined, lost } = this.view.merge(message);
    for (const joinedId of joined) {
      this.candidates.delete(joinedId);
      const member = this.view.get(joinedId);
      if (member) this.options.onJoined?.(member);
    }
    for (const member of lost) this.lost(member);
    return this.view.toMessage();
  }

  private lost(member: Member): void {
    this.candidates.delete(member.id);
    this.options.onLost?.(member);
  }
}
