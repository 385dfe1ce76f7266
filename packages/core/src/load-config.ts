import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { validateCluster, type ClusterSpec } from './cluster-spec.ts';
import { provideCoreToConfigs } from './config-imports.ts';
import { SynktiError } from './errors.ts';

export const CONFIG_FILE_NAMES = ['synkti.config.ts', 'synkti.config.mjs', 'synkti.config.js', 'synkti.config.json'];

export interface LoadClusterConfigOptions {
  /** An explicit config file; otherwise the first of CONFIG_FILE_NAMES found in `cwd`. */
  file?: string | undefined;
  /** @default process.cwd() */
  cwd?: string | undefined;
  /**
   * Imports a .ts/.mjs/.js config file and resolves with its module. The CLI's compiled
   * build passes one that compiles the config once and caches it (no tsx at each start).
   * @default provideCoreToConfigs(), then import() (tsx must be registered for .ts)
   */
  importConfig?: ((file: string) => Promise<{ default?: unknown; cluster?: unknown }>) | undefined;
}

/**
 * One line that says what went wrong, without a stack. A syntax error from the
 * TypeScript transform starts with "Transform failed with 1 error:", which says nothing;
 * the useful line is the one with the location and the reason.
 */
function describeLoadError(error: unknown, file: string): string {
  const located = (error as { errors?: { text?: unknown; location?: { line?: unknown; column?: unknown } | null }[] } | null)?.errors?.[0];
  if (located && typeof located.text === 'string') {
    const where =
      located.location && typeof located.location.line === 'number'
        ? `line ${located.location.line}:${String(located.location.column)}: `
        : '';
    return `${where}${located.text}`;
  }
  const text = error instanceof Error ? error.message : String(error);
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const syntax = lines.find((line) => line.includes(': ERROR: '));
  if (syntax) {
    // "/abs/file.ts:2:0: ERROR: Unexpected end of file" -> "line 2:0: Unexpected end of file"
    const match = /:(\d+):(\d+): ERROR: (.*)$/.exec(syntax);
    return match ? `line ${match[1]}:${match[2]}: ${match[3]}` : syntax.replace(file, '').replace(/^:\s*/, '');
  }
  return lines[0] ?? 'unknown error';
}

/**
 * The module a config imports that cannot be found, from Node's CommonJS ("Cannot find
 * module 'x'") or ESM ("Cannot find package 'x' imported from ...", "Cannot find module
 * '/abs/x' imported from ...") error; undefined for any other error.
 */
export function missingImport(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  return /Cannot find (?:module|package) '([^']+)'/.exec(String((error as Error).message))?.[1];
}

/** What to do about an import that does not resolve: a path is checked, a package installed beside the config. */
function missingImportHint(name: string, file: string): string {
  const dir = dirname(file);
  if (name.startsWith('.') || isAbsolute(name) || name.startsWith('file:')) {
    const path = name.startsWith('file:') ? fileURLToPath(name) : resolve(dir, name);
    return `${path} does not exist: fix the path in the import (relative imports start from the config's directory, with the file's extension)`;
  }
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)/.exec(name)?.[1] ?? name;
  return `install it beside the config (\`npm install ${pkg}\` in ${dir}), or remove the import; only @synkti/core is provided by synkti itself`;
}

/** The default config import: `import { defineCluster } from '@synkti/core'` must load wherever the config is. */
async function importConfigFile(file: string): Promise<{ default?: unknown; cluster?: unknown }> {
  provideCoreToConfigs();
  return (await import(pathToFileURL(file).href)) as { default?: unknown; cluster?: unknown };
}

/** Finds, imports and validates the cluster config. */
export async function loadClusterConfig(options: LoadClusterConfigOptions = {}): Promise<{ spec: ClusterSpec; file: string }> {
  const cwd = options.cwd ?? process.cwd();
  let file: string | undefined;
  if (options.file) {
    file = resolve(cwd, options.file);
    if (!existsSync(file))
      throw new SynktiError('E_CONFIG_NOT_FOUND', `config file ${file} does not exist`, {
        hint: 'check the --config path, or run `synkti init` to write one',
      });
  } else {
    file = CONFIG_FILE_NAMES.map((name) => resolve(cwd, name)).find((candidate) => existsSync(candidate));
    if (!file)
      throw new SynktiError('E_CONFIG_NOT_FOUND', `no synkti.config.ts in ${cwd}`, {
        hint: 'run `synkti init` to write one, or pass --config <file>',
      });
  }
  let exported: unknown;
  try {
    if (file.endsWith('.json')) {
      exported = JSON.parse(readFileSync(file, 'utf8'));
    } else {
      const module = options.importConfig ? await options.importConfig(file) : await importConfigFile(file);
      exported = module.default ?? module.cluster;
      // tsx may wrap a CommonJS-looking module once more.
      if (exported && typeof exported === 'object' && 'default' in exported && !('name' in exported))
        exported = (exported as { default: unknown }).default;
    }
  } catch (error) {
    const missing = missingImport(error);
    if (missing !== undefined) {
      throw new SynktiError('E_CONFIG_LOAD', `could not load ${file}: it imports ${JSON.stringify(missing)}, which cannot be found`, {
        cause: error,
        hint: missingImportHint(missing, file),
      });
    }
    throw new SynktiError('E_CONFIG_LOAD', `could not load ${file}: ${describeLoadError(error, file)}`, {
      cause: error,
      hint: 'fix the error in the config file (it must run as TypeScript and export the cluster)',
    });
  }
  if (exported === undefined) {
    throw new SynktiError('E_CONFIG_LOAD', `${file} exports no cluster`, { hint: 'end it with `export default defineCluster({...})`' });
  }
  return { spec: validateCluster(exported, file), file };
}
