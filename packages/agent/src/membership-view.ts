import { z } from 'zod';
import { AGENT_STATES } from './agent-state.ts';
import { autoscaleRecordsSchema } from './autoscale/autoscale-record.ts';
import { GENERATION_PATTERN } from '@synkti/core';

/**
 * What one agent knows about another, as disseminated between peers. Every agent owns
 * its own entry: (`incarnation`, `version`) orders versions of an entry. An agent bumps
 * `version` whenever its entry changes (state, notice) or to refute a suspicion, and a
 * restarted agent starts a new incarnation, so it supersedes its old self.
 */
export const memberSchema = z.object({
  id: z.string().min(1).max(64),
  role: z.string().min(1).max(64),
  zone: z.string().max(64),
  address: z.string().min(1).max(255),
  agentPort: z.number().int().min(1).max(65535),
  routerPort: z.number().int().min(1).max(65535),
  workloadPort: z.number().int().min(1).max(65535),
  state: z.enum(AGENT_STATES),
  incarnation: z.number().int().nonnegative(),
  version: z.number().int().nonnegative(),
  /** In-flight requests through this node's router, as last heard from the node itself (not versioned). */
  load: z.number().nonnegative(),
  /** Its inference engine's scheduler load (vLLM metrics), as last heard from the node itself (not versioned, like load). */
  engine: z
    .object({
      running: z.number().nonnegative().max(1e6),
      waiting: z.number().nonnegative().max(1e6),
      kvCacheUsage: z.number().min(0).max(1).optional(),
    })
    .optional(),
  /** Requests per second its router answered over the last seconds (not versioned, like load): what `targetRps` scales on. */
  rps: z.number().nonnegative().max(1e7).optional(),
  /** Set once the node has an interruption notice: its deadline (epoch ms). */
  noticeDeadline: z.number().int().nonnegative().optional(),
  /** The instance this node was launched to replace (from its SynktiReplaces tag). */
  replaces: z.string().max(64).optional(),
  /** The config generation the node runs (configGeneration of its boot config): what `synkti deploy` and status read. */
  generation: z.string().regex(GENERATION_PATTERN).optional(),
  /** Copies of pools' last autoscale actions this node keeps (autoscale/autoscale-record.ts; versioned and signed). */
  autoscale: autoscaleRecordsSchema.optional(),
  /** The node's own Ed25519 public key (base64, raw 32 bytes), bound to its cloud identity (identity/member-verifier.ts). */
  key: z.string().max(64).optional(),
  /** The node's signature of this entry with that key (identity/node-key.ts signedPayload). */
  sig: z.string().max(128).optional(),
});
export type Member = z.infer<typeof memberSchema>;

export interface MemberVersion {
  id: string;
  incarnation: number;
  version: number;
}

function sameEngine(a: Member['engine'], b: Member['engine']): boolean {
  return (
    a === b ||
    (a !== undefined && b !== undefined && a.running === b.running && a.waiting === b.waiting && a.kvCacheUsage === b.kvCacheUsage)
  );
}

/** Is `a` a later version of an entry than `b`? */
export function isNewer(a: { incarnation: number; version: number }, b: { incarnation: number; version: number }): boolean {
  return a.incarnation > b.incarnation || (a.incarnation === b.incarnation && a.version > b.version);
}

function versionOf(member: Member): MemberVersion {
  return { id: member.id, incarnation: member.incarnation, version: member.version };
}

interface Tombstone {
  incarnation: number;
  version: number;
  at: number;
}

/**
 * How far past a member's known version a claim about it (suspect, dead) may reach. A
 * rumour names a version someone saw; a member moves a few versions a minute. Beyond this
 * it is forged (a `dead` at 2^53-1 would otherwise outrank every refutation).
 */
export const MAX_VERSION_JUMP = 1000;
/** Incarnations are start times (epoch ms): how far in the future one may be before it is forged. */
export const MAX_INCARNATION_SKEW_MS = 10 * 60_000;

/**
 * Is a claim about `current` (suspect/dead, from anyone) believable? Only about an
 * incarnation we know (a new one is learned from the member's own entry) and at most
 * MAX_VERSION_JUMP versions ahead. Older claims are stale and harmless.
 */
