import { rendezvousScore } from '@synkti/core';
import type { MembershipView } from './membership-view.ts';

/**
 * Which nodes list the cloud: the top `listers` members by rendezvous score for the
 * cluster's key, as every node computes from its own view (no election, invariant 1).
 * Scores are memoised per member and the answer is cached per view generation, so the
 * check is cheap at 10,000 members: a node stops counting as soon as `listers` others
 * outscore it.
 */
export class ListerElection {
  private readonly key: string;
  private readonly listers: number;
  private readonly scores: Map<string, bigint>;
  private cachedGeneration = -1;
  private cached = false;

  /** `scores` may be shared by many elections of the same cluster (a score depends only on the id). */
  constructor(cluster: string, listers: number, scores = new Map<string, bigint>()) {
    this.key = `list:${cluster}`;
    this.listers = listers;
    this.scores = scores;
  }

  private score(id: string): bigint {
    let score = this.scores.get(id);
    if (score === undefined) {
      score = rendezvousScore(this.key, id);
      this.scores.set(id, score);
    }
    return score;
  }

  isLister(view: MembershipView): boolean {
    if (view.size <= 1) return true;
    if (view.generation === this.cachedGeneration) return this.cached;
    const mine = this.score(view.selfId);
    let above = 0;
    for (const id of view.ids()) {
      if (id === view.selfId) continue;
      const theirs = this.score(id);
      // Ties (practically impossible) break by id, as rendezvousRank does.
      if (theirs > mine || (theirs === mine && id < view.selfId)) {
        above += 1;
        if (above >= this.listers) break;
      }
    }
    if (this.scores.size > 4 * view.size + 1024) this.scores.clear(); // forget the long dead
    this.cachedGeneration = view.generation;
    this.cached = above < this.listers;
    return this.cached;
  }
}

/**
 * When a node next considers listing the cloud: every interval ± 20 % (jitter keeps
 * listers from calling the API in step after a mass event), a quarter of that when alone.
 */
export function listDelayMs(intervalMs: number, alone: boolean, random: () => number): number {
  const delay = intervalMs * (0.8 + 0.4 * random());
  return alone ? delay / 4 : delay;
}

/** Does this node list now? A rendezvous-chosen lister does; a node alone does, at most every interval / 4. */
export function isListDue(election: ListerElection, view: MembershipView, lastListAt: number, now: number, intervalMs: number): boolean {
  const alone = view.size <= 1;
  return alone ? now - lastListAt >= intervalMs / 4 : election.isLister(view);
}
