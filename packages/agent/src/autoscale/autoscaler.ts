import { TAG_CLUSTER, TAG_ROLE, type AutoscaleSpec, type ClusterSpec } from '@synkti/core';
import { placementZoneOrder, type InstanceProvider, type InstanceRecord, type PlacementMember } from '@synkti/cloud';
import type { Logger } from '../logger.ts';
import type { Member } from '../membership-view.ts';
import { decideAutoscale, type AutoscaleMember, type LoadSample } from './autoscale-decision.ts';
import { autoscaleOrder, autoscaleRole } from './autoscale-election.ts';
import { latestRecords, type AutoscaleRecord, MAX_AUTOSCALE_RECORDS } from './autoscale-record.ts';
import { autoscaleClientToken } from './autoscale-token.ts';
import { newSlotTags } from '../spot-ledger.ts';

export interface AutoscalerOptions {
  spec: ClusterSpec;
  selfId: string;
  /** The node's current membership (members with their gossiped load and records). */
  members: () => readonly Member[];
  instances: InstanceProvider;
  /** The user data new nodes of a pool boot with (a rollout may have set a new one). */
  userDataFor: (role: string) => string;
  /** Put this node's copy of the records into its own member entry (versioned, gossiped). */
  publish: (records: AutoscaleRecord[]) => void;
  logger: Logger;
  /** How often load is sampled and the decision taken. @default 1000 */
  intervalMs?: number | undefined;
  /** How long live ≠ desired is taken for launches and replacements on their way. @default 180000 (3 minutes) */
  convergeMs?: number | undefined;
  /**
   * The pool's recent losses this node saw (zone and time of each notice or crash): a
   * scale-out tries those zones after the others, as replacements do (placementZoneOrder).
   * @default none
   */
  recentLosses?: (() => readonly { zone: string; at: number }[]) | undefined;
  /** Called after each action this node took (tests, logs). @default none */
  onAction?: ((record: AutoscaleRecord, launched: string[]) => void) | undefined;
  clock?: () => number;
}

/** What `synkti status` shows per autoscaled pool, from this node's view. */
export interface AutoscalePoolStatus {
  pool: string;
  /** Live members now (joining or ready, not scaled in). */
  current: number;
  desired: number;
  min: number;
  max: number;
  /** The node deciding now (first in the pool's rendezvous order). */
  decider: string | undefined;
  last?: AutoscaleRecord | undefined;
}

/** The load of a member in the pool's metric: its engine's running + waiting when reported, else its router's in-flight. */
export function memberLoad(member: Member, metric: AutoscaleSpec['metric']): number {
  if (metric === 'rps') return member.rps ?? 0;
  return member.engine ? member.engine.running + member.engine.waiting : member.load;
}

/**
 * A pool's total in-flight: the larger of what its routers hold and what its engines hold.
 * Both count the same requests (every request passes a router to an engine), so they are
 * never added; the engines see requests queued inside them, the routers those on their way.
 */
export function poolLoad(serving: readonly Member[], metric: AutoscaleSpec['metric']): number {
  if (metric === 'rps') return serving.reduce((sum, m) => sum + memberLoad(m, metric), 0);
  const routers = serving.reduce((sum, m) => sum + m.load, 0);
  const engines = serving.reduce((sum, m) => sum + (m.engine ? m.engine.running + m.engine.waiting : 0), 0);
  return Math.max(routers, engines);
}

/** A member counts toward its pool while it joins or serves, or drains for a notice (its replacement is on the way). */
function isLive(member: Member): boolean {
  if (member.state === 'booting' || member.state === 'joining' || member.state === 'ready') return true;
  return member.state === 'draining' && member.noticeDeadline !== undefined;
}

interface PoolState {
  samples: LoadSample[];
  offTargetSince: number | undefined;
  lifecycles: Map<string, 'spot' | 'on-demand'>;
}

/**
 * Scales pools with `autoscale` on their load, with no control plane: every node samples
 * its view's load each tick (so a new decider has its windows full at once); the pool's
 * decider (autoscale-election.ts) takes the decision (autoscale-decision.ts) and acts:
 * launches with client tokens of the decision's epoch (idempotent across deciders), or
 * terminates the chosen nodes, which drain gracefully and are not replaced.
 */
export class Autoscaler {
  private readonly options: AutoscalerOptions;
  private readonly clock: () => number;
  private readonly pools = new Map<string, PoolState>();
  private timer: NodeJS.Timeout | undefined;
  private acting = false;
  private carried: AutoscaleRecord[] = [];
  private latest = new Map<string, AutoscaleRecord>();
  /** Decisions taken (`hold` included) and actions, for status and tests. */
  readonly stats = { ticks: 0, scaleOuts: 0, scaleIns: 0, launched: 0, terminated: 0 };

