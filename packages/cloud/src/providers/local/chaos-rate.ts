import { SynktiError } from '@synkti/core/errors';

// Its own file, with only the errors module imported, so the CLI can parse --chaos-rate
// without loading the cloud package.

/** Parses "6/h", "1/min", "0.5/m", "3" (per hour). */
export function parseChaosRate(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(h|hr|hour|m|min|minute))?\s*$/i.exec(text);
  if (!match)
    throw new SynktiError('E_CHAOS', `"${text}" is not a chaos rate`, {
      hint: 'write interruptions per instance per hour or minute, e.g. 6/h or 1/min',
    });
  const value = Number(match[1]);
  const unit = (match[2] ?? 'h').toLowerCase();
  return unit.startsWith('m') ? value * 60 : value;
}
