import { z } from 'zod';
import { AGENT_STATES, type AgentState } from './agent-state.ts';

/**
 * What one agent knows about another, as gossiped between peers. Every agent owns its
 * own entry and bumps `heartbeat` each gossip round; (`incarnation`, `heartbeat`) orders
 * versions of an entry, so a restarted agent (new incarnation) supersedes its old self.
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
  heartbeat: z.number().int().nonnegative(),
  /** In-flight requests through this node's router (load shown by `synkti status`). */
  load: z.number().nonnegative(),
  /** Set once the node has an interruption notice: its deadline (epoch ms). */
  noticeDeadline: z.number().int().nonnegative().optional(),
  /** The instance this node was launched to replace (from its SynktiReplaces tag). */
  replaces: z.string().max(64).optional(),
});
export type Member = z.infer<typeof memberSchema>;

export const gossipMessageSchema = z.object({
  from: z.string().min(1).max(64),
  members: z.array(memberSchema).max(20_000),
  /** Members the sender has declared dead, with the version it last saw. */
  dead: z.array(z.object({ id: z.string().min(1).max(64), incarnation: z.number().int().nonnegative(), heartbeat: z.number().int().nonnegative() })).max(20_000).default([]),
});
export type GossipMessage = z.infer<typeof gossipMessageSchema>;

interface Tombstone { incarnation: number; heartbeat: number; at: number }
interface Entry { member: Member; refreshedAt: number }

export interface MembershipViewOptions {
  self: Member;
  /** A member whose heartbeat has not advanced for this long is declared dead. */
  failureTimeoutMs: number;
  /** How long a dead member's last version is remembered to refuse stale gossip about it. @default 10 × failureTimeoutMs */
  tombstoneTtlMs?: number;
  clock?: () => number;
}

function newer(a: { incarnation: number; heartbeat: number }, b: { incarnation: number; heartbeat: number }): boolean {
  return a.incarnation > b.incarnation || (a.incarnation === b.incarnation && a.heartbeat > b.heartbeat);
}

/**
 * The membership one agent holds: live members (its own entry included) merged from
 * gossip, with failure detection by heartbeat age. Pure data structure: no I/O.
 */
export class MembershipView {
  private readonly entries = new Map<string, Entry>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly clock: () => number;
  private readonly failureTimeoutMs: number;
  private readonly tombstoneTtlMs: number;
  readonly selfId: string;

  constructor(options: MembershipViewOptions) {
    this.clock = options.clock ?? Date.now;
    this.failureTimeoutMs = options.failureTimeoutMs;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? options.failureTimeoutMs * 10;
    this.selfId = options.self.id;
    this.entries.set(options.self.id, { member: { ...options.self }, refreshedAt: this.clock() });
  }

  get self(): Member {
    return this.entries.get(this.selfId)!.member;
  }

  /** Change our own entry (state, load, ...) and bump its heartbeat so peers take it. */
  updateSelf(change: Partial<Omit<Member, 'id' | 'incarnation' | 'heartbeat'>>): Member {
    const entry = this.entries.get(this.selfId)!;
    entry.member = { ...entry.member, ...change, heartbeat: entry.member.heartbeat + 1 };
    entry.refreshedAt = this.clock();
    return entry.member;
  }

  /** Called once per gossip round. */
  beat(): void {
    this.updateSelf({});
  }

  /** Live members, self included, sorted by id. */
  members(): Member[] {
    return [...this.entries.values()].map((e) => e.member).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  memberIds(): string[] {
    return this.members().map((m) => m.id);
  }

  get(id: string): Member | undefined {
    return this.entries.get(id)?.member;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  isDead(id: string): boolean {
    return this.tombstones.has(id);
  }

  /** Merge a peer's gossip. Returns the ids that joined the view and the members it lost. */
  merge(message: GossipMessage): { joined: string[]; lost: Member[] } {
    const now = this.clock();
    const joined: string[] = [];
    const lost: Member[] = [];
    for (const dead of message.dead) {
      const member = this.markDead(dead.id, dead);
      if (member) lost.push(member);
    }
    for (const incoming of message.members) {
      if (incoming.id === this.selfId) continue; // only we speak for ourselves
      const tomb = this.tombstones.get(incoming.id);
      if (tomb && !newer(incoming, tomb)) continue; // stale news of a dead member
      if (tomb) this.tombstones.delete(incoming.id);
      const current = this.entries.get(incoming.id);
      if (incoming.state === 'stopped') {
        // A graceful leave: drop it now rather than waiting for its heartbeat to go stale.
        if (!current || newer(incoming, current.member)) {
          const member = this.markDead(incoming.id, incoming);
          if (member) lost.push({ ...member, state: 'stopped' });
          else this.tombstones.set(incoming.id, { incarnation: incoming.incarnation, heartbeat: incoming.heartbeat, at: now });
        }
        continue;
      }
      if (!current) {
        this.entries.set(incoming.id, { member: { ...incoming }, refreshedAt: now });
        joined.push(incoming.id);
      } else if (newer(incoming, current.member)) {
        current.member = { ...incoming };
        current.refreshedAt = now;
      }
    }
    return { joined, lost };
  }

  /** Declare a member dead (timeout, or a peer's report); returns its last entry if it was live. */
  markDead(id: string, version?: { incarnation: number; heartbeat: number }): Member | undefined {
    if (id === this.selfId) return undefined;
    const entry = this.entries.get(id);
    const last = entry?.member;
    // A report about an older version than the one we hold is stale: the member has moved on.
    if (last && version && newer(last, version)) return undefined;
    const tombVersion = last && version ? (newer(version, last) ? version : last) : (last ?? version);
    if (!tombVersion) return undefined;
    const existing = this.tombstones.get(id);
    if (!existing || newer(tombVersion, existing)) {
      this.tombstones.set(id, { incarnation: tombVersion.incarnation, heartbeat: tombVersion.heartbeat, at: this.clock() });
    }
    this.entries.delete(id);
    return last;
  }

  /** Members whose heartbeat stopped advancing, removed from the view and returned. */
  expire(): Member[] {
    const now = this.clock();
    const lost: Member[] = [];
    for (const [id, entry] of this.entries) {
      if (id === this.selfId) continue;
      if (now - entry.refreshedAt > this.failureTimeoutMs) {
        const member = this.markDead(id);
        if (member) lost.push(member);
      }
    }
    for (const [id, tomb] of this.tombstones) {
      if (now - tomb.at > this.tombstoneTtlMs) this.tombstones.delete(id);
    }
    return lost;
  }

  /** What we gossip: every live member and our recent tombstones. */
  toMessage(): GossipMessage {
    return {
      from: this.selfId,
      members: this.members(),
      dead: [...this.tombstones].map(([id, t]) => ({ id, incarnation: t.incarnation, heartbeat: t.heartbeat })),
    };
  }
}
