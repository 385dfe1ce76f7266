/**
 * Parsers for command-line option values, shared by every command so that the same kind
 * of value is accepted, and refused, the same way everywhere. Each returns a commander
 * argument parser that throws `InvalidArgumentError` with what was expected; commander
 * prefixes the option's name.
 *
 * Light imports only: program.ts loads this file for `synkti --help`.
 */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '@synkti/core/duration';
import { parseChaosRate } from '@synkti/cloud/chaos-rate';

/** A whole number in [min, max] (a leading "-" is accepted only when min < 0). */
export function wholeNumberOption(min: number, max: number): (value: string) => number {
  const shape = min < 0 ? /^\s*-?\d+\s*$/ : /^\s*\d+\s*$/;
  return (value) => {
    const n = Number(value);
    if (!shape.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A number > 0 (fractions allowed). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number, e.g. 0.5');
  return n;
}

/** A number ≥ 0 (fractions allowed). */
export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0, e.g. 0.2');
  return n;
}

export interface DurationOptionSettings {
  /** Refuse zero (a timeout or interval of 0 means nothing useful). @default false */
  positive?: boolean;
  /** Examples shown in the error, in the option's own scale. @default '"30s", "2 minutes" or "500ms"' */
  examples?: string;
}

/** A duration in words or units ("30s", "2 minutes", "500ms"), returned in milliseconds. */
export function durationOption(settings: DurationOptionSettings = {}): (value: string) => number {
  const examples = settings.examples ?? '"30s", "2 minutes" or "500ms"';
  const expected = `expected a ${settings.positive ? 'positive ' : ''}duration such as ${examples}`;
  return (value) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch {
      throw new InvalidArgumentError(expected);
    }
    if (settings.positive && ms <= 0) throw new InvalidArgumentError(expected);
    return ms;
  };
}

/** Random spot interruptions per instance per hour ("6/h", "1/min", "0" = off). */
export function chaosRateOption(value: string): number {
  try {
    return parseChaosRate(value);
  } catch {
    throw new InvalidArgumentError('expected interruptions per instance per hour or minute, e.g. 6/h or 1/min');
  }
}

/** A repeatable option: each occurrence appends its value (works with or without a [] default). */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
