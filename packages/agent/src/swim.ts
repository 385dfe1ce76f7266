import { MAX_UPDATES_PER_MESSAGE, type MembershipUpdate, type PeerRef, type SwimMessage } from './gossip-messages.ts';
import { isNewer, type ApplyResult, type Member, type MembershipView } from './membership-view.ts';

/**
 * SWIM failure detection with infection-style dissemination (Das, Gupta & Motivala 2002;
 * the refinements HashiCorp's memberlist made to it: suspicion with refutation, a
 * retransmit budget of mult·⌈log10(N+1)⌉ per update, rare full-state push-pull).
 *
 * Each protocol period a node pings one random member; without an ack it asks
 * `indirectProbes` others to ping it; without any ack by the end of the period it
 * suspects it. A suspect that does not refute (by announcing a newer version of itself)
 * within the suspicion timeout is declared dead. Joins, state changes, suspicions and
 * deaths ride on every message, at most `maxUpdatesPerMessage` at a time, so message size
 * and per-node work stay constant as the fleet grows. Pure state machine: the caller
 * delivers messages and calls `tick()`; no timers, no I/O, so thousands run in one
 * process under a fake clock (bench/membership.ts).
 */

export interface SwimOptions {
  view: MembershipView;
  /** Protocol period: one direct probe per period. @default 1000 */
  probeIntervalMs?: number;
  /** How long to wait for a direct ack before asking others to probe. @default probeIntervalMs / 2 */
  probeTimeoutMs?: number;
  /** Members asked to probe indirectly. @default 3 */
  indirectProbes?: number;
  /** A suspect that does not refute within this is declared dead. */
  suspicionTimeoutMs: number;
  /** How often pending updates are pushed to `gossipFanout` random members. @default probeIntervalMs / 2 */
  gossipIntervalMs?: number;
  /** @default 3 */
  gossipFanout?: number;
  /**
   * Each update is sent retransmitMult·⌈log10(N+1)⌉ times by every node that learns it. The
   * chance a node misses an update is about e^-(that number): 6 makes a miss at N=40 (12
   * sends) about 6·10⁻⁶, and full-state sync repairs the rare miss. @default 6
   */
  retransmitMult?: number;
  /** @default 16 */
  maxUpdatesPerMessage?: number;
  /** Base full-state push-pull interval, stretched by log2(N/32) in big fleets as memberlist does. @default 30000 */
  syncIntervalMs?: number;
  /** Where a member's agent API is. */
  refOf?: (member: Member) => PeerRef;
  clock?: () => number;
  random?: () => number;
  onJoined?: (member: Member) => void;
  /** A member left the view: declared dead, or left gracefully (state 'stopped'). */
  onLost?: (member: Member) => void;
}

export interface Outgoing {
  to: PeerRef;
  message: SwimMessage;
}

export interface Received {
  /** Messages for the sender (an HTTP transport returns them as the response). */
  reply: SwimMessage[];
  /** Messages for others. */
  send: Outgoing[];
}

interface PendingProbe {
  target: PeerRef;
  /** The last probe before a suspect is declared dead. */
  final: boolean;
  version: { incarnation: number; version: number };
  /** When to give up on a direct ack and probe indirectly. */
  indirectAt: number;
  indirect: boolean;
  /** End of the period: no ack by then makes the target a suspect. */
  endAt: number;
}

interface Relay {
  requester: PeerRef;
  requesterSeq: number;
  expiresAt: number;
}
interface Broadcast {
  update: MembershipUpdate;
  transmits: number;
}

export function defaultPeerRef(member: Member): PeerRef {
  return { id: member.id, address: member.address, agentPort: member.agentPort };
}

