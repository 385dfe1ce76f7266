// The parser has one home (@synkti/core/prometheus-text); the dashboard reads router counters from its samples.
import { parsePrometheusText, type PromSample } from '@synkti/core/prometheus-text';

export { parsePrometheusText, type PromSample };

/** Cumulative router counters of one agent, read from its /metrics. */
export interface RouterCounters {
  requests: number;
  /** Requests answered with a 5xx status. */
  errors: number;
  /** Histogram buckets of request duration: upper bound in seconds → cumulative count. */
  buckets: Map<number, number>;
}

/** The router counters in an agent's metrics; undefined when it runs no router. */
export function routerCounters(samples: PromSample[]): RouterCounters | undefined {
  let seen = false;
  let requests = 0;
  let errors = 0;
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name === 'synkti_router_requests_total') {
      seen = true;
      requests += s.value;
      if (Number(s.labels.code) >= 500) errors += s.value;
    } else if (s.name === 'synkti_router_request_duration_seconds_bucket' && s.labels.le !== undefined) {
      seen = true;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    }
  }
  return seen ? { requests, errors, buckets } : undefined;
}

/**
 * The q-quantile of a cumulative histogram (Prometheus' histogram_quantile: linear
 * interpolation inside the bucket). Undefined with no observations. A quantile that falls
 * in the +Inf bucket answers the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      if (count === prevCount) return bound;
      return prevBound + (bound - prevBound) * ((rank - prevCount) / (count - prevCount));
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
