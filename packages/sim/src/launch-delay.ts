import { SynktiError, parseDuration } from '@synkti/core';
import type { Random } from './random.ts';

/**
 * How long a new instance takes from the launch request to serving (provision + model
 * load), per instance: a fixed time, or a distribution (launch times on EC2 vary: image
 * pull, model download, a slow host).
 */
export type LaunchDelay =
  | { kind: 'fixed'; ms: number }
  /** Log-normal: median `medianMs`, shape `sigma` (the log's standard deviation). */
  | { kind: 'lognormal'; medianMs: number; sigma: number }
  | { kind: 'uniform'; minMs: number; maxMs: number };

/** Longest launch delay any draw may take: a bound, so a heavy tail cannot stall a run. */
export const MAX_LAUNCH_DELAY_MS = 6 * 3_600_000;

function flagError(value: string, what: string): SynktiError {
  return new SynktiError('E_SIM_LAUNCH_DELAY', `--launch-delay ${JSON.stringify(value)}: ${what}`, {
    hint: 'use a duration ("183s"), lognormal:<median>,<sigma> ("lognormal:183s,0.5") or uniform:<min>-<max> ("uniform:60s-600s")',
  });
}

function duration(text: string, value: string): number {
  let ms: number;
  try {
    ms = parseDuration(text.trim(), '--launch-delay');
  } catch {
    throw flagError(value, `"${text}" is not a duration`);
  }
  if (!(ms >= 0) || ms > MAX_LAUNCH_DELAY_MS) throw flagError(value, `${text} must be from 0 to 6 h`);
  return ms;
}

/** Parses `183s`, `lognormal:183s,0.5` or `uniform:60s-600s`; errors name the flag and the fix. */
export function parseLaunchDelay(value: string): LaunchDelay {
  const text = value.trim();
  if (text.startsWith('lognormal:')) {
    const [median, sigma, ...rest] = text.slice('lognormal:'.length).split(',');
    if (median === undefined || sigma === undefined || rest.length > 0) throw flagError(value, 'lognormal needs a median and a sigma');
    const s = Number(sigma);
    if (!Number.isFinite(s) || s < 0 || s > 3) throw flagError(value, `sigma ${sigma} must be a number from 0 to 3`);
    return { kind: 'lognormal', medianMs: duration(median, value), sigma: s };
  }
  if (text.startsWith('uniform:')) {
    const parts = text.slice('uniform:'.length).split('-');
    if (parts.length !== 2) throw flagError(value, 'uniform needs <min>-<max>');
    const minMs = duration(parts[0]!, value);
    const maxMs = duration(parts[1]!, value);
    if (maxMs < minMs) throw flagError(value, 'the maximum is below the minimum');
    return { kind: 'uniform', minMs, maxMs };
  }
  return { kind: 'fixed', ms: duration(text, value) };
}

/** One draw (ms), bounded by MAX_LAUNCH_DELAY_MS. */
export function drawLaunchDelay(delay: LaunchDelay, random: Random): number {
  switch (delay.kind) {
    case 'fixed':
      return delay.ms;
    case 'uniform':
      return delay.minMs + (delay.maxMs - delay.minMs) * random.next();
    case 'lognormal': {
      // Box-Muller: one standard normal from two uniforms (1 - u keeps log away from 0).
      const z = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
      return Math.min(MAX_LAUNCH_DELAY_MS, delay.medianMs * Math.exp(delay.sigma * z));
    }
  }
}

/** The typical delay (fixed, median, or midpoint), for policies and headers. */
export function typicalLaunchDelayMs(delay: LaunchDelay): number {
  return delay.kind === 'fixed' ? delay.ms : delay.kind === 'lognormal' ? delay.medianMs : (delay.minMs + delay.maxMs) / 2;
}

/** `183 s`, `lognormal median 183 s, sigma 0.5`, `uniform 60-600 s`. */
export function describeLaunchDelay(delay: LaunchDelay): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
  return delay.kind === 'fixed'
    ? s(delay.ms)
    : delay.kind === 'lognormal'
      ? `lognormal median ${s(delay.medianMs)}, sigma ${delay.sigma}`
      : `uniform ${(delay.minMs / 1000).toFixed(0)}-${s(delay.maxMs)}`;
}
