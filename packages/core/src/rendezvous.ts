import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing: every node that holds the same candidate
 * set computes the same ranking for a key, with no coordination (docs/architecture.md invariant 1).
 * When a candidate leaves, only the keys it ranked first move.
 */
export function rendezvousScore(key: string, candidate: string): bigint {
  const digest = createHash('sha256').update(key).update('\0').update(candidate).digest();
  return digest.readBigUInt64BE(0);
}

/** Candidates ranked for `key`, best first. Ties (practically impossible) break by id. */
export function rendezvousRank(key: string, candidates: Iterable<string>): string[] {
  const scored = [...new Set(candidates)].map((id) => ({ id, score: rendezvousScore(key, id) }));
  scored.sort((a, b) => (a.score === b.score ? (a.id < b.id ? -1 : 1) : a.score > b.score ? -1 : 1));
  return scored.map((entry) => entry.id);
}

/** The top `k` candidates for `key`. */
export function rendezvousPick(key: string, candidates: Iterable<string>, k = 1): string[] {
  return rendezvousRank(key, candidates).slice(0, Math.max(0, k));
}
