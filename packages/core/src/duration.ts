import { SynktiError } from './errors.ts';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
};

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i;

/** True when `text` reads as a duration such as "30 seconds", "5s", "250ms", "2 minutes". */
export function isDurationText(text: string): boolean {
  const match = DURATION_PATTERN.exec(text);
  return match !== null && UNIT_MS[match[2]!.toLowerCase()] !== undefined;
}

/**
 * Durations are accepted as text at the edges ("30 seconds", "5s", "250ms") or as a
 * number of milliseconds, and stored as milliseconds.
 */
export function parseDuration(value: string | number, field = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new SynktiError('E_DURATION', `${field}: ${value} is not a non-negative number of milliseconds`, {
      hint: 'write a duration like "30 seconds", "5s" or "250ms"',
    });
  }
  const match = DURATION_PATTERN.exec(value);
  const unit = match ? UNIT_MS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new SynktiError('E_DURATION', `${field}: "${value}" is not a duration`, {
      hint: 'write a duration like "30 seconds", "5s", "2 minutes" or "250ms"',
    });
  }
  return Math.round(Number(match[1]) * unit);
}

/** Short human form for output: 950ms, 12.3s, 4m05s, 2h10m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (ms < 3_600_000) return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, '0')}s`;
  const minutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
