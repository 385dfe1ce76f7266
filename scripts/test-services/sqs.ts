/**
 * A throwaway SQS-compatible server for tests: fauxqs (an npm dev dependency pinned to a
 * version that runs on Node 20), in this process, on 127.0.0.1 at a free port.
 *
 * fauxqs's own `startFauxqs` listens on every interface; `buildApp` is used instead so
 * the server listens on loopback only. If the package is missing, starting throws
 * ServiceUnavailableError (a skip unless SYNKTI_REQUIRE_SERVICES=1).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { ServiceUnavailableError } from './services.ts';

export interface TestSqs {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  region: string;
  /** Makes a client for this server (dummy credentials; fauxqs does not check them). */
  client(): SQSClient;
  /** Closes the server. Idempotent. */
  stop(): Promise<void>;
}

interface FauxqsApp {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestSqs(): Promise<TestSqs> {
  let fauxqs: { buildApp(options: { logger: boolean; host: string }): FauxqsApp };
  try {
    // A variable specifier keeps fauxqs's types (which need newer TypeScript settings) out of the type-check.
    const specifier = 'fauxqs';
    fauxqs = (await import(specifier)) as typeof fauxqs;
  } catch (cause) {
    throw new ServiceUnavailableError(
      'fauxqs (SQS emulator)',
      `cannot load the fauxqs package (${(cause as Error).message}); run npm install`,
    );
  }
  const app = fauxqs.buildApp({ logger: false, host: '127.0.0.1' });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const endpoint = new URL(address).origin;
  const region = 'us-east-1';
  const clients: SQSClient[] = [];
  let stopped = false;
  return {
    endpoint,
    region,
    client() {
      const client = new SQSClient({
        endpoint,
        region,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 2,
      });
      clients.push(client);
      return client;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const client of clients) client.destroy();
      await app.close();
    },
  };
}
