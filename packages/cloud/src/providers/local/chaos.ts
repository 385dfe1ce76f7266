import { SynktiError } from '@synkti/core';
import type { LocalRegistry } from './registry.ts';

/** Chaos settings of a local cloud, kept in its registry so every instance host reads them. */
export interface ChaosSettings {
  /** Spot interruptions per instance per hour (Poisson); 0 turns chaos off. */
  ratePerHour: number;
  /** Warning each interruption gives, as AWS's 2-minute notice. */
  noticeMs: number;
}

const KEY = 'chaos';

export function saveChaos(registry: LocalRegistry, settings: ChaosSettings): void {
  if (!Number.isFinite(settings.ratePerHour) || settings.ratePerHour < 0) {
    throw new SynktiError('E_CHAOS', `chaos rate ${settings.ratePerHour} is not a non-negative number per hour`, {
      hint: 'e.g. --chaos-rate 6/h',
    });
  }
  registry.setMeta(KEY, JSON.stringify(settings));
}

export function loadChaos(registry: LocalRegistry): ChaosSettings {
  const text = registry.getMeta(KEY);
  if (!text) return { ratePerHour: 0, noticeMs: 120_000 };
  try {
    const parsed = JSON.parse(text) as ChaosSettings;
    return { ratePerHour: Number(parsed.ratePerHour) || 0, noticeMs: Number(parsed.noticeMs) || 120_000 };
  } catch {
    return { ratePerHour: 0, noticeMs: 120_000 };
  }
}

/**
 * Whether an instance is interrupted in the next `intervalMs`, for a Poisson process of
 * `ratePerHour`: P = 1 − e^(−rate·t).
 */
export function chaosStrikes(ratePerHour: number, intervalMs: number, random: () => number = Math.random): boolean {
  if (ratePerHour <= 0) return false;
  return random() < 1 - Math.exp(-ratePerHour * (intervalMs / 3_600_000));
}

export { parseChaosRate } from './chaos-rate.ts';
