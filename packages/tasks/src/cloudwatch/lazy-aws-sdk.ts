/**
 * Loads an AWS SDK client package on first use. Optional AWS features (CloudWatch
 * publishing, ECS worker counts) load their SDK only when turned on, so `synkti --help`
 * and local runs never pay for it, and a missing package is a clear error, not a crash.
 */
import { SynktiError } from '@synkti/core';

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * `load` is a thunk around a dynamic import (`() => import('@aws-sdk/client-x')`), so the
 * package is resolved only here. `packageName` and `why` go into the error.
 */
export async function importAwsSdk<T>(load: () => Promise<T>, packageName: string, why: string, orElse: string): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    if (!isModuleNotFound(cause)) throw cause;
    throw new SynktiError('E_AWS_SDK_MISSING', `${why} needs the AWS SDK package ${packageName}, which is not installed`, {
      cause,
      hint: `npm install ${packageName}@3 -w synkti, or ${orElse}`,
    });
  }
}