  constructor(options: AutoscalerOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  /** Autoscaled pools of the spec (none: the autoscaler does nothing). */
  static enabled(spec: ClusterSpec): boolean {
    return Object.values(spec.pools).some((pool) => pool.autoscale !== undefined);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.tick();
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private pool(name: string): PoolState {
    let state = this.pools.get(name);
    if (!state) {
      state = { samples: [], offTargetSince: undefined, lifecycles: new Map() };
      this.pools.set(name, state);
    }
    return state;
  }

  /** One round: sample, keep records, and decide and act where this node is the decider. Never throws. */
  async tick(): Promise<void> {
    const { spec, selfId, logger } = this.options;
    const now = this.clock();
    this.stats.ticks += 1;
    const members = this.options.members();
    this.latest = latestRecords(
      members.map((m) => m.autoscale),
      now,
    );
    const readyIds = members.filter((m) => m.state === 'ready' && m.noticeDeadline === undefined).map((m) => m.id);
    const keep: AutoscaleRecord[] = [];
    for (const [name, pool] of Object.entries(spec.pools)) {
      const autoscale = pool.autoscale;
      if (!autoscale) continue;
      const state = this.pool(name);
      const live = members.filter((m) => m.role === name && isLive(m));
      const total = poolLoad(
        live.filter((m) => m.state === 'ready'),
        autoscale.metric,
      );
      state.samples.push({ at: now, total });
      const horizon = Math.max(autoscale.upscaleDelayMs, autoscale.downscaleDelayMs) + 10_000;
      while (state.samples.length > 0 && (state.samples[0]!.at < now - horizon || state.samples.length > 100_000)) state.samples.shift();
      const record = this.latest.get(name);
      if (record && live.length !== record.desired) state.offTargetSince ??= now;
      else state.offTargetSince = undefined;
      const role = autoscaleRole(spec.name, name, readyIds, selfId);
      if (role !== 'none' && record) keep.push(record);
      if (role === 'decider' && !this.acting) {
        const decision = decideAutoscale(this.input(name, autoscale, live, state, record, now));
        if (decision.kind !== 'hold') {
          this.acting = true;
          try {
            await this.act(name, autoscale, live, state, record);
          } catch (error) {
            logger.warn({ err: error, pool: name }, 'autoscale action failed; deciding again next round');
          } finally {
            this.acting = false;
          }
        }
      }
    }
    this.carry(keep);
  }

  private input(
    name: string,
    spec: AutoscaleSpec,
    live: readonly Member[],
    state: PoolState,
    record: AutoscaleRecord | undefined,
    now: number,
  ) {
    const pool = this.options.spec.pools[name]!;
    const members: AutoscaleMember[] = live.map((m) => ({
      id: m.id,
      load: memberLoad(m, spec.metric),
      serving: m.state === 'ready' && m.noticeDeadline === undefined,
      startedAt: m.incarnation,
      lifecycle: state.lifecycles.get(m.id),
    }));
    return {
      spec,
      now,
      members,
      samples: state.samples,
      record,
      offTargetSince: state.offTargetSince,
      convergeMs: this.options.convergeMs ?? 180_000,
      lifecycle: pool.lifecycle,
      onDemandBase: pool.onDemandBase,
      selfId: this.options.selfId,
    };
  }

  /**
   * Acts on a decision after checking it against the cloud's listing: instances launched
   * but not yet joined (another decider's, or a replacement's) count as live, and each
   * node's lifecycle is known for the on-demand base. One list call per action.
   */
  private async act(
    name: string,
    spec: AutoscaleSpec,
    live: readonly Member[],
    state: PoolState,
    record: AutoscaleRecord | undefined,
  ): Promise<void> {
    const { instances, logger, selfId } = this.options;
    const listed = await this.listPool(name);
    for (const r of listed) state.lifecycles.set(r.id, r.lifecycle);
    for (const id of state.lifecycles.keys()) if (!listed.some((r) => r.id === id)) state.lifecycles.delete(id);
    const leaving = new Set(
      this.options
        .members()
        .filter((m) => m.state === 'draining' && m.noticeDeadline === undefined)
        .map((m) => m.id),
    );
    const pending = listed.filter(
      (r) => !leaving.has(r.id) && !live.some((m) => m.id === r.id) && (r.state === 'pending' || r.state === 'running'),
    );
    const now = this.clock();
    // Decided again with the listing's lifecycles (the on-demand base) before acting.
    const decision = decideAutoscale(this.input(name, spec, live, state, record, now));
    if (decision.kind === 'hold') return;
    const epoch = (record?.epoch ?? 0) + 1;
    if (decision.kind === 'scale-out') {
      // Launched but not joined yet: the same step already taken by someone.
      const count = decision.count - pending.length;
      if (count <= 0) {
        logger.info(
          { pool: name, pending: pending.map((r) => r.id), wanted: decision.count },
          'autoscale: the launches this step needs are already on their way',
        );
        return;
      }
      const next: AutoscaleRecord = {
        pool: name,
        epoch,
        desired: decision.desired,
        at: now,
        action: 'scale-out',
        from: decision.from,
        by: selfId,
        reason: decision.reason.slice(0, 200),
      };
      this.record(next);
      const pool = this.options.spec.pools[name]!;
      const launched: string[] = [];
      // Placed by the replacements' zone-spread rule: the pool's members and the launches on
      // their way hold places, and each slot counts the ones before it, so N nodes over Z
      // zones keep at most ⌈N/Z⌉ in one while capacity allows.
      const placed: PlacementMember[] = [
        ...live.map((m) => ({ id: m.id, zone: m.zone, role: name, state: m.state, lifecycle: state.lifecycles.get(m.id) })),
        ...pending.map((r) => ({ id: r.id, zone: r.zone, role: name, lifecycle: r.lifecycle })),
      ];
      const losses = this.options.recentLosses?.();
      for (let slot = 0; slot < count; slot++) {
        const lifecycle = slot < decision.onDemand ? 'on-demand' : pool.lifecycle;
        const clientToken = autoscaleClientToken(this.options.spec.name, name, epoch, slot);
        const instance = await instances.launch({
          // A scale-out is a new slot: one move of credit (spot-ledger.ts).
          tags: { [TAG_CLUSTER]: this.options.spec.name, [TAG_ROLE]: name, ...newSlotTags(pool) },
          instanceType: pool.instanceType,
          lifecycle,
          userData: this.options.userDataFor(name),
          clientToken,
          // The token as the leaving id: no member has it, so every member holds its place.
          zoneOrder: placementZoneOrder({
            zones: pool.zones,
            members: placed,
            role: name,
            leaving: clientToken,
            key: clientToken,
            losses,
            now,
          }),
        });
        launched.push(instance.id);
        placed.push({ id: instance.id, zone: instance.zone, role: name, lifecycle: instance.lifecycle });
        state.lifecycles.set(instance.id, instance.lifecycle);
      }
      this.stats.scaleOuts += 1;
      this.stats.launched += launched.length;
      logger.info(
        { pool: name, epoch, from: decision.from, desired: decision.desired, launched, reason: decision.reason },
        'autoscale: scaled out',
      );
      this.options.onAction?.(next, launched);
      return;
    }
    const next: AutoscaleRecord = {
      pool: name,
      epoch,
      desired: decision.desired,
      at: now,
      action: 'scale-in',
      from: decision.from,
      by: selfId,
      reason: decision.reason.slice(0, 200),
    };
    this.record(next);
    // Terminating is graceful: each chosen agent drains (its requests finish) and leaves as
    // `stopped`, which no one replaces.
    await instances.terminate(decision.ids);
    this.stats.scaleIns += 1;
    this.stats.terminated += decision.ids.length;
    logger.info(
      { pool: name, epoch, from: decision.from, desired: decision.desired, terminated: decision.ids, reason: decision.reason },
      'autoscale: scaled in',
    );
    this.options.onAction?.(next, []);
  }

  private async listPool(name: string): Promise<InstanceRecord[]> {
    const items: InstanceRecord[] = [];
    let nextToken: string | undefined;
    // Bounded: a pool is at most a few thousand instances; 20 pages of the provider's page size.
    for (let page = 0; page < 20; page++) {
      const result = await this.options.instances.list(
        { tags: { [TAG_CLUSTER]: this.options.spec.name, [TAG_ROLE]: name }, states: ['pending', 'running'] },
        { nextToken },
      );
      items.push(...result.items);
      nextToken = result.nextToken;
      if (!nextToken) break;
    }
    return items;
  }

  /** Take a new record as the latest at once (before gossip brings it back) and carry it. */
  private record(next: AutoscaleRecord): void {
    this.latest.set(next.pool, next);
    this.carry([...this.carried.filter((r) => r.pool !== next.pool), next]);
  }

  /** Publish this node's copies when they changed (a version bump only then). */
  private carry(records: AutoscaleRecord[]): void {
    const merged = new Map<string, AutoscaleRecord>();
    for (const r of [...this.carried, ...records]) {
      const current = merged.get(r.pool);
      if (!current || r.epoch > current.epoch || (r.epoch === current.epoch && r.at >= current.at)) merged.set(r.pool, r);
    }
    // Keep only records of pools still autoscaled and this node still keeps.
    const kept = [...merged.values()]
      .filter((r) => records.some((k) => k.pool === r.pool) || this.latest.get(r.pool) === r)
      .slice(0, MAX_AUTOSCALE_RECORDS);
    kept.sort((a, b) => (a.pool < b.pool ? -1 : 1));
    if (JSON.stringify(kept) === JSON.stringify(this.carried)) return;
    this.carried = kept;
    this.options.publish(kept);
  }

  /** Per autoscaled pool: current, desired, bounds, the decider and the last action, from this node's view. */
  status(): AutoscalePoolStatus[] {
    const { spec } = this.options;
    const members = this.options.members();
    const readyIds = members.filter((m) => m.state === 'ready' && m.noticeDeadline === undefined).map((m) => m.id);
    const out: AutoscalePoolStatus[] = [];
    for (const [name, pool] of Object.entries(spec.pools)) {
      if (!pool.autoscale) continue;
      const current = members.filter((m) => m.role === name && isLive(m)).length;
      const last = this.latest.get(name);
      const decider = autoscaleOrder(spec.name, name, readyIds)[0];
      out.push({
        pool: name,
        current,
        desired: last?.desired ?? current,
        min: pool.autoscale.min,
        max: pool.autoscale.max,
        decider,
        ...(last ? { last } : {}),
      });
    }
    return out;
  }
}
