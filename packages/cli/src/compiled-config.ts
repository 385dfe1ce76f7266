import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Loading a TypeScript config without tsx. The compiled CLI (bin/cli-bundle.mjs) would
 * otherwise register tsx on every start only to read synkti.config.ts, which is most of a
 * read command's time. Instead the config is compiled once with esbuild into a cache
 * file, its own imports bundled in and `@synkti/core` (when the config's directory does
 * not have its own) taken from the running CLI's bundle, and reused while neither the
 * config nor any file it imports has changed (size and mtime). Anything esbuild cannot
 * compile falls back to tsx, which gives the errors users know.
 */

type ConfigModule = { default?: unknown; cluster?: unknown };

export interface CompiledConfigOptions {
  /** The running bundle's @synkti/core entries (file URLs), by the specifier a config imports. */
  provided: Record<string, string>;
  /** Loads the config the slow way (tsx), when it cannot be compiled here. */
  fallback: (file: string) => Promise<ConfigModule>;
  /**
   * Where compiled configs are kept (created 0700).
   * @default $XDG_CACHE_HOME/synkti/configs, else ~/.cache/synkti/configs
   */
  cacheDir?: string | undefined;
}

interface CacheRecord {
  /** Every file the compiled config was built from: [size, mtimeMs]. */
  inputs: Record<string, [number, number]>;
}

function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'synkti', 'configs');
}

function unchanged(record: CacheRecord): boolean {
  const entries = Object.entries(record.inputs);
  if (entries.length === 0) return false;
  for (const [file, [size, mtimeMs]] of entries) {
    try {
      const stat = statSync(file);
      if (stat.size !== size || stat.mtimeMs !== mtimeMs) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Compiles `file` (esbuild, bundled) into `out`; resolves with the files it read. */
async function compile(file: string, out: string, provided: Record<string, string>): Promise<string[]> {
  const { build } = await import('esbuild');
  const workingDir = dirname(file);
  const result = await build({
    entryPoints: [file],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: workingDir,
    // A real require for bundled CommonJS. (Spelled in two parts: the CLI's bundler rewrites that expression in its sources.)
    banner: {
      js: `import { createRequire as synktiCreateRequire } from 'node:module';\nconst require = synktiCreateRequire(${'import.meta'}.url);`,
    },
    plugins: [
      {
        name: 'synkti-provided-core',
        setup(on) {
          on.onResolve({ filter: /^@synkti\/core(\/errors|\/duration)?$/ }, async (args) => {
            if ((args.pluginData as { inner?: boolean } | undefined)?.inner) return undefined;
            // A project's own installed @synkti/core wins, as with the tsx loader.
            const own = await on.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: { inner: true } });
            if (own.errors.length === 0) return undefined;
            return { path: provided[args.path]!, external: true };
          });
        },
      },
    ],
  });
  const text = result.outputFiles[0]!.text;
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, out);
  return Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(':'))
    .map((input) => resolve(workingDir, input));
}

/** An importConfig for loadClusterConfig that compiles the config once and then imports the compiled file. */
export function compiledConfigImporter(options: CompiledConfigOptions): (file: string) => Promise<ConfigModule> {
  return async (file: string) => {
    const dir = options.cacheDir ?? defaultCacheDir();
    // The compiled file imports the bundle's core by path: a CLI elsewhere compiles its own.
    const key = createHash('sha256')
      .update(`${file}\0${JSON.stringify(options.provided)}`)
      .digest('hex')
      .slice(0, 32);
    const out = join(dir, `${key}.mjs`);
    const recordFile = join(dir, `${key}.json`);
    let ready = false;
    try {
      ready = unchanged(JSON.parse(readFileSync(recordFile, 'utf8')) as CacheRecord);
    } catch {
      // Not compiled yet.
    }
    if (!ready) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const started = Date.now();
        const inputs = await compile(file, out, options.provided);
        const record: CacheRecord = { inputs: {} };
        for (const input of inputs) {
          const stat = statSync(input);
          // Saved while compiling: it may not be in the output; compile again next time.
          record.inputs[input] = [stat.size, stat.mtimeMs >= started - 1000 ? -1 : stat.mtimeMs];
        }
        const tmp = `${recordFile}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
        renameSync(tmp, recordFile);
      } catch (error) {
        // A syntax error, an import that does not resolve, no esbuild, a read-only cache:
        // tsx loads it (or reports it) as it always has.
        if (process.env.SYNKTI_DEBUG) console.error(`synkti: could not compile ${file}, loading it with tsx:`, error);
        return options.fallback(file);
      }
    }
    // The config's own errors (a throw at its top level) are the user's: not retried with tsx.
    return (await import(pathToFileURL(out).href)) as ConfigModule;
  };
}
