/**
 * A node's request rate for autoscaling on `targetRps`: the router's answered-requests
 * counter read every second, the rate over the last few seconds (a sliding window, so one
 * slow second does not halve it). Gossiped beside the load.
 */
export class RequestRate {
  private readonly read: () => Promise<number | undefined>;
  private readonly windowMs: number;
  private readonly samples: { at: number; total: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  /** `read`: the counter's current total (undefined while unknown). */
  constructor(read: () => Promise<number | undefined>, windowMs = 5000) {
    this.read = read;
    this.windowMs = windowMs;
  }

  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.sample();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async sample(now = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const total = await this.read();
      if (total === undefined) return;
      // A counter that went back (a router re-created) starts the window over.
      if (this.samples.length > 0 && total < this.samples[this.samples.length - 1]!.total) this.samples.length = 0;
      this.samples.push({ at: now, total });
      while (this.samples.length > 2 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
    } catch {
      // Unreadable this second: the last rate stands.
    } finally {
      this.busy = false;
    }
  }

  /** Requests per second over the window; undefined before two samples. */
  value(): number | undefined {
    if (this.samples.length < 2) return undefined;
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    return seconds <= 0 ? undefined : Math.round(((last.total - first.total) / seconds) * 100) / 100;
  }
}

/** The total of a prom-client counter in `registry` (all label sets), or undefined when it is not registered. */
export async function counterTotal(
  registry:
    | { getSingleMetric(name: string): { get(): Promise<{ values: { value: number }[] }> | { values: { value: number }[] } } | undefined }
    | undefined,
  name: string,
): Promise<number | undefined> {
  const metric = registry?.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}
