/**
 * What `synkti bootstrap` hands the bootstrap library (@synkti/infra/bootstrap): this CLI's
 * agent packer, its worker pool (EC2 through the worker provider), its versions, and its
 * flag names in errors.
 */
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { BootstrapDeps } from '@synkti/infra/bootstrap';
import { packAgentArtifact } from '@synkti/agent/release';
import { launchWorkers, listWorkers } from '@synkti/agent/worker-fleet';
import { openWorkerProvider } from '../worker/worker-provider.ts';
import { DEFAULT_NODE_VERSION, asUsageError, cliVersion, type AwsLaunchFlags } from '../worker/worker-settings.ts';

export type CliBootstrapDeps = BootstrapDeps<AwsLaunchFlags>;

/** The library's deps without the CLI's own parts, which may still be replaced (tests pass a packer). */
export interface CliBootstrapDepsInput extends Omit<CliBootstrapDeps, 'packArtifact' | 'openWorkers' | 'defaults' | 'mapError'> {
  /** @default packAgentArtifact */
  packArtifact?: CliBootstrapDeps['packArtifact'] | undefined;
  /** EC2 client (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
}

export function cliBootstrapDeps(input: CliBootstrapDepsInput): CliBootstrapDeps {
  const { ec2Client, packArtifact, ...rest } = input;
  return {
    ...rest,
    packArtifact: packArtifact ?? ((outDir, version) => packAgentArtifact({ outDir, version: version ?? cliVersion() })),
    openWorkers: ({ spec, role, aws, userData }) => {
      const fleet = openWorkerProvider(spec, { configFile: join(process.cwd(), 'synkti.config.ts'), ec2Client, aws, userData });
      return {
        list: async () => (await listWorkers(fleet.provider, spec, { role })).map((r) => r.id),
        launch: async (count, onLaunched) => {
          const launched = await launchWorkers(fleet.provider, spec, {
            count,
            role,
            userData: await fleet.userData(),
            onLaunched: (record, i, n) => onLaunched(record.id, i, n),
          });
          return launched.map((r) => r.id);
        },
        close: () => fleet.close(),
      };
    },
    defaults: { version: cliVersion(), nodeVersion: DEFAULT_NODE_VERSION },
    mapError: asUsageError,
  };
}
