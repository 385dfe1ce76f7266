/**
 * xoshiro128** (Blackman & Vigna) on four uint32 words, seeded through splitmix32: the one
 * generator behind the simulator's seeded runs and CMA-ES's serialisable random source.
 * Plain numbers only, so a state written as JSON and read back continues the same sequence.
 */

/** splitmix32: a stream of uint32 from one 32-bit seed (used to fill the four words). */
export function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Four words from a seed, never all zero (xoshiro's one forbidden state). */
export function xoshiro128Words(seed: number): [number, number, number, number] {
  const next = splitmix32(seed);
  const words: [number, number, number, number] = [next(), next(), next(), next()];
  if (words.every((w) => w === 0)) words[0] = 1;
  return words;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One step of xoshiro128**: advances `s` in place and returns the next uint32. */
export function xoshiro128Next(s: [number, number, number, number]): number {
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
