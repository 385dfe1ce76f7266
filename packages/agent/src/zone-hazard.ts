/**
 * Zone hazard: how often each zone took a serving instance of the pool away, per hour the
 * pool had instances there. Placement (placementZoneOrder) keeps to the zones whose rate is
 * within ZONE_TIER_FACTOR of the best one and spreads over those; a zone reclaimed far more
 * often is used only when the better ones are avoided or short.
 *
 * Why (issue 16, "more zones never lower availability"): availability counts the time
 * with all N ready, so every zone the pool occupies adds its reclaims to the pool's outages.
 * The 12-hour loss count alone cannot tell a zone we left from a good one (both show no
 * recent loss), so on the shipped 6-zone trace six zones kept cycling through the flaky
 * ones a 3-zone subset leaves out: 99.62 % against 99.74 % for the best subset. Normalizing
 * losses by exposure over a week tells them apart. Not fitted to a trace: a zone without
 * exposure gets a neutral prior (one event per PRIOR_HOURS), and the tier factor is 2.
 *
 * ZoneExposure is fed by the runtime (its view, every minute, and its losses) and by the
 * simulator the same way; zoneHazards is pure. It is the one store of the pool's losses:
 * the hazards read a week of loss events, placement and the spot hedge read the last 12 h
 * of raw losses (recentLosses), and the hedge's error budget the week's losses and the
 * measured time short of the target (lossHistory).
 */

/** How long losses and exposure count. @default 7 days */
export const ZONE_HAZARD_MEMORY_MS = 7 * 86_400_000;
/** The prior: a zone without evidence counts as one loss per this many hours of exposure. */
export const PRIOR_HOURS = 4;
/** Exposure is kept per zone in buckets of this length (bounded memory). */
const BUCKET_MS = 3_600_000;
/** Most zones and losses remembered (operator and peer input: bounded). */
const MAX_ZONES = 64;
/** Raw losses kept (a week of them; the oldest go first). */
const MAX_LOSSES = 5000;
/** Losses in one zone this close together are one event (one reclaim takes several at once). */
const EVENT_GAP_MS = 120_000;

export interface ZoneExposureOptions {
  /** @default ZONE_HAZARD_MEMORY_MS */
  memoryMs?: number | undefined;
}

/** A member as exposure counts it: serving or booting in a zone, not leaving. */
export interface ExposureMember {
  zone?: string | undefined;
  state?: string | undefined;
  role?: string | undefined;
  /** On-demand instances are not reclaimed: they add no exposure (unknown: counted). */
  lifecycle?: 'spot' | 'on-demand' | undefined;
}

/** One loss of the pool's: where, when, and whether the instance was serving (a booting one took no replica away). */
export interface ZoneLoss {
  zone: string;
  at: number;
  serving: boolean;
}

/** The pool's exposure (instance-ms per zone, in hourly buckets) and its losses, over the memory window. */
export class ZoneExposure {
  private readonly memoryMs: number;
  private readonly buckets = new Map<string, Map<number, number>>();
  /** Every loss, oldest first; `event`: the first of its zone's reclaim (what the hazards count). */
  private readonly losses: (ZoneLoss & { event: boolean })[] = [];
  private lastAt: number | undefined;
  /** Time with fewer than the target ready, per hourly bucket (observe with a target). */
  private readonly shortfall = new Map<number, number>();
  private lastShort: boolean | undefined;
  /** The first observation with a target: the shortfall counts from here. */
  private watchedSince: number | undefined;
  /** When this store started watching (its first observation or loss): the error budget counts from here. */
  private firstAt: number | undefined;

  constructor(options: ZoneExposureOptions = {}) {
    this.memoryMs = Math.max(BUCKET_MS, options.memoryMs ?? ZONE_HAZARD_MEMORY_MS);
  }

