/**
 * The requeuer, on by default on every node: puts tasks whose heartbeat is older than
 * their timeout back to ready (failing them, and their job, after max attempts), and
 * repairs tasks stuck pending whose dependencies are done.
 *
 * Exactly one node runs the sweep at a time, with no leader-election service: every
 * candidate registers itself in the database's membership view, ranks the live candidates
 * by rendezvous hashing, and only the top one may sweep (invariant 1). Because two nodes
 * can briefly disagree on who is live, the top one must also hold an expiring lease row:
 * at most one holder, whatever the views. When the holder dies, it drops out of the live
 * set after `membershipTtlMs` and its lease expires after `leaseMs`; the next node takes
 * over within max(membershipTtlMs, leaseMs) + intervalMs (+ one database round trip).
 */
import { randomUUID } from 'node:crypto';
import { rendezvousPick, SynktiError } from '@synkti/core';
import type { SweepResult, TaskDatabase } from './types.ts';

export const REQUEUER_LEASE = 'synkti.pipelines.requeuer';
/** Membership rows of requeuer candidates use this pool name. */
export const REQUEUER_POOL = '_requeuer';

export interface PipelineRequeuerOptions {
  db: TaskDatabase;
  /** This node's id. @default a random UUID */
  nodeId?: string | undefined;
  /**
   * How often the node checks whether it is the one, renews its lease and sweeps.
   * @default 2000
   */
  intervalMs?: number | undefined;
  /**
   * Lease length; renewed every interval by its holder. Must exceed intervalMs.
   * @default 10000
   */
  leaseMs?: number | undefined;
  /**
   * A candidate without a membership heartbeat for this long is considered dead.
   * @default 10000
   */
  membershipTtlMs?: number | undefined;
  /** Called after each sweep this node ran. */
  onSweep?: ((result: SweepResult) => void) | undefined;
  /** Database errors (the requeuer keeps going). */
  onError?: ((error: unknown) => void) | undefined;
}

export interface RequeuerStatus {
  nodeId: string;
  /** This node ranked first among the live candidates at the last tick. */
  chosen: boolean;
  /** This node held the lease at the last tick. */
  holder: boolean;
  sweeps: number;
  requeued: number;
  failed: number;
  repaired: number;
  /** Epoch ms of the first tick at which this node held the lease (since start). */
  heldSince: number | null;
}

export class PipelineRequeuer {
  readonly nodeId: string;
  private readonly db: TaskDatabase;
  private readonly intervalMs: number;
  private readonly leaseMs: number;
  private readonly ttlMs: number;
  private readonly options: PipelineRequeuerOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly state: RequeuerStatus;

  constructor(options: PipelineRequeuerOptions) {
    this.options = options;
    this.db = options.db;
    this.nodeId = options.nodeId ?? randomUUID();
    this.intervalMs = options.intervalMs ?? 2000;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.ttlMs = options.membershipTtlMs ?? 10_000;
    if (!(this.intervalMs > 0) || !(this.leaseMs > this.intervalMs) || !(this.ttlMs > this.intervalMs)) {
      throw new SynktiError(
        'E_PIPELINE_OPTION',
        `requeuer: leaseMs (${this.leaseMs}) and membershipTtlMs (${this.ttlMs}) must exceed intervalMs (${this.intervalMs}) > 0`,
        {
          hint: 'keep the defaults (2 s interval, 10 s lease and membership TTL)',
        },
      );
    }
    this.state = { nodeId: this.nodeId, chosen: false, holder: false, sweeps: 0, requeued: 0, failed: 0, repaired: 0, heldSince: null };
  }

  /** The longest a dead holder's duties go unperformed before another node sweeps (plus one round trip). */
  takeoverBoundMs(): number {
    return Math.max(this.ttlMs, this.leaseMs) + this.intervalMs;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const loop = (): void => {
      this.running = this.tick().then(
        () => undefined,
        (error: unknown) => this.options.onError?.(error),
      );
      void this.running.finally(() => {
        if (!this.stopped) {
          this.timer = setTimeout(loop, this.intervalMs);
          this.timer.unref();
        }
      });
    };
    loop();
  }

  /** One round: heartbeat, rank, lease, sweep. */
  async tick(): Promise<RequeuerStatus> {
    await this.db.agentHeartbeat({ id: this.nodeId, pool: REQUEUER_POOL, types: [] });
    const live = (await this.db.liveAgents(this.ttlMs)).filter((a) => a.pool === REQUEUER_POOL).map((a) => a.id);
    if (!live.includes(this.nodeId)) live.push(this.nodeId);
    this.state.chosen = rendezvousPick(REQUEUER_LEASE, live, 1)[0] === this.nodeId;
    if (!this.state.chosen) {
      // Step aside at once so the chosen node need not wait for the lease to expire.
      if (this.state.holder) await this.db.releaseLease(REQUEUER_LEASE, this.nodeId);
      this.state.holder = false;
      this.state.heldSince = null;
      return this.status();
    }
    this.state.holder = await this.db.acquireLease(REQUEUER_LEASE, this.nodeId, this.leaseMs);
    if (!this.state.holder) {
      this.state.heldSince = null;
      return this.status();
    }
    this.state.heldSince ??= Date.now();
    const result = await this.db.sweep();
    this.state.sweeps += 1;
    this.state.requeued += result.requeued;
    this.state.failed += result.failed;
    this.state.repaired += result.repaired;
    this.options.onSweep?.(result);
    return this.status();
  }

  status(): RequeuerStatus {
    return { ...this.state };
  }

  /** Stops ticking, gives the lease up and leaves the membership view (so a successor takes over at once). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    try {
      if (this.state.holder) await this.db.releaseLease(REQUEUER_LEASE, this.nodeId);
      await this.db.agentLeave(this.nodeId);
    } catch (error) {
      this.options.onError?.(error);
    }
    this.state.holder = false;
  }
}
