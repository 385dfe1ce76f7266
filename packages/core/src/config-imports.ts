import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * A config file imports `defineCluster` (and presets) from `@synkti/core`, but it may live
 * anywhere: a scratch directory, a project without node_modules, next to a CLI installed
 * with `npm install -g`. There the package does not resolve from the config's directory,
 * so while configs load, a failed resolution of `@synkti/core` falls back to this very
 * package (the one running the CLI). A project that installs its own `@synkti/core` keeps
 * it: only a resolution that failed is redirected.
 */
/** What a config may import from `@synkti/core` (its package.json's exports), as this package's files. */
const PROVIDED: Record<string, string> = {
  '@synkti/core': new URL('./index.ts', import.meta.url).href,
  '@synkti/core/errors': new URL('./errors.ts', import.meta.url).href,
  '@synkti/core/duration': new URL('./duration.ts', import.meta.url).href,
};
const INSTALLED = Symbol.for('synkti.config-imports-installed');

/**
 * The ESM side (configs in a `"type": "module"` package, .mts/.mjs files): a resolve hook,
 * run in the loader thread, so it is plain JavaScript in a data: URL with no imports. The
 * fallback goes down the chain again so tsx's resolver marks the .ts entry as its own.
 */
const ESM_HOOK = `
let provided = {};
export function initialize(data) { provided = data.provided; }
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const target = Object.hasOwn(provided, specifier) ? provided[specifier] : undefined;
    if (target && error && error.code === 'ERR_MODULE_NOT_FOUND') return nextResolve(target, context);
    throw error;
  }
}
`;

type ResolveFilename = (request: string, parent: unknown, ...rest: unknown[]) => string;

/**
 * Makes `@synkti/core` importable from any config file, for the ESM loader and for
 * CommonJS (tsx compiles a .ts config outside a `"type": "module"` package to CommonJS,
 * whose `require` does not go through ESM hooks). Idempotent; call it before importing a
 * config. It changes nothing for a specifier that resolves on its own.
 */
export function provideCoreToConfigs(): void {
  const flags = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (flags[INSTALLED]) return;
  flags[INSTALLED] = true;
  register(`data:text/javascript,${encodeURIComponent(ESM_HOOK)}`, { data: { provided: PROVIDED } });
  const cjs = Module as unknown as { _resolveFilename: ResolveFilename };
  const previous = cjs._resolveFilename;
  cjs._resolveFilename = function resolveFilename(this: unknown, request, parent, ...rest) {
    try {
      return previous.call(this, request, parent, ...rest);
    } catch (error) {
      const target = Object.hasOwn(PROVIDED, request) ? PROVIDED[request] : undefined;
      if (target && (error as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND') return fileURLToPath(target);
      throw error;
    }
  };
}