export function claimWithinBounds(
  claim: { incarnation: number; version: number },
  current: { incarnation: number; version: number },
): boolean {
  if (claim.incarnation > current.incarnation) return false;
  if (claim.incarnation < current.incarnation) return true;
  return claim.version - current.version <= MAX_VERSION_JUMP;
}

/**
 * A read-only starting view shared by many MembershipViews (each keeps only its own
 * differences). Lets the membership benchmark hold 10,000 agents' views of 10,000
 * members in one process; an agent never needs one.
 */
export interface MembershipBaseline {
  readonly members: ReadonlyMap<string, Member>;
  readonly ids: readonly string[];
}

export function membershipBaseline(members: Iterable<Member>): MembershipBaseline {
  const map = new Map<string, Member>();
  for (const member of members) map.set(member.id, member);
  return { members: map, ids: [...map.keys()] };
}

export interface MembershipViewOptions {
  self: Member;
  /** How long a dead member's last version is remembered, to refuse stale news of it. @default 120000 */
  tombstoneTtlMs?: number;
  /** A shared starting view (benchmarks). @default none */
  baseline?: MembershipBaseline;
  /** Signs our own entry whenever it changes (identity/node-key.ts). @default none: unsigned */
  signSelf?: (member: Member) => Member;
  clock?: () => number;
}

/** What applying one update did to the view. */
export interface ApplyResult {
  /** The view changed: the update is news and worth passing on. */
  changed: boolean;
  /** The member is new to the view. */
  joined?: Member;
  /** The member left the view (its last entry; state 'stopped' for a graceful leave). */
  lost?: Member;
  /** Someone said we are suspect or dead: the caller must refute by announcing a new version. */
  refute?: boolean;
  /** The version the rumour named, when it was about our current incarnation: the refutation goes above it. */
  refuteAbove?: number;
}

/**
 * The membership one agent holds: live (and suspected) members, its own entry included,
 * plus tombstones of the dead. Pure data structure with SWIM's precedence rules; no I/O.
 * Nothing here is O(N) per update, so it stays cheap at 10,000 members.
 */
export class MembershipView {
  /** Entries that differ from the baseline (all entries when there is none). */
  private readonly own = new Map<string, Member>();
  /** Baseline ids no longer members. */
  private readonly hidden = new Set<string>();
  /** Member ids not in the baseline, for random picks without building a list. */
  private readonly added: string[] = [];
  private readonly addedIndex = new Map<string, number>();
  private readonly baseline: MembershipBaseline | undefined;
  private readonly suspects = new Map<string, number>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly clock: () => number;
  private readonly tombstoneTtlMs: number;
  private readonly signSelf: (member: Member) => Member;
  private sorted: Member[] | undefined;
  private idList: string[] | undefined;
  private lastSweepAt = 0;
  /** Bumped whenever the set of members changes (join or loss), for callers' caches. */
  generation = 0;
  readonly selfId: string;

  constructor(options: MembershipViewOptions) {
    this.clock = options.clock ?? Date.now;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? 120_000;
    this.baseline = options.baseline;
    this.selfId = options.self.id;
    this.signSelf = options.signSelf ?? ((m) => m);
    this.put(this.signSelf({ ...options.self }));
  }

  get self(): Member {
    return this.own.get(this.selfId)!;
  }

  /** Change our own entry and bump its version so peers take it. */
  updateSelf(change: Partial<Omit<Member, 'id' | 'incarnation' | 'version' | 'key' | 'sig'>> = {}, above = 0): Member {
    // A refutation goes past the version the rumour named (bounded by the caller), so it wins everywhere.
    const next = this.signSelf({ ...this.self, ...change, version: Math.max(this.self.version, above) + 1 });
    this.own.set(this.selfId, next);
    this.sorted = undefined;
    return next;
  }

  /** Our current load: carried on every message we send, never versioned or re-gossiped. */
  setSelfLoad(load: number, engine?: Member['engine'], rps?: number): void {
    this.self.load = load;
    this.self.engine = engine;
    this.self.rps = rps;
  }