export class SwimNode {
  readonly view: MembershipView;
  private readonly options: SwimOptions;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly refOf: (member: Member) => PeerRef;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly gossipIntervalMs: number;
  private readonly pending = new Map<number, PendingProbe>();
  private readonly relays = new Map<number, Relay>();
  private readonly broadcasts = new Map<string, Broadcast>();
  /** Suspects whose time ran out and that get one last probe. */
  private readonly finalProbes = new Set<string>();
  private seq = 0;
  private nextProbeAt: number;
  private nextGossipAt: number;
  private nextSyncAt: number;
  private broadcastSelfVersion = -1;
  private broadcastSelfIncarnation = -1;
  /** Counters for metrics and the benchmark. */
  readonly stats = { pings: 0, indirectProbes: 0, suspicions: 0, refutations: 0, messagesSent: 0, syncs: 0 };

  constructor(options: SwimOptions) {
    this.options = options;
    this.view = options.view;
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.refOf = options.refOf ?? defaultPeerRef;
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? this.probeIntervalMs / 2;
    this.gossipIntervalMs = options.gossipIntervalMs ?? this.probeIntervalMs / 2;
    const now = this.clock();
    // Random phases: nodes started together must not probe and sync in step.
    this.nextProbeAt = now + this.random() * this.probeIntervalMs;
    this.nextGossipAt = now + this.random() * this.gossipIntervalMs;
    this.nextSyncAt = now + this.syncIntervalMs() * (0.5 + this.random());
  }

  /** Retransmissions per update at the current fleet size. */
  retransmitLimit(): number {
    return (this.options.retransmitMult ?? 6) * Math.max(2, Math.ceil(Math.log10(this.view.size + 1)));
  }

  syncIntervalMs(): number {
    const base = this.options.syncIntervalMs ?? 30_000;
    const n = this.view.size;
    return n <= 32 ? base : base * Math.ceil(Math.log2(n) - Math.log2(32));
  }

  /** Updates waiting to be sent (for tests and metrics). */
  get pendingUpdates(): number {
    return this.broadcasts.size;
  }

  /** First contact: full-state sync with a few seeds (instances found in the cloud). */
  join(seeds: PeerRef[]): Outgoing[] {
    // One more push-pull a few seconds after joining, with a random member, catches the
    // members that joined while our first sync was in flight (a fleet booting at once).
    this.nextSyncAt = Math.min(this.nextSyncAt, this.clock() + this.probeIntervalMs * (4 + 4 * this.random()));
    return seeds
      .filter((s) => s.id !== this.view.selfId)
      .slice(0, 3)
      .map((to) => this.syncTo(to, true));
  }

  /** Full-state sync with someone not (yet) in our view, e.g. found by listing the cloud. */
  syncTo(to: PeerRef, reply = true): Outgoing {
    this.stats.syncs += 1;
    return this.out(to, { kind: 'sync', from: this.view.self, reply, members: this.snapshot(), dead: this.deadForWire() });
  }

  /** Our own entry changed (state, notice): push it to `count` random members now, and keep disseminating it. */
  announce(count: number): Outgoing[] {
    this.queueSelfIfChanged(true);
    const out: Outgoing[] = [];
    const chosen = new Set<string>();
    const size = this.view.size - 1;
    for (let i = 0; i < Math.min(count, size); i++) {
      const id = this.view.randomMemberId(this.random, chosen);
      if (!id) break;
      chosen.add(id);
      out.push(this.out(this.refOf(this.view.get(id)!), { kind: 'gossip', from: this.view.self, updates: this.takeUpdates() }));
    }
    return out;
  }

