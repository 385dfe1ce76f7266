/**
 * `--pipeline <module>`: a TypeScript/JavaScript module whose exports include pipelines
 * made with `definePipeline` (any export that is one counts). Imported as it is: a
 * TypeScript module needs a loader in the process (the CLI runs with tsx's).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SynktiError } from '@synkti/core';
import type { Pipeline } from './define-pipeline.ts';

function isPipeline(value: unknown): value is Pipeline {
  const v = value as Partial<Pipeline> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    v.stages instanceof Map &&
    typeof v.typesForPool === 'function' &&
    typeof v.jobTasks === 'function'
  );
}

export async function loadPipelineModules(paths: string[], cwd = process.cwd()): Promise<Pipeline[]> {
  if (paths.length === 0) {
    throw new SynktiError('E_USAGE', 'no pipeline module given', {
      hint: 'pass --pipeline ./my-pipeline.ts (a module exporting definePipeline(...) results)',
    });
  }
  const byName = new Map<string, Pipeline>();
  for (const path of paths) {
    const file = resolve(cwd, path);
    if (!existsSync(file))
      throw new SynktiError('E_USAGE', `pipeline module ${file} does not exist`, { hint: 'check the --pipeline path' });
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (cause) {
      throw new SynktiError('E_PIPELINE_MODULE', `cannot load the pipeline module ${file}: ${(cause as Error)?.message ?? String(cause)}`, {
        cause,
        hint: 'run it with `node --import tsx <file>` to see the error',
      });
    }
    const found = Object.values(mod).filter(isPipeline);
    if (found.length === 0)
      throw new SynktiError('E_PIPELINE_MODULE', `${file} exports no pipeline`, {
        hint: 'export const myPipeline = definePipeline({ ... })',
      });
    for (const p of found) {
      const other = byName.get(p.name);
      if (other && other !== p)
        throw new SynktiError('E_PIPELINE_MODULE', `two pipelines are named "${p.name}"`, { hint: 'give each pipeline its own name' });
      byName.set(p.name, p);
    }
  }
  return [...byName.values()];
}
