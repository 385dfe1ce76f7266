/**
 * `--objective`: a builtin name (sphere, rosenbrock, rastrigin, ellipsoid) or a module
 * path whose default export (or `objective` export) scores a candidate. A module path is
 * made absolute where the user typed it, so workers started elsewhere find the same file.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SynktiError } from '@synkti/core';
import type { BatchObjective } from '../coordinator/evaluation-handler.ts';

/** The builtin objectives of tasks/cmaes (loaded on use, so the CLI starts without them). */
export const BUILTIN_OBJECTIVE_NAMES: readonly string[] = ['ellipsoid', 'rastrigin', 'rosenbrock', 'sphere'];

/** The objective as saved in a run: a builtin name, or an absolute module path. */
export function normalizeObjective(value: string, cwd = process.cwd()): string {
  if (value === '')
    throw new SynktiError('E_USAGE', '--objective: empty', {
      hint: `give a builtin (${BUILTIN_OBJECTIVE_NAMES.join(', ')}) or a module path`,
    });
  if (BUILTIN_OBJECTIVE_NAMES.includes(value)) return value;
  const looksLikePath = value.includes('/') || /\.(m?[jt]s|cjs|cts|mts)$/.test(value);
  if (!looksLikePath) {
    throw new SynktiError('E_USAGE', `--objective: "${value}" is not a builtin objective`, {
      hint: `use one of ${BUILTIN_OBJECTIVE_NAMES.join(', ')}, or a module path like ./my-objective.ts`,
    });
  }
  const path = isAbsolute(value) ? value : resolve(cwd, value);
  if (!existsSync(path))
    throw new SynktiError('E_USAGE', `--objective: no file ${path}`, {
      hint: 'give the path of a module whose default export is (x: number[]) => number',
    });
  return path;
}

/** Loads the objective function (a worker does this once at start). */
export async function loadObjective(objective: string): Promise<BatchObjective> {
  if (BUILTIN_OBJECTIVE_NAMES.includes(objective)) {
    const { builtinObjectives } = await import('../cmaes/objectives.ts');
    const fn: unknown = (builtinObjectives as Record<string, unknown> | undefined)?.[objective];
    if (typeof fn !== 'function')
      throw new SynktiError('E_BATCH_OBJECTIVE', `--objective: the builtin ${objective} is missing from @synkti/tasks`, {
        hint: 'pass a module path instead',
      });
    return (x) => (fn as (x: readonly number[]) => number)(x);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(objective).href)) as Record<string, unknown>;
  } catch (cause) {
    throw new SynktiError('E_BATCH_OBJECTIVE', `--objective: cannot load ${objective}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
      hint: 'run the module with node --import tsx to see the error',
    });
  }
  const fn = typeof mod.default === 'function' ? mod.default : mod.objective;
  if (typeof fn !== 'function') {
    throw new SynktiError('E_BATCH_OBJECTIVE', `--objective: ${objective} exports no function`, {
      hint: 'export default (x: number[]) => number (or export const objective = ...)',
    });
  }
  return fn as BatchObjective;
}