  /** Run the protocol up to now: expire suspects, time out probes, probe, gossip, sync. */
  tick(): Outgoing[] {
    const now = this.clock();
    const out: Outgoing[] = [];
    for (const suspect of this.view.dueSuspects()) {
      // Never bury on a suspicion alone: probe once more, telling the suspect it is
      // suspected. A node that was itself cut off (its own probes failing) would otherwise
      // declare healthy peers dead once it reconnects.
      if (this.finalProbes.has(suspect.id)) continue;
      this.view.extendSuspicion(suspect.id, Number.POSITIVE_INFINITY);
      this.finalProbes.add(suspect.id);
      out.push(this.probe(suspect, now, true));
    }
    this.queueSelfIfChanged(false);

    for (const [seq, probe] of this.pending) {
      if (now >= probe.endAt) {
        this.pending.delete(seq);
        this.probeFailed(probe);
      } else if (!probe.indirect && now >= probe.indirectAt) {
        probe.indirect = true;
        out.push(...this.indirectProbe(seq, probe.target));
      }
    }
    for (const [seq, relay] of this.relays) if (now >= relay.expiresAt) this.relays.delete(seq);

    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.probeIntervalMs;
      const id = this.view.randomMemberId(this.random);
      const member = id === undefined ? undefined : this.view.get(id);
      if (member) out.push(this.probe(member, now, false));
    }

    if (now >= this.nextGossipAt) {
      this.nextGossipAt = now + this.gossipIntervalMs;
      if (this.broadcasts.size > 0) {
        const chosen = new Set<string>();
        for (let i = 0; i < (this.options.gossipFanout ?? 3) && this.broadcasts.size > 0; i++) {
          const id = this.view.randomMemberId(this.random, chosen);
          if (!id) break;
          chosen.add(id);
          out.push(this.out(this.refOf(this.view.get(id)!), { kind: 'gossip', from: this.view.self, updates: this.takeUpdates() }));
        }
      }
    }

