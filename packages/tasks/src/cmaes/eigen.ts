/**
 * Eigendecomposition of a symmetric matrix by the cyclic Jacobi method: rotations zero
 * the off-diagonal entries one by one until they are negligible. Exact enough for
 * CMA-ES's covariance matrix (n up to a few hundred) and deterministic, which the
 * bit-identical resume needs.
 */
export interface Eigen {
  /** Eigenvalues, in the order of the columns of `vectors`. */
  values: number[];
  /** Row-major n×n matrix whose columns are orthonormal eigenvectors. */
  vectors: number[][];
}

export function symmetricEigen(matrix: readonly (readonly number[])[], maxSweeps = 100): Eigen {
  const n = matrix.length;
  const a = matrix.map((row) => [...row]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < maxSweeps; sweep += 1) {
    let off = 0;
    let scale = 0;
    for (let i = 0; i < n; i += 1) {
      scale += a[i]![i]! * a[i]![i]!;
      for (let j = i + 1; j < n; j += 1) off += a[i]![j]! * a[i]![j]!;
    }
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p += 1) {
      for (let q = p + 1; q < n; q += 1) {
        const apq = a[p]![q]!;
        if (apq === 0) continue;
        const app = a[p]![p]!;
        const aqq = a[q]![q]!;
        // The rotation angle that zeroes a[p][q] (Numerical Recipes' stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k += 1) {
          const akp = a[k]![p]!;
          const akq = a[k]![q]!;
          a[k]![p] = c * akp - s * akq;
          a[k]![q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k += 1) {
          const apk = a[p]![k]!;
          const aqk = a[q]![k]!;
          a[p]![k] = c * apk - s * aqk;
          a[q]![k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k += 1) {
          const vkp = v[k]![p]!;
          const vkq = v[k]![q]!;
          v[k]![p] = c * vkp - s * vkq;
          v[k]![q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: a.map((row, i) => row[i]!), vectors: v };
}