  /** The pool's members now: each holds its zone since the last observation (capped at one bucket: a gap is not exposure). */
  observe(now: number, members: readonly ExposureMember[], role?: string, target?: number): void {
    const dt = this.lastAt === undefined ? 0 : Math.min(BUCKET_MS, Math.max(0, now - this.lastAt));
    this.firstAt ??= now;
    this.lastAt = now;
    const bucket = Math.floor(now / BUCKET_MS);
    // Shortfall (the error budget's measure): fewer than `target` of the role ready. Each
    // interval counts by the trapezoid of its two ends (short at both: all of it; at one: half).
    const short =
      target === undefined
        ? undefined
        : members.filter((m) => m.state === 'ready' && (role === undefined || m.role === undefined || m.role === role)).length < target;
    if (short !== undefined && this.lastShort !== undefined && dt > 0) {
      const ms = (dt * (Number(short) + Number(this.lastShort))) / 2;
      if (ms > 0) this.shortfall.set(bucket, (this.shortfall.get(bucket) ?? 0) + ms);
    }
    if (short !== undefined) this.watchedSince ??= now;
    this.lastShort = short;
    if (dt === 0) return;
    for (const m of members) {
      if (m.zone === undefined || m.lifecycle === 'on-demand' || (role !== undefined && m.role !== undefined && m.role !== role)) continue;
      if (m.state === 'draining' || m.state === 'stopped' || m.state === 'left') continue;
      let zone = this.buckets.get(m.zone);
      if (!zone) {
        if (this.buckets.size >= MAX_ZONES) continue;
        zone = new Map();
        this.buckets.set(m.zone, zone);
      }
      zone.set(bucket, (zone.get(bucket) ?? 0) + dt);
    }
    this.forget(now);
  }

  /** An instance of the pool was lost in `zone` (a notice or a crash); `serving`: it had joined. */
  lost(zone: string, now: number, serving = true): void {
    this.firstAt ??= now;
    const lastEvent = this.losses.findLast((l) => l.zone === zone && l.event);
    this.losses.push({ zone, at: now, serving, event: !(lastEvent && now - lastEvent.at <= EVENT_GAP_MS) });
    if (this.losses.length > MAX_LOSSES) this.losses.shift();
    this.forget(now);
  }

  /** The losses in (now − windowMs, now], each one (a reclaim of three counts three), oldest first. */
  recentLosses(now: number, windowMs: number): ZoneLoss[] {
    const out: ZoneLoss[] = [];
    for (const l of this.losses) if (l.at > now - windowMs && l.at <= now) out.push({ zone: l.zone, at: l.at, serving: l.serving });
    return out;
  }

  /**
   * The losses over the error budget's window (the memory, a week) and since when this store
   * has watched: what the spot hedge's errorBudget reads.
   */
  lossHistory(now: number): { losses: ZoneLoss[]; since: number | undefined; shortfall?: { ms: number; since: number } | undefined } {
    let shortfall: { ms: number; since: number } | undefined;
    if (this.watchedSince !== undefined) {
      let ms = 0;
      for (const [bucket, value] of this.shortfall) if ((bucket + 1) * BUCKET_MS > now - this.memoryMs) ms += value;
      shortfall = { ms, since: this.watchedSince };
    }
    return { losses: this.recentLosses(now, this.memoryMs), since: this.firstAt, shortfall };
  }

  /** Each zone's loss events per exposed hour, with the prior (see zoneHazards). */
  hazards(zones: readonly string[], now: number): Record<string, number> {
    const since = now - this.memoryMs;
    const exposureHours: Record<string, number> = {};
    const events: Record<string, number> = {};
    for (const zone of zones) {
      let ms = 0;
      for (const [bucket, value] of this.buckets.get(zone) ?? []) if ((bucket + 1) * BUCKET_MS > since) ms += value;
      exposureHours[zone] = ms / 3_600_000;
    }
    for (const l of this.losses) if (l.event && l.at > since && l.at <= now) events[l.zone] = (events[l.zone] ?? 0) + 1;
    return zoneHazards({ zones, exposureHours, events });
  }

  private forget(now: number): void {
    const oldest = Math.floor((now - this.memoryMs) / BUCKET_MS);
    for (const zone of this.buckets.values()) for (const bucket of zone.keys()) if (bucket < oldest) zone.delete(bucket);
    for (const bucket of this.shortfall.keys()) if (bucket < oldest) this.shortfall.delete(bucket);
    while (this.losses.length > 0 && this.losses[0]!.at <= now - this.memoryMs) this.losses.shift();
  }
}

/**
 * Loss events per exposed hour, (events + 1) / (hours + PRIOR_HOURS): a zone never used
 * rates one loss per PRIOR_HOURS (a neutral guess between a good zone's ~0.1/h and a flaky
 * one's ~0.6/h on the shipped trace), and its evidence takes over as exposure grows. Pure.
 */
export function zoneHazards(input: {
  zones: readonly string[];
  exposureHours: Readonly<Record<string, number>>;
  events: Readonly<Record<string, number>>;
}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const zone of input.zones) out[zone] = ((input.events[zone] ?? 0) + 1) / (Math.max(0, input.exposureHours[zone] ?? 0) + PRIOR_HOURS);
  return out;
}
