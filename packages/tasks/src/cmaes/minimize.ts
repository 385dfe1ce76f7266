import { CmaEs, type CmaEsOptions } from './cma-es.ts';
import type { Objective } from './objectives.ts';

export interface MinimizeOptions extends CmaEsOptions {
  /** Stop after this many evaluations. @default 1e4 × dimension */
  maxEvaluations?: number | undefined;
  /** Stop once the best fitness is below this. @default none */
  targetF?: number | undefined;
}

export interface MinimizeResult {
  bestF: number;
  bestX: number[];
  evaluations: number;
  generations: number;
  stopReason: string;
}

/** Runs CMA-ES on one machine: the reference result a distributed run must reproduce. */
export function minimize(objective: Objective, options: MinimizeOptions): MinimizeResult {
  const cma = CmaEs.create(options);
  const maxEvaluations = options.maxEvaluations ?? 10_000 * options.dimension;
  let stopReason: string | undefined;
  for (;;) {
    if (options.targetF !== undefined && cma.bestF < options.targetF) {
      stopReason = 'targetf';
      break;
    }
    if (cma.evaluations >= maxEvaluations) {
      stopReason = 'maxevals';
      break;
    }
    stopReason = cma.stopReason();
    if (stopReason) break;
    cma.tell(cma.ask().map((x) => objective(x)));
  }
  return { bestF: cma.bestF, bestX: cma.bestX, evaluations: cma.evaluations, generations: cma.generation, stopReason };
}
