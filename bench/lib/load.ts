/** One closed-loop HTTP load run with autocannon, reduced to the numbers the reports need. */
import autocannon from 'autocannon';

export interface LoadResult {
  /** Mean requests per second over the run (2xx and others alike). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  total: number;
}

export async function runLoad(url: string, options: { connections: number; durationS: number }): Promise<LoadResult> {
  const instance = autocannon({ url, connections: options.connections, duration: options.durationS, pipelining: 1, timeout: 10 });
  const result = await instance;
  const total = result.requests.total ?? 0;
  return {
    rps: total / (result.duration || options.durationS),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    total,
  };
}
