/**
 * What a test does when a service it needs (a PostgreSQL server, an SQS emulator) cannot
 * be started here: skip with a clear message on a developer's machine, but fail when
 * `SYNKTI_REQUIRE_SERVICES=1` (CI sets it), so a missing install never passes silently.
 */

export const REQUIRE_SERVICES_ENV = 'SYNKTI_REQUIRE_SERVICES';

/** A service the tests could not start, with the reason and what to install. */
export class ServiceUnavailableError extends Error {
  readonly service: string;

  constructor(service: string, reason: string) {
    super(`${service} is not available: ${reason}`);
    this.name = 'ServiceUnavailableError';
    this.service = service;
  }
}

export function servicesRequired(): boolean {
  return process.env[REQUIRE_SERVICES_ENV] === '1';
}

/**
 * Starts a service for a test file. Returns the service, or a skip message when it is
 * unavailable and services are not required; rethrows otherwise (and on every other error).
 */
export async function startOrSkip<T>(
  start: () => Promise<T>,
): Promise<{ service: T; skip?: undefined } | { service?: undefined; skip: string }> {
  try {
    return { service: await start() };
  } catch (error) {
    if (error instanceof ServiceUnavailableError && !servicesRequired()) {
      return { skip: `${error.message} (set ${REQUIRE_SERVICES_ENV}=1 to make this a failure)` };
    }
    throw error;
  }
}
