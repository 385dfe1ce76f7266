import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSynktiError } from '@synkti/core';
import { BATCH_BUCKET, batchObjectStore } from './backend.ts';
import { settleCmaesRun } from './cmaes-run-settings.ts';
import { populationForWorkers } from './population-auto.ts';

test("auto population: the smallest multiple of the workers that is at least CMA-ES's default", () => {
  // Default λ = 4 + ⌊3 ln dim⌋: 10 at dim 10, 14 at dim 30, 4 at dim 1.
  assert.equal(populationForWorkers(10, 1), 10);
  assert.equal(populationForWorkers(10, 2), 10);
  assert.equal(populationForWorkers(10, 3), 12);
  assert.equal(populationForWorkers(10, 4), 12);
  assert.equal(populationForWorkers(10, 16), 16);
  assert.equal(populationForWorkers(30, 4), 16);
  assert.equal(populationForWorkers(1, 1), 4);
  assert.equal(populationForWorkers(10, 256), 256);
});

test('auto population needs a worker count: 0 (workers started elsewhere) is refused naming --workers and the fix', () => {
  for (const workers of [0, -1, 1.5]) {
    assert.throws(
      () => populationForWorkers(10, workers),
      (error: unknown) =>
        isSynktiError(error, 'E_USAGE') &&
        new RegExp(`--population auto fits the population to the workers, but --workers is ${workers}`).test((error as Error).message) &&
        /give --population N/.test((error as { hint?: string }).hint ?? ''),
    );
  }
  assert.throws(
    () => populationForWorkers(0, 4),
    (error: unknown) => isSynktiError(error, 'E_USAGE') && /--dim 0/.test((error as Error).message),
  );
});

test('a new run asked for population auto saves the fitted number; with no workers it is refused', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'synkti-population-auto-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const store = batchObjectStore(stateDir);
  await store.createBucket(BATCH_BUCKET);
  const settled = await settleCmaesRun(
    { objective: 'sphere', dim: 10, population: 'auto', workers: 4, stateDir, run: 'auto-4' },
    { store, bucket: BATCH_BUCKET },
  );
  assert.equal(settled.meta.population, 12);
  await assert.rejects(
    settleCmaesRun(
      { objective: 'sphere', dim: 10, population: 'auto', workers: 0, stateDir, run: 'auto-0' },
      { store, bucket: BATCH_BUCKET },
    ),
    (error: unknown) => isSynktiError(error, 'E_USAGE') && /--workers is 0/.test((error as Error).message),
  );
});
