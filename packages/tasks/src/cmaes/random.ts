/**
 * A seeded, serialisable random source: xoshiro128** (Blackman & Vigna) on uint32
 * words, seeded through splitmix32, and normal deviates by the Box–Muller transform
 * with the spare deviate kept in the state. Everything is plain numbers, so a state
 * written as JSON and read back continues the exact same sequence.
 */
import { SynktiError } from '@synkti/core';

export interface RandomState {
  words: [number, number, number, number];
  /** The second Box–Muller deviate, not yet used. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
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
    const next = splitmix32((seed % 0x100000000) ^ Math.floor(seed / 0x100000000) * 0x9e3779b1);
    const words: [number, number, number, number] = [next(), next(), next(), next()];
    if (words.every((w) => w === 0)) words[0] = 1;
    return new SeededRandom({ words, spare: null });
  }

  static restore(state: RandomState): SeededRandom {
    const ok = Array.isArray(state?.words) && state.words.length === 4
      && state.words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) && state.words.some((w) => w !== 0)
      && (state.spare === null || Number.isFinite(state.spare));
    if (!ok) throw new SynktiError('E_CMAES_STATE', 'the random generator state is damaged', { hint: 'resume from an intact checkpoint' });
    return new SeededRandom(state);
  }

  toState(): RandomState {
    return { words: [...this.s], spare: this.spare };
  }

  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] = (s[2] ^ s[0]) >>> 0;
    s[3] = (s[3] ^ s[1]) >>> 0;
    s[1] = (s[1] ^ s[2]) >>> 0;
    s[0] = (s[0] ^ s[3]) >>> 0;
    s[2] = (s[2] ^ t) >>> 0;
    s[3] = rotl(s[3], 11);
    return result;
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
