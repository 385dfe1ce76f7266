/** A clock that moves only when something sleeps: time-dependent code runs instantly in tests. */
export interface FakeTime {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Every sleep asked for, in order. */
  sleeps: number[];
}

export function fakeTime(start = 1_700_000_000_000): FakeTime {
  let now = start;
  const sleeps: number[] = [];
  return {
    now: () => now,
    sleeps,
    async sleep(ms: number) {
      sleeps.push(ms);
      now += ms;
      // Let other queued work run, as a real timer would.
      await new Promise<void>((resolve) => {
        setImmediate(resolve);
      });
    },
  };
}
