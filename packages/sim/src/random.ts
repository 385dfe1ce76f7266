/**
 * Seeded pseudo-random numbers (xoshiro128**, seeded through splitmix32), so a run is a
 * pure function of its seed: the reference simulator had no seed and could not be repeated.
 */
import { xoshiro128Next, xoshiro128Words } from '@synkti/core/xoshiro128';

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** An independent stream derived from this seed and a label (same label → same stream). */
  fork(label: string): Random;
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createRandom(seed: number): Random {
  // The one xoshiro128** (@synkti/core/xoshiro128), seeded straight from the 32-bit seed.
  const words = xoshiro128Words(seed);
  const nextU32 = (): number => xoshiro128Next(words);
  const random: Random = {
    next: () => nextU32() / 0x1_0000_0000,
    exponential: (mean) => -mean * Math.log(1 - random.next()),
    int: (n) => Math.floor(random.next() * n),
    fork: (label) => createRandom((seed ^ hashLabel(label)) >>> 0),
  };
  return random;
}
