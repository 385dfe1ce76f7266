import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignmentCost,
  bruteForceAssignment,
  buildCostMatrix,
  greedyAssignment,
  solveAssignment,
  startupSeconds,
  type CandidateInstance,
  type DisplacedWorkload,
} from './assignment.ts';
import { createRandom } from './random.ts';

const MODELS = ['llama-7b', 'qwen-7b', 'mistral-7b'];
const ZONES = [
  { zone: 'us-east-1a', region: 'us-east-1' },
  { zone: 'us-east-1c', region: 'us-east-1' },
  { zone: 'us-west-2a', region: 'us-west-2' },
];

/** Random but realistic instances: different zones, regions, prices and warm caches. */
function scenario(seed: number, n: number, m: number): { workloads: DisplacedWorkload[]; candidates: CandidateInstance[] } {
  const r = createRandom(seed);
  const workloads = Array.from({ length: n }, (_, i) => ({
    id: `w${i}`,
    model: MODELS[r.int(MODELS.length)]!,
    modelGb: 5 + r.int(20),
    ...ZONES[r.int(ZONES.length)]!,
  }));
  const candidates = Array.from({ length: m }, (_, j) => ({
    id: `c${j}`,
    ...ZONES[r.int(ZONES.length)]!,
    usdPerHour: r.next() < 0.7 ? 0.9 + r.next() * 0.3 : 3.06,
    cachedModels: MODELS.filter(() => r.next() < 0.3),
  }));
  return { workloads, candidates };
}

describe('assignment solver', () => {
  it('costs differ by transfer time, price and warm cache', () => {
    const w: DisplacedWorkload = { id: 'w', model: 'llama-7b', modelGb: 14, zone: 'us-east-1a', region: 'us-east-1' };
    const warm: CandidateInstance = { id: 'a', zone: 'us-west-2a', region: 'us-west-2', usdPerHour: 0.92, cachedModels: ['llama-7b'] };
    const sameZone: CandidateInstance = { id: 'b', zone: 'us-east-1a', region: 'us-east-1', usdPerHour: 0.92, cachedModels: [] };
    const otherRegion: CandidateInstance = { id: 'c', zone: 'us-west-2a', region: 'us-west-2', usdPerHour: 0.92, cachedModels: [] };
    const onDemand: CandidateInstance = { ...warm, id: 'd', usdPerHour: 3.06 };
    assert.equal(startupSeconds(w, warm), 30);
    assert.ok(startupSeconds(w, sameZone) < startupSeconds(w, otherRegion));
    assert.ok(assignmentCost(w, warm) < assignmentCost(w, sameZone));
    assert.ok(assignmentCost(w, sameZone) < assignmentCost(w, otherRegion));
    assert.ok(assignmentCost(w, warm) < assignmentCost(w, onDemand));
  });

  it('minimises (not maximises): beats greedy where greedy is trapped', () => {
    // Greedy takes the 1 first and is forced into the 100; the optimum is 2 + 3.
    const matrix = [
      [1, 2],
      [3, 100],
    ];
    assert.equal(greedyAssignment(matrix).totalCost, 101);
    const best = solveAssignment(matrix);
    assert.equal(best.totalCost, 5);
    assert.deepEqual(best.pairs, [
      [0, 1],
      [1, 0],
    ]);
  });

  it('handles more candidates than workloads and more workloads than candidates', () => {
    const { workloads, candidates } = scenario(1, 3, 6);
    const wide = buildCostMatrix(workloads, candidates);
    assert.equal(solveAssignment(wide).pairs.length, 3);
    const tall = buildCostMatrix(scenario(2, 5, 2).workloads, scenario(2, 5, 2).candidates);
    const solved = solveAssignment(tall);
    assert.equal(solved.pairs.length, 2);
    assert.equal(solved.totalCost, bruteForceAssignment(tall).totalCost);
    assert.deepEqual(solveAssignment([]), { pairs: [], totalCost: 0 });
    assert.throws(() => solveAssignment([[1, Number.NaN]]), { code: 'E_SIM_MATRIX' });
  });

  it('property: never worse than greedy, equal to brute force, on 300 seeded random matrices up to 6x7', () => {
    let greedyWorse = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = createRandom(seed * 7919);
      const n = 1 + r.int(6);
      const m = 1 + r.int(7);
      const { workloads, candidates } = scenario(seed, n, m);
      const matrix = buildCostMatrix(workloads, candidates);
      const solved = solveAssignment(matrix);
      const greedy = greedyAssignment(matrix);
      const brute = bruteForceAssignment(matrix);
      assert.equal(solved.pairs.length, Math.min(n, m));
      assert.equal(new Set(solved.pairs.map((p) => p[1])).size, solved.pairs.length, 'each candidate used once');
      assert.ok(solved.totalCost <= greedy.totalCost + 1e-9, `seed ${seed}: ${solved.totalCost} > greedy ${greedy.totalCost}`);
      assert.ok(Math.abs(solved.totalCost - brute.totalCost) < 1e-9, `seed ${seed}: ${solved.totalCost} != brute force ${brute.totalCost}`);
      if (greedy.totalCost > solved.totalCost + 1e-9) greedyWorse++;
    }
    // The matrices are not trivial: greedy is beaten on some of them.
    assert.ok(greedyWorse > 10, `greedy was worse on only ${greedyWorse} matrices`);
  });
});
