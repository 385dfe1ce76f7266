import { SynktiError } from '@synkti/core/errors';

/**
 * The `synkti` binary runs the CLI compiled to JavaScript (bin/cli-bundle.mjs), or, when
 * that cannot be built, its TypeScript sources through tsx (registered by the binary up
 * front). The compiled CLI registers tsx only when a command may import a user's
 * TypeScript (loadImplementation without `tsx: false`).
 */
const REGISTERED = Symbol.for('synkti.tsx-registered');

const BUNDLE = Symbol.for('synkti.cli-bundle');

/** The compiled CLI's @synkti/core entries (set by bin/synkti.mjs), or undefined when running the sources. */
export function cliBundle(): { core: string } | undefined {
  return (globalThis as unknown as Record<symbol, { core: string } | undefined>)[BUNDLE];
}

/** Registers tsx's loaders (ESM and CommonJS, as `import 'tsx'` does), once. */
export async function registerTsx(): Promise<void> {
  const flags = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (flags[REGISTERED]) return;
  // Both hooks: configs and modules may be either kind.
  (await import('tsx/esm/api')).register();
  (await import('tsx/cjs/api')).register();
  flags[REGISTERED] = true;
}

export interface LoadImplementationOptions {
  /**
   * Whether the implementation may import TypeScript at run time (a user's objective or
   * pipeline module): tsx is registered first. Read commands say false, so the compiled
   * CLI starts them without tsx (their config is compiled: compiled-config.ts).
   * @default true
   */
  tsx?: boolean | undefined;
}

export async function loadImplementation<T>(load: () => Promise<T>, options: LoadImplementationOptions = {}): Promise<T> {
  // Running the sources (no bundle), everything is TypeScript: tsx always.
  if (options.tsx !== false || !cliBundle()) await registerTsx();
  try {
    return await load();
  } catch (error) {
    throw missingPackage(error) ?? error;
  }
}

/** An optional package a command needs (Pulumi for `synkti infra`) is not installed: say which and how. */
export function missingPackage(error: unknown): SynktiError | undefined {
  if ((error as { code?: unknown })?.code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const name = /Cannot find package '((?:@[^/']+\/)?[^/']+)/.exec(String((error as Error).message))?.[1];
  if (!name || name.startsWith('/') || name.startsWith('.')) return undefined;
  return new SynktiError('E_MISSING_PACKAGE', `this command needs the npm package ${name}, which is not installed`, {
    cause: error,
    hint: `install it where synkti is installed: \`npm install -g ${name}\` for a global synkti, \`npm install ${name}\` in a project`,
  });
}
