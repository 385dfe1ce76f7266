/**
 * A worker count read from a cloud API (ECS DescribeServices), for the coordinator's
 * `workersAlive`: cached for `maxAgeMs` so the API is called a few times a minute however
 * fast generations run, and never throwing (the coordinator reads its metrics after every
 * generation; a failing count must not stop the run). On failure the last count is used
 * while it is younger than `staleAfterMs`, then the count is unknown (undefined), and the
 * CloudWatch sink publishes no BacklogPerWorker point rather than a wrong one.
 */
export interface CachedWorkerCountOptions {
  /** Reuse a count this long. @default 15000 */
  maxAgeMs?: number | undefined;
  /** Use the last count this long after it was read when reading fails. @default 300000 */
  staleAfterMs?: number | undefined;
  /** Told once per failure streak and when it ends. */
  onWarning: (message: string) => void;
  /** @default Date.now */
  clock?: (() => number) | undefined;
}

export function cachedWorkerCount(read: () => Promise<number>, options: CachedWorkerCountOptions): () => Promise<number | undefined> {
  const maxAgeMs = options.maxAgeMs ?? 15_000;
  const staleAfterMs = options.staleAfterMs ?? 300_000;
  const clock = options.clock ?? Date.now;
  let last: { count: number; at: number } | undefined;
  let lastTryAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<number | undefined> | undefined;
  let failing = false;

  const usable = (): number | undefined => (last && clock() - last.at < staleAfterMs ? last.count : undefined);

  const refresh = async (): Promise<number | undefined> => {
    lastTryAt = clock();
    try {
      const count = await read();
      last = { count, at: clock() };
      if (failing) {
        failing = false;
        options.onWarning('worker count: reading it works again');
      }
      return count;
    } catch (error) {
      if (!failing) {
        failing = true;
        options.onWarning(
          `worker count: reading it failed (using the last count for ${Math.round(staleAfterMs / 1000)} s, then publishing no BacklogPerWorker): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      return usable();
    }
  };

  return async () => {
    // One read per maxAgeMs, successful or not: a failing API is not hammered either.
    if (clock() - lastTryAt < maxAgeMs) return inFlight ?? usable();
    inFlight = refresh().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}