    if (now >= this.nextSyncAt) {
      this.nextSyncAt = now + this.syncIntervalMs() * (0.8 + 0.4 * this.random());
      const id = this.view.randomMemberId(this.random);
      if (id) out.push(this.syncTo(this.refOf(this.view.get(id)!), true));
    }
    return out;
  }

  /** A member entry verified out of band (its identity was just proven): apply and pass on. */
  learn(member: Member): void {
    this.apply({ type: 'alive', member });
  }

  /**
   * A message from a peer. `trustSender: false` (its entry is not verified yet): answer it,
   * but do not take its entry into the view.
   */
  receive(message: SwimMessage, options: { trustSender?: boolean } = {}): Received {
    const send: Outgoing[] = [];
    const reply: SwimMessage[] = [];
    const extra: MembershipUpdate[] = [];
    const sender = message.from;
    if (options.trustSender !== false) this.record(this.view.applyFrom(sender), { type: 'alive', member: sender });
    if (!this.view.has(sender.id) && this.view.isDead(sender.id) && sender.state !== 'stopped') {
      // We buried this version of the sender: tell it, so it refutes with a newer one.
      // Name the version we buried (it may be ahead of the sender's own), so its refutation goes above it.
      const tomb = this.view.tombstoneOf(sender.id);
      const buried = tomb && isNewer(tomb, sender) ? tomb : sender;
      extra.push({ type: 'dead', id: sender.id, incarnation: buried.incarnation, version: buried.version });
    } else if (this.view.isSuspect(sender.id)) {
      // The suspicion may have spread while the sender could not hear it: tell it now.
      extra.push({ type: 'suspect', id: sender.id, incarnation: sender.incarnation, version: sender.version });
    }
    if (message.kind !== 'sync') for (const update of message.updates) this.apply(update);

    switch (message.kind) {
      case 'ping':
        reply.push({
          kind: 'ack',
          seq: message.seq,
          from: this.view.self,
          updates: [...extra, ...this.takeUpdates(this.maxUpdates() - extra.length)],
        });
        break;
      case 'ack': {
        if (extra.length > 0) reply.push({ kind: 'gossip', from: this.view.self, updates: extra });
        const probe = this.pending.get(message.seq);
        if (probe) {
          this.pending.delete(message.seq);
          this.probeAnswered(probe);
          break;
        }
        const relay = this.relays.get(message.seq);
        if (relay) {
          this.relays.delete(message.seq);
          send.push(this.out(relay.requester, { kind: 'ack', seq: relay.requesterSeq, from: this.view.self, updates: this.takeUpdates() }));
        }
        break;
      }
      case 'ping-req': {
        const seq = ++this.seq;
        this.relays.set(seq, { requester: this.refOf(sender), requesterSeq: message.seq, expiresAt: this.clock() + this.probeIntervalMs });
        send.push(this.out(message.target, { kind: 'ping', seq, from: this.view.self, updates: this.takeUpdates() }));
        break;
      }
      case 'gossip':
        if (extra.length > 0) reply.push({ kind: 'gossip', from: this.view.self, updates: extra });
        break;
      case 'sync':
        this.applySync(message.members, message.dead);
        if (message.reply) {
          this.stats.syncs += 1;
          reply.push({ kind: 'sync', from: this.view.self, reply: false, members: this.snapshot(), dead: this.deadForWire() });
        } else if (extra.length > 0) {
          reply.push({ kind: 'gossip', from: this.view.self, updates: extra });
        }
        break;
    }
    this.stats.messagesSent += reply.length;
    return { reply, send };
  }

  /**
   * The transport could not deliver `message`. A failed direct ping goes indirect at once.
   * `refused` means nothing listens at the address (TCP connection refused): the member
   * is suspected at once, and a suspect whose final probe is refused is dead at once.
   */
  sendFailed(message: SwimMessage, refused = false): void {
    if (message.kind !== 'ping') return;
    const probe = this.pending.get(message.seq);
    if (!probe) return;
    if (refused) {
      // Nothing listens there: no indirect probe can do better. Suspect it now (it can
      // still refute if it restarts), or bury it if this was the last probe.
      this.pending.delete(message.seq);
      this.probeFailed(probe);
      return;
    }
    if (!probe.indirect) probe.indirectAt = Math.min(probe.indirectAt, this.clock());
  }

  private probe(member: Member, now: number, final: boolean): Outgoing {
    const seq = ++this.seq;
    const target = this.refOf(member);
    this.pending.set(seq, {
      target,
      final,
      version: { incarnation: member.incarnation, version: member.version },
      indirectAt: now + this.probeTimeoutMs,
      indirect: false,
      endAt: now + this.probeIntervalMs,
    });
    this.stats.pings += 1;
    // A suspect we probe hears of its suspicion directly, so it can refute in time.
    const told: MembershipUpdate[] = this.view.isSuspect(member.id)
      ? [{ type: 'suspect', id: member.id, incarnation: member.incarnation, version: member.version }]
      : [];
    return this.out(target, {
      kind: 'ping',
      seq,
      from: this.view.self,
      updates: [...told, ...this.takeUpdates(this.maxUpdates() - told.length)],
    });
  }

  /** A probe got no ack, directly or through others, by the end of its period. */
  private probeFailed(probe: PendingProbe): void {
    const id = probe.target.id;
    if (!probe.final) {
      this.suspect(probe);
      return;
    }
    this.finalProbes.delete(id);
    if (!this.view.isSuspect(id)) return; // refuted meanwhile
    const member = this.view.declareDead(id);
    if (!member) return;
    this.queue({ type: 'dead', id, incarnation: member.incarnation, version: member.version });
    this.options.onLost?.(member);
  }

  /** An ack: the target is alive now, whatever anyone suspected. */
  private probeAnswered(probe: PendingProbe): void {
    if (probe.final) this.finalProbes.delete(probe.target.id);
    this.view.clearSuspicion(probe.target.id);
  }

  private indirectProbe(seq: number, target: PeerRef): Outgoing[] {
    const out: Outgoing[] = [];
    const except = new Set<string>([target.id]);
    for (let i = 0; i < (this.options.indirectProbes ?? 3); i++) {
      const id = this.view.randomMemberId(this.random, except);
      if (!id) break;
      except.add(id);
      this.stats.indirectProbes += 1;
      out.push(
        this.out(this.refOf(this.view.get(id)!), { kind: 'ping-req', seq, target, from: this.view.self, updates: this.takeUpdates() }),
      );
    }
    return out;
  }

  private suspect(probe: PendingProbe): void {
    const version = { id: probe.target.id, ...probe.version };
    const result = this.view.applySuspect(version, this.clock() + this.options.suspicionTimeoutMs);
    if (result.changed) {
      this.stats.suspicions += 1;
      this.queue({ type: 'suspect', ...version });
    }
  }

  /**
   * Merge a peer's full state. A joiner learning the whole fleet must not re-disseminate
   * it (that is N updates); a few differences found by anti-entropy are passed on, so
   * the repair spreads.
   */
  private applySync(members: Member[], dead: { id: string; incarnation: number; version: number }[]): void {
    let news = 0;
    for (const member of members) {
      const known = this.view.get(member.id);
      if (member.id !== this.view.selfId && (!known || isNewer(member, known))) news += 1;
    }
    const pass = news <= 4;
    for (const member of members) this.apply({ type: 'alive', member }, pass);
    for (const version of dead) this.apply({ type: 'dead', ...version }, pass);
  }

  private apply(update: MembershipUpdate, pass = true): void {
    switch (update.type) {
      case 'alive':
        this.record(this.view.applyAlive(update.member), update, pass);
        break;
      case 'suspect':
        this.record(this.view.applySuspect(update, this.clock() + this.options.suspicionTimeoutMs), update, pass);
        break;
      case 'dead':
        this.record(this.view.applyDead(update), update, pass);
        break;
    }
  }

  /** Act on what an update did: refute, pass the news on (`pass`), report joins and losses. */
  private record(result: ApplyResult, update: MembershipUpdate, pass = true): void {
    if (result.refute) {
      this.stats.refutations += 1;
      this.view.updateSelf({}, result.refuteAbove ?? 0);
      this.queueSelfIfChanged(true);
    }
    if (!result.changed) return;
    if (pass) this.queue(update);
    if (result.joined) this.options.onJoined?.(result.joined);
    if (result.lost) this.options.onLost?.(result.lost);
  }

  private queueSelfIfChanged(force: boolean): void {
    const self = this.view.self;
    if (!force && self.version === this.broadcastSelfVersion && self.incarnation === this.broadcastSelfIncarnation) return;
    this.broadcastSelfVersion = self.version;
    this.broadcastSelfIncarnation = self.incarnation;
    this.queue({ type: 'alive', member: self });
  }

  private queue(update: MembershipUpdate): void {
    const id = update.type === 'alive' ? update.member.id : update.id;
    this.broadcasts.set(id, { update, transmits: 0 });
  }

  private maxUpdates(): number {
    return Math.min(this.options.maxUpdatesPerMessage ?? 16, MAX_UPDATES_PER_MESSAGE);
  }

  /** The least-sent pending updates, each counted as sent once more. */
  private takeUpdates(max = this.maxUpdates()): MembershipUpdate[] {
    if (this.broadcasts.size === 0 || max <= 0) return [];
    const limit = this.retransmitLimit();
    const entries = [...this.broadcasts];
    if (entries.length > max) entries.sort((a, b) => a[1].transmits - b[1].transmits);
    const taken: MembershipUpdate[] = [];
    for (const [id, broadcast] of entries.slice(0, max)) {
      taken.push(broadcast.update);
      broadcast.transmits += 1;
      if (broadcast.transmits >= limit) this.broadcasts.delete(id);
    }
    return taken;
  }

  private snapshot(): Member[] {
    const members: Member[] = [];
    for (const id of this.view.ids()) members.push(this.view.get(id)!);
    return members;
  }

  private deadForWire(): { id: string; incarnation: number; version: number }[] {
    return this.view.deadVersions();
  }

  private out(to: PeerRef, message: SwimMessage): Outgoing {
    this.stats.messagesSent += 1;
    return { to, message };
  }
}
