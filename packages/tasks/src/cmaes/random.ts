/**
 * A seeded, serialisable random source: xoshiro128** (Blackman & Vigna) on uint32
 * words, seeded through splitmix32, and normal deviates by the Box–Muller transform
 * with the spare deviate kept in the state. Everything is plain numbers, so a state
 * written as JSON and read back continues the exact same sequence.
 */
import { SynktiError } from '@synkti/core';
import { xoshiro128Next, xoshiro128Words } from '@synkti/core/xoshiro128';

export interface RandomState {
  words: [number, number, number, number];
  /** The second Box–Muller deviate, not yet used. */
  spare: number | null;
}

export class SeededRandom {
  private readonly s: [number, number, number, number];
  private spare: number | null;

  private constructor(state: RandomState) {
    this.s = [...state.words];
    this.spare = state.spare;
  }

  static fromSeed(seed: number): SeededRandom {
    if (!Number.isSafeInteger(seed)) {
      throw new SynktiError('E_CMAES_OPTIONS', `seed must be a whole number, got ${String(seed)}`, { hint: 'pass e.g. --seed 42' });
    }
    // Mix both halves of a 53-bit seed so nearby seeds give unrelated streams.
    return new SeededRandom({ words: xoshiro128Words((seed % 0x100000000) ^ (Math.floor(seed / 0x100000000) * 0x9e3779b1)), spare: null });
  }

  static restore(state: RandomState): SeededRandom {
    const ok =
      Array.isArray(state?.words) &&
      state.words.length === 4 &&
      state.words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) &&
      state.words.some((w) => w !== 0) &&
      (state.spare === null || Number.isFinite(state.spare));
    if (!ok) throw new SynktiError('E_CMAES_STATE', 'the random generator state is damaged', { hint: 'resume from an intact checkpoint' });
    return new SeededRandom(state);
  }

  toState(): RandomState {
    return { words: [...this.s], spare: this.spare };
  }

  nextUint32(): number {
    return xoshiro128Next(this.s);
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }

  /** Standard normal deviate. */
  nextGaussian(): number {
    if (this.spare !== null) {
      const value = this.spare;
      this.spare = null;
      return value;
    }
    let u = 0;
    while (u === 0) u = this.nextDouble();
    const v = this.nextDouble();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }
}
