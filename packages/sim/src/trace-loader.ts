import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SynktiError } from '@synkti/core';

/**
 * How a trace's values are read:
 * - `availability`: a probe of one instance per tick (1 = one could be had). It says
 *   whether the zone had capacity, not how much: ≥ 1 means "has capacity".
 * - `preemption`: how many of a group were alive; read as the zone's capacity for us.
 */
export type TraceKind = 'availability' | 'preemption';

export interface ZoneTrace {
  zone: string;
  file: string;
  kind: TraceKind;
  gapMs: number;
  values: number[];
}

export interface TraceSet {
  dir: string;
  kind: TraceKind;
  gapMs: number;
  /** Zones sorted by name. */
  zones: ZoneTrace[];
  /** Length covered by every zone (the shortest trace). */
  durationMs: number;
}

export interface LoadTracesOptions {
  /** How to read the values; default: `preemption` when the directory name says so, else `availability`. */
  kind?: TraceKind;
}

/** Loads every `<zone>.json` in a directory, validated; errors name the file and line. */
export async function loadTraceDir(dir: string, options: LoadTracesOptions = {}): Promise<TraceSet> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  } catch (error) {
    throw new SynktiError('E_SIM_TRACES', `cannot read the trace directory ${dir}`, {
      cause: error,
      hint: 'pass --traces <dir> with one <zone>.json per zone (see packages/sim/data/)',
    });
  }
  if (names.length === 0) {
    throw new SynktiError('E_SIM_TRACES', `no <zone>.json trace files in ${dir}`, {
      hint: 'pass a directory such as packages/sim/data/availability-aws-v100-2023-02',
    });
  }
  const kind = options.kind ?? (/preempt/i.test(basename(dir)) ? 'preemption' : 'availability');
  const zones: ZoneTrace[] = [];
  for (const name of names) {
    const file = join(dir, name);
    zones.push(parseTrace(await readFile(file, 'utf8'), file, kind));
  }
  const first = zones[0]!;
  for (const zone of zones) {
    if (zone.gapMs !== first.gapMs) {
      throw new SynktiError(
        'E_SIM_TRACES',
        `${zone.file}: gap_seconds ${zone.gapMs / 1000} differs from ${first.file} (${first.gapMs / 1000})`,
        {
          hint: 'every zone of one run must be sampled at the same interval; keep such files in separate directories',
        },
      );
    }
  }
  const durationMs = Math.min(...zones.map((z) => z.values.length)) * first.gapMs;
  return { dir, kind, gapMs: first.gapMs, zones, durationMs };
}

/**
 * The same traces restricted to some zones (a zone subset, for what-ifs: fewer zones, or
 * one region); errors name the zone that has no trace.
 */
export function selectZones(set: TraceSet, zones: readonly string[]): TraceSet {
  const picked = set.zones.filter((z) => zones.includes(z.zone));
  for (const zone of zones) {
    if (!set.zones.some((z) => z.zone === zone)) {
      throw new SynktiError('E_SIM_ZONE', `zone ${zone} has no trace in ${set.dir}`, {
        hint: `use some of ${set.zones.map((z) => z.zone).join(', ')}`,
      });
    }
  }
  if (picked.length === 0)
    throw new SynktiError('E_SIM_ZONE', 'no zone selected', { hint: `use some of ${set.zones.map((z) => z.zone).join(', ')}` });
  return { ...set, zones: picked, durationMs: Math.min(...picked.map((z) => z.values.length)) * set.gapMs };
}

/** A window of the traces: `durationMs` from `fromMs` (whole ticks), every zone shifted to start at 0. */
export function sliceTraces(set: TraceSet, fromMs: number, durationMs: number): TraceSet {
  const from = Math.max(0, Math.floor(fromMs / set.gapMs));
  const ticks = Math.max(1, Math.ceil(durationMs / set.gapMs));
  const zones = set.zones.map((z) => ({ ...z, values: z.values.slice(from, from + ticks) }));
  if (zones.some((z) => z.values.length === 0)) {
    throw new SynktiError('E_SIM_DURATION', `window from ${fromMs} ms is past the end of the traces in ${set.dir}`, {
      hint: `start before ${set.durationMs} ms`,
    });
  }
  return { ...set, zones, durationMs: Math.min(...zones.map((z) => z.values.length)) * set.gapMs };
}

/** Parses and validates one trace file's text. */
export function parseTrace(text: string, file: string, kind: TraceKind): ZoneTrace {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(String((error as Error).message));
    const where = position ? ` at line ${lineOf(text, Number(position[1]))}` : '';
    throw new SynktiError('E_SIM_TRACE_FORMAT', `${file}${where}: not valid JSON (${(error as Error).message})`, {
      cause: error,
      hint: 'a trace is {"metadata": {"gap_seconds": N}, "data": [n0, n1, ...]}',
    });
  }
  const fail = (line: number, what: string): never => {
    throw new SynktiError('E_SIM_TRACE_FORMAT', `${file}:${line}: ${what}`, {
      hint: 'a trace is {"metadata": {"gap_seconds": N}, "data": [n0, n1, ...]} with whole numbers ≥ 0',
    });
  };
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(1, 'expected a JSON object');
  const object = parsed as { metadata?: { gap_seconds?: unknown }; data?: unknown };
  const gap = object.metadata?.gap_seconds;
  if (typeof gap !== 'number' || !Number.isFinite(gap) || gap <= 0) {
    fail(
      lineOf(text, Math.max(0, text.indexOf('"metadata"'))),
      `metadata.gap_seconds must be a positive number (got ${JSON.stringify(gap)})`,
    );
  }
  const data = object.data;
  if (!Array.isArray(data) || data.length === 0) fail(lineOf(text, Math.max(0, text.indexOf('"data"'))), 'data must be a non-empty array');
  const values = data as unknown[];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      fail(lineOf(text, positionOfDataIndex(text, i)), `data[${i}] must be a whole number ≥ 0 (got ${JSON.stringify(value)})`);
    }
  }
  const zone = basename(file).replace(/\.json$/, '');
  return { zone, file, kind, gapMs: Math.round((gap as number) * 1000), values: values as number[] };
}

function lineOf(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Where element `index` of the top-level "data" array starts (best effort, for messages). */
function positionOfDataIndex(text: string, index: number): number {
  const key = text.indexOf('"data"');
  let i = text.indexOf('[', key);
  if (key < 0 || i < 0) return 0;
  let depth = 0;
  let element = 0;
  let inString = false;
  for (i = i + 1; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (element === index && depth === 0 && ch !== ' ' && ch !== '\n' && ch !== '\r' && ch !== '\t') return i;
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') {
      if (depth === 0) return i;
      depth--;
    } else if (ch === ',' && depth === 0) element++;
  }
  return text.length;
}

/** Capacity the zone offers at `timeMs` (Infinity = "has capacity, amount unknown"). */
export function capacityAt(trace: ZoneTrace, timeMs: number, perAvailable = Number.POSITIVE_INFINITY): number {
  const tick = Math.min(trace.values.length - 1, Math.max(0, Math.floor(timeMs / trace.gapMs)));
  const value = trace.values[tick]!;
  if (trace.kind === 'preemption') return value;
  return value > 0 ? perAvailable : 0;
}