  get size(): number {
    return (this.baseline ? this.baseline.ids.length - this.hidden.size : 0) + this.added.length;
  }

  get(id: string): Member | undefined {
    const own = this.own.get(id);
    if (own || !this.baseline || this.hidden.has(id)) return own;
    return this.baseline.members.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** Every live member id, self included, in no particular order (no list is built). */
  *ids(): Generator<string> {
    if (this.baseline) for (const id of this.baseline.ids) if (!this.hidden.has(id)) yield id;
    yield* this.added;
  }

  /** Live members (suspects included: they may still refute), self included, sorted by id. */
  members(): Member[] {
    this.sorted ??= [...this.ids()].map((id) => this.get(id)!).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return this.sorted;
  }

  memberIds(): string[] {
    this.idList ??= [...this.ids()].sort();
    return this.idList;
  }

  /** A uniformly random member other than us (and `except`), or undefined if there is none. */
  randomMemberId(random: () => number, except?: ReadonlySet<string>): string | undefined {
    const baseCount = this.baseline?.ids.length ?? 0;
    const total = baseCount + this.added.length;
    for (let attempt = 0; attempt < 16; attempt++) {
      const index = Math.floor(random() * total);
      const id = index < baseCount ? this.baseline!.ids[index]! : this.added[index - baseCount]!;
      if (id !== this.selfId && !except?.has(id) && this.has(id)) return id;
    }
    // Mostly-excluded small views: pick from the full list.
    const pool = this.memberIds().filter((id) => id !== this.selfId && !except?.has(id));
    return pool.length === 0 ? undefined : pool[Math.floor(random() * pool.length)];
  }

  isSuspect(id: string): boolean {
    return this.suspects.has(id);
  }

  isDead(id: string): boolean {
    return this.tombstones.has(id);
  }

  /** The version a dead member was buried at, while remembered. */
  tombstoneOf(id: string): { incarnation: number; version: number } | undefined {
    const tomb = this.tombstones.get(id);
    return tomb && { incarnation: tomb.incarnation, version: tomb.version };
  }

  /** Versions of the dead we remember (for a full-state sync). */
  deadVersions(): MemberVersion[] {
    return [...this.tombstones].map(([id, t]) => ({ id, incarnation: t.incarnation, version: t.version }));
  }

  /** A member's entry as its own message carried it: newer versions apply, the same version refreshes its load. */
  applyFrom(member: Member): ApplyResult {
    const current = this.get(member.id);
    if (current && member.id !== this.selfId && !isNewer(member, current) && !isNewer(current, member)) {
      if (current.load !== member.load || current.rps !== member.rps || !sameEngine(current.engine, member.engine))
        this.put({ ...current, load: member.load, engine: member.engine, rps: member.rps });
      return { changed: false };
    }
    return this.applyAlive(member);
  }

  /** An `alive` update: a member's entry. A 'stopped' entry is a graceful leave. */
  applyAlive(member: Member): ApplyResult {
    if (member.id === this.selfId) return { changed: false }; // only we speak for ourselves
    const tomb = this.tombstones.get(member.id);
    if (tomb && !isNewer(member, tomb)) return { changed: false }; // stale news of the dead
    const current = this.get(member.id);
    if (current && !isNewer(member, current)) return { changed: false };
    if (member.state === 'stopped') {
      const lost = this.bury(member.id, versionOf(member));
      return { changed: true, lost: lost ? { ...lost, state: 'stopped' } : undefined };
    }
    if (tomb) this.tombstones.delete(member.id);
    this.suspects.delete(member.id); // a newer version refutes any suspicion
    this.put({ ...member });
    if (current) return { changed: true };
    this.membershipChanged();
    return { changed: true, joined: this.get(member.id)! };
  }

  /** A `suspect` update: the member is dead at `suspectUntil` unless it refutes with a newer version. */
  applySuspect(version: MemberVersion, suspectUntil: number): ApplyResult {
    if (version.id === this.selfId) return this.refutation(version);
    const current = this.get(version.id);
    if (!current || isNewer(current, version)) return { changed: false }; // unknown, or it moved on
    if (!claimWithinBounds(version, current)) return { changed: false }; // forged: beyond any version it announced
    if (this.suspects.has(version.id)) return { changed: false };
    this.suspects.set(version.id, suspectUntil);
    return { changed: true };
  }

  /** A `dead` update. */
  applyDead(version: MemberVersion): ApplyResult {
    if (version.id === this.selfId) return this.refutation(version);
    const current = this.get(version.id);
    if (current && isNewer(current, version)) return { changed: false }; // it moved on
    if (current && !claimWithinBounds(version, current)) return { changed: false }; // forged: beyond any version it announced
    // An incarnation is the member's start time: one from the future is forged, and its
    // tombstone would keep the real member out until it expires.
    if (!current && version.incarnation > this.clock() + MAX_INCARNATION_SKEW_MS) return { changed: false };
    const tomb = this.tombstones.get(version.id);
    if (!current && tomb && !isNewer(version, tomb)) return { changed: false }; // already known
    const lost = this.bury(version.id, version);
    return { changed: true, lost };
  }

  /** Suspects whose time has run out (still members: the caller decides, see SwimNode). */
  dueSuspects(): Member[] {
    const now = this.clock();
    const due: Member[] = [];
    for (const [id, until] of this.suspects) {
      const member = this.get(id);
      if (!member) this.suspects.delete(id);
      else if (until <= now) due.push(member);
    }
    if (now - this.lastSweepAt >= 1000) {
      this.lastSweepAt = now;
      for (const [id, tomb] of this.tombstones) if (now - tomb.at > this.tombstoneTtlMs) this.tombstones.delete(id);
    }
    return due;
  }

  /** Give a suspect more time (a final probe is under way). */
  extendSuspicion(id: string, until: number): void {
    if (this.suspects.has(id)) this.suspects.set(id, until);
  }

  /** The suspect answered us directly: drop our suspicion of it. */
  clearSuspicion(id: string): void {
    this.suspects.delete(id);
  }

  /** Declare a member dead at its current version; returns its last entry if it was live. */
  declareDead(id: string): Member | undefined {
    const member = this.get(id);
    return member ? this.bury(id, versionOf(member)) : undefined;
  }

  private refutation(version: MemberVersion): ApplyResult {
    if (!this.isAboutCurrentSelf(version)) return { changed: false, refute: false };
    // Any rumour of our death is refuted, whatever incarnation it names (a forged one too).
    // Above its version only when it is about this incarnation and within bounds.
    const above =
      version.incarnation === this.self.incarnation && version.version - this.self.version <= MAX_VERSION_JUMP ? version.version : 0;
    return { changed: false, refute: true, refuteAbove: above };
  }

  private isAboutCurrentSelf(version: MemberVersion): boolean {
    // Only news about our current or a later version needs a refutation; older news is stale.
    return !isNewer(this.self, version);
  }

  private put(member: Member): void {
    this.own.set(member.id, member);
    this.hidden.delete(member.id);
    if (!this.baseline?.members.has(member.id) && !this.addedIndex.has(member.id)) {
      this.addedIndex.set(member.id, this.added.length);
      this.added.push(member.id);
    }
    this.sorted = undefined;
  }

  /** Remove a member and remember its version; returns its last entry if it was live. */
  private bury(id: string, version: MemberVersion): Member | undefined {
    const existing = this.tombstones.get(id);
    if (!existing || isNewer(version, existing)) {
      this.tombstones.set(id, { incarnation: version.incarnation, version: version.version, at: this.clock() });
    }
    const entry = this.get(id);
    this.suspects.delete(id);
    if (!entry) return undefined;
    this.own.delete(id);
    if (this.baseline?.members.has(id)) this.hidden.add(id);
    const index = this.addedIndex.get(id);
    if (index !== undefined) {
      const last = this.added.pop()!;
      if (last !== id) {
        this.added[index] = last;
        this.addedIndex.set(last, index);
      }
      this.addedIndex.delete(id);
    }
    this.membershipChanged();
    return entry;
  }

  private membershipChanged(): void {
    this.sorted = undefined;
    this.idList = undefined;
    this.generation += 1;
  }
}
