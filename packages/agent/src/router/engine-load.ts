/**
 * An inference engine's own view of its load, read from its Prometheus metrics under vLLM's
 * names (the stand-in exports the same): requests generating, requests queued in the
 * engine's scheduler, and KV-cache use. Each node scrapes its own engine and gossips the
 * result; routers use it to send a request where it will wait least.
 */
import { parsePrometheusText } from '@synkti/core/prometheus-text';

/** What an engine reports about its scheduler. Values from peers are bounded by the gossip schema. */
export interface EngineLoad {
  /** `vllm:num_requests_running`: requests in the engine's batch. */
  running: number;
  /** `vllm:num_requests_waiting`: requests queued behind the batch. */
  waiting: number;
  /** `vllm:kv_cache_usage_perc` (or the older `vllm:gpu_cache_usage_perc`), 0..1, when exported. */
  kvCacheUsage?: number;
}

/** Largest metrics page read (vLLM's histograms make it tens of KiB). */
const MAX_METRICS_BYTES = 1024 * 1024;

/**
 * The engine load in a Prometheus text page; undefined when it has neither the running nor
 * the waiting gauge (a workload that exports no engine metrics). Several series of a gauge
 * (one per model) are summed; KV-cache use takes the highest.
 */
export function parseEngineMetrics(text: string): EngineLoad | undefined {
  let running = 0;
  let waiting = 0;
  let kv: number | undefined;
  let seen = false;
  for (const { name, value } of parsePrometheusText(text, { names: (n) => n.startsWith('vllm:') })) {
    if (!Number.isFinite(value) || value < 0) continue;
    if (name === 'vllm:num_requests_running') {
      running += value;
      seen = true;
    } else if (name === 'vllm:num_requests_waiting') {
      waiting += value;
      seen = true;
    } else if (name === 'vllm:kv_cache_usage_perc' || name === 'vllm:gpu_cache_usage_perc') {
      kv = Math.max(kv ?? 0, Math.min(1, value));
    }
  }
  if (!seen) return undefined;
  return kv === undefined ? { running, waiting } : { running, waiting, kvCacheUsage: kv };
}

/** Scrapes `<baseUrl>/metrics`; undefined when it cannot be read or holds no engine gauges. */
export async function scrapeEngineLoad(baseUrl: string, timeoutMs = 500): Promise<EngineLoad | undefined> {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_METRICS_BYTES) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    return text.length > MAX_METRICS_BYTES ? undefined : parseEngineMetrics(text);
  } catch {
    return undefined;
  }
}
