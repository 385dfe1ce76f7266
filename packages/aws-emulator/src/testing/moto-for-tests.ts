/**
 * moto_server for a test file: a skip with the install hint on a developer's machine
 * without it, a failure when SYNKTI_REQUIRE_SERVICES=1 (CI).
 */
import { isSynktiError } from '@synkti/core';
import { startMotoServer, type MotoServer, type MotoServerOptions } from '../moto-server.ts';

export async function startMotoOrSkip(
  options: MotoServerOptions = {},
): Promise<{ service: MotoServer; skip?: undefined } | { service?: undefined; skip: string }> {
  try {
    return { service: await startMotoServer(options) };
  } catch (error) {
    if (isSynktiError(error, 'E_TOOL_MISSING') && process.env.SYNKTI_REQUIRE_SERVICES !== '1') {
      return { skip: `${error.message}: ${error.hint} (set SYNKTI_REQUIRE_SERVICES=1 to make this a failure)` };
    }
    throw error;
  }
}
