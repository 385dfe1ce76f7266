import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { validateCluster, type ClusterSpec } from './cluster-spec.ts';
import { SynktiError } from './errors.ts';

export const CONFIG_FILE_NAMES = ['synkti.config.ts', 'synkti.config.mjs', 'synkti.config.js', 'synkti.config.json'];

export interface LoadClusterConfigOptions {
  /** An explicit config file; otherwise the first of CONFIG_FILE_NAMES found in `cwd`. */
  file?: string | undefined;
  /** @default process.cwd() */
  cwd?: string | undefined;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((line) => line.trim().length > 0)?.trim() ?? 'unknown error';
}

/** Finds, imports and validates the cluster config. */
export async function loadClusterConfig(options: LoadClusterConfigOptions = {}): Promise<{ spec: ClusterSpec; file: string }> {
  const cwd = options.cwd ?? process.cwd();
  let file: string | undefined;
  if (options.file) {
    file = resolve(cwd, options.file);
    if (!existsSync(file)) throw new SynktiError('E_CONFIG_NOT_FOUND', `config file ${file} does not exist`, { hint: 'check the --config path, or run `synkti init` to write one' });
  } else {
    file = CONFIG_FILE_NAMES.map((name) => resolve(cwd, name)).find((candidate) => existsSync(candidate));
    if (!file) throw new SynktiError('E_CONFIG_NOT_FOUND', `no synkti.config.ts in ${cwd}`, { hint: 'run `synkti init` to write one, or pass --config <file>' });
  }
  let exported: unknown;
  try {
    if (file.endsWith('.json')) {
      exported = JSON.parse(readFileSync(file, 'utf8'));
    } else {
      const module = (await import(pathToFileURL(file).href)) as { default?: unknown; cluster?: unknown };
      exported = module.default ?? module.cluster;
      // tsx may wrap a CommonJS-looking module once more.
      if (exported && typeof exported === 'object' && 'default' in exported && !('name' in exported)) exported = (exported as { default: unknown }).default;
    }
  } catch (error) {
    throw new SynktiError('E_CONFIG_LOAD', `could not load ${file}: ${firstLine(error)}`, { cause: error, hint: 'fix the error in the config file (it must run as TypeScript and export the cluster)' });
  }
  if (exported === undefined) {
    throw new SynktiError('E_CONFIG_LOAD', `${file} exports no cluster`, { hint: 'end it with `export default defineCluster({...})`' });
  }
  return { spec: validateCluster(exported, file), file };
}
