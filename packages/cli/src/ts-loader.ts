import { SynktiError } from '@synkti/core/errors';

/**
 * Synkti runs its TypeScript sources through tsx. In the repository the `synkti` binary
 * registers tsx before anything else; the packed CLI starts from a prebuilt JavaScript
 * entry (so `synkti --help` does not pay for tsx) and registers tsx only when a command
 * first needs its implementation.
 */
const REGISTERED = Symbol.for('synkti.tsx-registered');

export async function loadImplementation<T>(load: () => Promise<T>): Promise<T> {
  const flags = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (!flags[REGISTERED]) {
    // Both hooks, as `import 'tsx'` installs them: configs and modules may be either kind.
    (await import('tsx/esm/api')).register();
    (await import('tsx/cjs/api')).register();
    flags[REGISTERED] = true;
  }
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
