import { munkres } from 'munkres';
import { SynktiError } from '@synkti/core';

/** A workload that must move (its instance got a notice). */
export interface DisplacedWorkload {
  id: string;
  /** Model (or data set) it needs loaded. */
  model: string;
  /** Bytes to transfer when the target does not hold the model. */
  modelGb: number;
  zone: string;
  region: string;
}

/** An instance that could take a workload. */
export interface CandidateInstance {
  id: string;
  zone: string;
  region: string;
  usdPerHour: number;
  /** Models already on its disk (warm cache: no transfer). */
  cachedModels: readonly string[];
}

export interface AssignmentCostOptions {
  /** Transfer rate within a zone, GB/s. @default 1.25 (10 Gbit/s) */
  sameZoneGbPerSecond?: number;
  /** Across zones of one region, GB/s. @default 0.625 */
  crossZoneGbPerSecond?: number;
  /** Across regions, GB/s. @default 0.125 */
  crossRegionGbPerSecond?: number;
  /** Loading a model from local disk into the GPU, seconds. @default 30 */
  loadSeconds?: number;
  /** What one second without the workload costs, USD (lost service or idle workers). @default 0.01 */
  downtimeUsdPerSecond?: number;
  /** Hours the workload is expected to stay on its new instance (weights the price). @default 1 */
  expectedHours?: number;
  /** USD per GB moved across zones / regions (AWS data transfer). @default 0.01 / 0.02 */
  crossZoneUsdPerGb?: number;
  crossRegionUsdPerGb?: number;
}

/** Seconds until the workload runs on the candidate: transfer (unless cached) + load. */
export function startupSeconds(w: DisplacedWorkload, c: CandidateInstance, o: AssignmentCostOptions = {}): number {
  const load = o.loadSeconds ?? 30;
  if (c.cachedModels.includes(w.model)) return load;
  const rate =
    c.zone === w.zone
      ? (o.sameZoneGbPerSecond ?? 1.25)
      : c.region === w.region
        ? (o.crossZoneGbPerSecond ?? 0.625)
        : (o.crossRegionGbPerSecond ?? 0.125);
  return w.modelGb / rate + load;
}

/** USD cost of putting workload `w` on candidate `c`: price over the expected stay + downtime + data transfer. */
export function assignmentCost(w: DisplacedWorkload, c: CandidateInstance, o: AssignmentCostOptions = {}): number {
  const startup = startupSeconds(w, c, o);
  const cached = c.cachedModels.includes(w.model);
  const transferUsd =
    cached || c.zone === w.zone ? 0 : w.modelGb * (c.region === w.region ? (o.crossZoneUsdPerGb ?? 0.01) : (o.crossRegionUsdPerGb ?? 0.02));
  return c.usdPerHour * (o.expectedHours ?? 1) + startup * (o.downtimeUsdPerSecond ?? 0.01) + transferUsd;
}

export function buildCostMatrix(
  workloads: readonly DisplacedWorkload[],
  candidates: readonly CandidateInstance[],
  options: AssignmentCostOptions = {},
): number[][] {
  return workloads.map((w) => candidates.map((c) => assignmentCost(w, c, options)));
}

export interface Assignment {
  /** [workload index, candidate index] pairs; workloads left over when there are fewer candidates are absent. */
  pairs: [number, number][];
  totalCost: number;
}

function validate(matrix: readonly (readonly number[])[]): void {
  const width = matrix[0]?.length ?? 0;
  for (const [i, row] of matrix.entries()) {
    if (row.length !== width) throw new SynktiError('E_SIM_MATRIX', `cost matrix row ${i} has ${row.length} entries, row 0 has ${width}`);
    for (const [j, value] of row.entries()) {
      if (!Number.isFinite(value))
        throw new SynktiError('E_SIM_MATRIX', `cost matrix entry [${i}][${j}] is ${value}`, {
          hint: 'leave impossible pairs out of the candidates, or give them a large finite cost',
        });
    }
  }
}

function total(matrix: readonly (readonly number[])[], pairs: [number, number][]): number {
  return pairs.reduce((sum, [i, j]) => sum + matrix[i]![j]!, 0);
}

/**
 * Minimum-cost assignment (Hungarian algorithm, `munkres` package, which minimises).
 * Each workload gets at most one candidate and each candidate at most one workload;
 * min(N, M) pairs are made.
 */
export function solveAssignment(matrix: readonly (readonly number[])[]): Assignment {
  validate(matrix);
  if (matrix.length === 0 || matrix[0]!.length === 0) return { pairs: [], totalCost: 0 };
  const pairs = munkres(matrix)
    .map(([i, j]) => [i, j] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  return { pairs, totalCost: total(matrix, pairs) };
}

/** Greedy baseline: repeatedly take the cheapest remaining pair. */
export function greedyAssignment(matrix: readonly (readonly number[])[]): Assignment {
  validate(matrix);
  const entries: [number, number, number][] = [];
  matrix.forEach((row, i) => row.forEach((value, j) => entries.push([value, i, j])));
  entries.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const rows = new Set<number>();
  const cols = new Set<number>();
  const pairs: [number, number][] = [];
  for (const [, i, j] of entries) {
    if (rows.has(i) || cols.has(j)) continue;
    rows.add(i);
    cols.add(j);
    pairs.push([i, j]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { pairs, totalCost: total(matrix, pairs) };
}

/** Exhaustive search over every assignment of min(N, M) pairs (for tests; small matrices only). */
export function bruteForceAssignment(matrix: readonly (readonly number[])[]): Assignment {
  validate(matrix);
  const n = matrix.length;
  const m = matrix[0]?.length ?? 0;
  if (n > 8 || m > 8) throw new SynktiError('E_SIM_MATRIX', `brute force is for matrices up to 8x8 (got ${n}x${m})`);
  const k = Math.min(n, m);
  let best: Assignment = { pairs: [], totalCost: k === 0 ? 0 : Number.POSITIVE_INFINITY };
  const usedCols = new Set<number>();
  const current: [number, number][] = [];
  const visit = (row: number, skipsLeft: number, cost: number): void => {
    if (current.length === k) {
      if (cost < best.totalCost) best = { pairs: current.map((p) => [p[0], p[1]] as [number, number]), totalCost: cost };
      return;
    }
    if (row >= n) return;
    for (let j = 0; j < m; j++) {
      if (usedCols.has(j)) continue;
      usedCols.add(j);
      current.push([row, j]);
      visit(row + 1, skipsLeft, cost + matrix[row]![j]!);
      current.pop();
      usedCols.delete(j);
    }
    if (skipsLeft > 0) visit(row + 1, skipsLeft - 1, cost);
  };
  visit(0, n - k, 0);
  return best;
}
