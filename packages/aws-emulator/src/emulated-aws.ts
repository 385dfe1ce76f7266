/**
 * An emulated AWS on one machine: moto_server for the APIs, its network set up so
 * instances get loopback private IPs, and the instance emulator making each instance a
 * machine on this host. One call for a test or the demo; `stop()` leaves nothing behind.
 */
import { mkdirSync } from 'node:fs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ensureEmulatedNetwork, type EmulatedNetwork } from './emulated-network.ts';
import type { CredentialsFor } from './instance-metadata.ts';
import { InstanceEmulator } from './instance-emulator.ts';
import { startMotoServer, type MotoServer } from './moto-server.ts';

export interface EmulatedAwsOptions {
  /** Machines and logs go here (`instances/<id>/`, `emulator.log`); the caller removes it. */
  stateDir: string;
  /** @default 'us-east-1' */
  region?: string | undefined;
  /**
   * AWS_ENDPOINT_URL inside each machine (e.g. a proxy that checks IAM in front of moto).
   * @default the moto endpoint
   */
  awsEndpoint?: string | undefined;
  /** @default none: machines get static dummy keys instead of role credentials from IMDS */
  credentialsFor?: CredentialsFor | undefined;
  /** moto's request log. @default discarded */
  logFile?: string | undefined;
  /** Extra environment for moto_server (e.g. to turn on its IAM checks). */
  motoEnv?: Record<string, string> | undefined;
  /** @default 250 */
  pollIntervalMs?: number | undefined;
}

export interface EmulatedAws {
  moto: MotoServer;
  network: EmulatedNetwork;
  emulator: InstanceEmulator;
  /** Environment for the `aws` CLI or a Synkti CLI acting as the administrator. */
  env(): Record<string, string>;
  /** Kills every machine, then moto; idempotent. */
  stop(): Promise<void>;
}

export async function startEmulatedAws(options: EmulatedAwsOptions): Promise<EmulatedAws> {
  mkdirSync(options.stateDir, { recursive: true });
  const moto = await startMotoServer({ region: options.region, logFile: options.logFile, env: options.motoEnv });
  let emulator: InstanceEmulator | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await emulator?.stop();
      } finally {
        await moto.stop();
      }
    })();
    return stopped;
  };
  try {
    const ec2 = new EC2Client(moto.clientConfig());
    let network: EmulatedNetwork;
    try {
      network = await ensureEmulatedNetwork(ec2, moto.region);
    } finally {
      ec2.destroy();
    }
    emulator = new InstanceEmulator({
      moto,
      stateDir: options.stateDir,
      awsEndpoint: options.awsEndpoint,
      credentialsFor: options.credentialsFor,
      pollIntervalMs: options.pollIntervalMs,
    });
    await emulator.start();
    return { moto, network, emulator, env: () => moto.env(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
