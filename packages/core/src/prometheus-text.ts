/**
 * The one reader of the Prometheus text exposition format (prom-client's and vLLM's
 * /metrics): the dashboard's router counters, the router's engine load and the drain's
 * wait for the workload all read samples through it.
 */

/** One sample of the Prometheus text exposition format. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsePrometheusTextOptions {
  /** Keep only the samples whose metric name passes (checked before labels are parsed: cheap on large pages). @default every sample */
  names?: ((name: string) => boolean) | undefined;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const NAME_END = /[{\s]/;

/** Samples of a Prometheus text page: names, labels, values; comments, timestamps and NaN samples are skipped. */
export function parsePrometheusText(text: string, options: ParsePrometheusTextOptions = {}): PromSample[] {
  const samples: PromSample[] = [];
  const keep = options.names;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (keep) {
      const end = line.search(NAME_END);
      if (!keep(end < 0 ? line : line.slice(0, end))) continue;
    }
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value)) continue;
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}
