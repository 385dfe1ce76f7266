/**
 * How much work a node's model server has in hand, read from its Prometheus metrics the
 * way vLLM exports them (`vllm:num_requests_running` + `vllm:num_requests_waiting`; the
 * stand-in exports the same names). The drain waits on this to reach zero.
 */
const GAUGES = ['vllm:num_requests_running', 'vllm:num_requests_waiting'];

export function parseWorkloadLoad(metricsText: string): number | undefined {
  let total = 0;
  let seen = false;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue;
    const name = line.split(/[{\s]/, 1)[0];
    if (!name || !GAUGES.includes(name)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      total += value;
      seen = true;
    }
  }
  return seen ? total : undefined;
}

/** The workload's in-flight requests, or undefined when its metrics cannot be read. */
export async function readWorkloadLoad(baseUrl: string, timeoutMs = 1000): Promise<number | undefined> {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return parseWorkloadLoad(await response.text());
  } catch {
    return undefined;
  }
}
