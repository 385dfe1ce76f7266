import { SeededRandom } from './random.ts';

/** Standard test functions (minimum 0), as used to benchmark CMA-ES. */
export type Objective = (x: readonly number[]) => number;

export type BuiltinObjectiveName = 'sphere' | 'rosenbrock' | 'rastrigin' | 'ellipsoid';

export const builtinObjectives: Record<BuiltinObjectiveName, Objective> = {
  /** Σ x_i²; minimum at 0. */
  sphere: (x) => x.reduce((sum, xi) => sum + xi * xi, 0),
  /** Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²; minimum at (1, …, 1). */
  rosenbrock: (x) => {
    let sum = 0;
    for (let i = 0; i + 1 < x.length; i += 1) {
      const a = x[i + 1]! - x[i]! * x[i]!;
      const b = 1 - x[i]!;
      sum += 100 * a * a + b * b;
    }
    return sum;
  },
  /** 10 n + Σ (x_i² − 10 cos 2π x_i); many local minima, global at 0. */
  rastrigin: (x) => 10 * x.length + x.reduce((sum, xi) => sum + xi * xi - 10 * Math.cos(2 * Math.PI * xi), 0),
  /** Σ 10^(6 i/(n−1)) x_i²; condition number 10⁶. */
  ellipsoid: (x) => x.reduce((sum, xi, i) => sum + 10 ** (x.length > 1 ? (6 * i) / (x.length - 1) : 0) * xi * xi, 0),
};

export function isBuiltinObjective(name: string): name is BuiltinObjectiveName {
  return Object.prototype.hasOwnProperty.call(builtinObjectives, name);
}

/**
 * Rastrigin shifted by an offset drawn in [−3, 3]ⁿ from `seed` (BBOB-style: the usual
 * start x0 = 0 is then not the optimum). Minimum 0 at the offset.
 */
export function shiftedRastrigin(dimension: number, seed: number): Objective {
  const random = SeededRandom.fromSeed(1000 + seed);
  const shift = Array.from({ length: dimension }, () => 6 * random.nextDouble() - 3);
  return (x) => builtinObjectives.rastrigin(x.map((v, i) => v - shift[i]!));
}
