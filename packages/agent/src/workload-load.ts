/**
 * How much work a node's model server has in hand, read from its Prometheus metrics the
 * way vLLM exports them (`vllm:num_requests_running` + `vllm:num_requests_waiting`; the
 * stand-in exports the same names). The drain waits on this to reach zero.
 */
import { parseEngineMetrics } from './router/engine-load.ts';

/** Requests running plus waiting in the workload's engine; undefined when it exports neither gauge. */
export function parseWorkloadLoad(metricsText: string): number | undefined {
  const load = parseEngineMetrics(metricsText);
  return load === undefined ? undefined : load.running + load.waiting;
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
