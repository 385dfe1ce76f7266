/**
 * CMA-ES with restarts (IPOP, BIPOP) and the stopping criteria that trigger them.
 *
 * Rastrigin 10-D, shifted by a random offset in [−3, 3]¹⁰ (so the start x0 = 0 is not the
 * optimum), σ0 = 2, restarts drawn in [−4, 4]¹⁰: BBOB's set-up. Published BIPOP-CMA-ES
 * solves it at 10-D (Hansen 2009); one run with the default λ reaches 1e-8 in 0 of 15.
 * This test runs 3 seeds (about 5 s each on a loaded 2-core machine) and needs all 3;
 * `npm run bench -- cmaes-restarts` runs 15 and reports the evaluations of each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { CmaEs } from './cma-es.ts';
import { shiftedRastrigin, type Objective } from './objectives.ts';
import { SeededRandom } from './random.ts';
import { CmaEsRestarts } from './restarts.ts';

function runToEnd(optimizer: CmaEsRestarts, f: Objective): void {
  // Bounded: maxEvaluations ends every run.
  while (!optimizer.stopReason()) optimizer.tell(optimizer.ask().map((x) => f(x)));
}

const sphere = (x: readonly number[]): number => x.reduce((a, b) => a + b * b, 0);

describe('CMA-ES stopping criteria (Hansen 2009)', () => {
  const until = (f: Objective, options: Parameters<typeof CmaEs.create>[0]): string | undefined => {
    const cma = CmaEs.create(options);
    let reason: string | undefined;
    while (!(reason = cma.stopReason()) && cma.generation < 5000) cma.tell(cma.ask().map((x) => f(x)));
    return reason;
  };

  it('a flat objective stops on tolfun, a step function on equalfunvalues, pure noise on stagnation', () => {
    assert.equal(
      until(() => 1, { dimension: 3, seed: 1 }),
      'tolfun',
    );
    assert.equal(
      until((x) => Math.floor(sphere(x)), { dimension: 4, seed: 1, initialMean: [3, 3, 3, 3] }),
      'equalfunvalues',
    );
    const noise = SeededRandom.fromSeed(5);
    assert.equal(
      until(() => noise.nextDouble(), { dimension: 2, seed: 1 }),
      'stagnation',
    );
  });

  it("an unbounded objective stops on tolxup; a step below the mean's precision on noeffectaxis", () => {
    assert.equal(
      until((x) => -sphere(x), { dimension: 3, seed: 1 }),
      'tolxup',
    );
    assert.equal(until(sphere, { dimension: 3, seed: 1, initialMean: [1e20, 1e20, 1e20], initialSigma: 1 }), 'noeffectaxis');
  });

  it('a state written before the stagnation history existed still restores and runs', () => {
    const cma = CmaEs.create({ dimension: 3, seed: 2 });
    cma.tell(cma.ask().map(sphere));
    const old = cma.toState();
    delete old.bestHistory;
    delete old.medianHistory;
    delete old.equalHistory;
    const back = CmaEs.restore(old);
    back.tell(back.ask().map(sphere));
    assert.equal(back.generation, 2);
  });
});

describe('CMA-ES restarts', () => {
  it('BIPOP reaches f < 1e-8 on shifted Rastrigin 10-D in 3 of 3 seeds (one default run: 0 of 15)', () => {
    const evaluations: number[] = [];
    for (const seed of [1, 2, 3]) {
      const optimizer = CmaEsRestarts.create({
        dimension: 10,
        seed,
        initialSigma: 2,
        restarts: 'bipop',
        targetF: 1e-8,
        maxEvaluations: 2_000_000,
      });
      runToEnd(optimizer, shiftedRastrigin(10, seed));
      assert.ok(
        optimizer.bestF < 1e-8,
        `seed ${seed}: best f ${optimizer.bestF} after ${optimizer.evaluations} evaluations (${optimizer.stopReason()})`,
      );
      assert.equal(optimizer.stopReason(), 'targetf');
      const runs = optimizer.runs;
      assert.ok(runs.some((r) => r.regime === 'small') && runs.some((r) => r.regime === 'large'), 'both regimes ran');
      assert.equal(
        runs.reduce((a, r) => a + r.evaluations, 0),
        optimizer.evaluations,
        "every evaluation is in a run's record",
      );
      evaluations.push(optimizer.evaluations);
    }
    // The published BIPOP figure at 10-D is of the order of 1e5 evaluations.
    assert.ok(Math.max(...evaluations) < 1_000_000, `evaluations ${evaluations.join(', ')}`);
  });

  it('IPOP doubles the population at each restart, from a new start point; none stops after one run', () => {
    const f = shiftedRastrigin(5, 7);
    const ipop = CmaEsRestarts.create({ dimension: 5, seed: 7, initialSigma: 2, restarts: 'ipop', maxEvaluations: 20_000 });
    runToEnd(ipop, f);
    const sizes = ipop.runs.map((r) => r.populationSize);
    assert.ok(sizes.length >= 3, `restarts happened: ${sizes.join(', ')}`);
    sizes.forEach((size, i) => assert.equal(size, CmaEs.defaultPopulationSize(5) * 2 ** i));
    assert.equal(ipop.stopReason(), 'maxevals');
    const none = CmaEsRestarts.create({ dimension: 5, seed: 7, initialSigma: 2, restarts: 'none', maxEvaluations: 20_000 });
    runToEnd(none, f);
    assert.equal(none.runs.length, 1);
    assert.notEqual(none.stopReason(), 'maxevals', 'stopped by its own criterion');
  });

  it('a run restored from JSON at any generation, across restarts, continues bit for bit', () => {
    const f = shiftedRastrigin(4, 3);
    const options = { dimension: 4, seed: 3, initialSigma: 2, restarts: 'bipop' as const, maxEvaluations: 15_000 };
    const straight = CmaEsRestarts.create(options);
    runToEnd(straight, f);
    assert.ok(straight.runs.length >= 3, 'several restarts in the run');
    const resumed = CmaEsRestarts.create(options);
    let hops = 0;
    let current = resumed;
    while (!current.stopReason()) {
      current.tell(current.ask().map((x) => f(x)));
      if (current.generation % 37 === 0) {
        current = CmaEsRestarts.restore(JSON.parse(JSON.stringify(current.toState())));
        hops += 1;
      }
    }
    assert.ok(hops > 3);
    assert.deepEqual(current.toState(), straight.toState());
  });

  it('refuses bad options, naming them', () => {
    const code = (fn: () => unknown, field: RegExp): void => {
      assert.throws(fn, (error: unknown) => isSynktiError(error, 'E_CMAES_OPTIONS') && field.test((error as Error).message));
    };
    code(() => CmaEsRestarts.create({ dimension: 3, seed: 1, restarts: 'sometimes' as 'ipop' }), /restarts/);
    code(() => CmaEsRestarts.create({ dimension: 3, seed: 1, maxEvaluations: 0 }), /maxEvaluations/);
    code(() => CmaEsRestarts.create({ dimension: 3, seed: 1, restartSpread: -1 }), /restartSpread/);
  });
});
