/**
 * A private, throwaway PostgreSQL server for tests. The server itself lives in
 * @synkti/aws-emulator (postgres-server.ts: it is also what stands in for RDS in
 * `synkti demo --on aws-emulator --shape pipelines`); this maps "not installed" to
 * ServiceUnavailableError, which `startOrSkip` turns into a skip unless
 * SYNKTI_REQUIRE_SERVICES=1.
 */
import { isSynktiError } from '@synkti/core';
import { findPostgresBinDir, startPostgresServer, type PostgresServer } from '../../packages/aws-emulator/src/postgres-server.ts';
import { ServiceUnavailableError } from './services.ts';

export { findPostgresBinDir };

export type TestPostgres = PostgresServer;

export async function startTestPostgres(): Promise<TestPostgres> {
  try {
    return await startPostgresServer();
  } catch (error) {
    if (isSynktiError(error) && error.code === 'E_TOOL_MISSING')
      throw new ServiceUnavailableError('PostgreSQL', `${error.message} (${error.hint ?? ''})`);
    throw error;
  }
}
