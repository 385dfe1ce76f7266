/**
 * A Synkti project on the emulated AWS, ready for `synkti bootstrap --skip-infra`: moto
 * (with its IAM), the emulated network (every instance its own loopback address), the
 * worker role exactly as SpotServeFleet builds it (synthesized under Pulumi mocks) behind
 * the IAM-checking proxy, the instance emulator booting every instance from its user data
 * with that role's credentials, a packed agent and Node.js tarball, a small model, and a
 * plain-object synkti.config.ts. Used by `synkti demo --on aws-emulator` and by the tests
 * that run the everyday commands against the emulated AWS.
 *
 * Every CLI run goes through `cli()`: a real `synkti` process with the administrator's
 * keys and AWS_ENDPOINT_URL at the IAM proxy (administrator calls pass unchecked and are
 * counted apart; the workers' calls are checked against their role).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SynktiError, TAG_CLUSTER, TAG_REPLACES } from '@synkti/core';
import type { EmulatedNetwork, IamTruth, InstanceEmulator, MotoServer } from '@synkti/aws-emulator';
import { packAgentArtifact } from '@synkti/agent/release';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';

/** The CLI entry: the same command a user types. */
const CLI_MAIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));
export const ROUTER_PORT = 8080;
export const AGENT_PORT = 7946;

export interface EmulatedAwsProjectOptions {
  /** Cluster (project) name. */
  cluster: string;
  /** The pool's count in the config. */
  workers: number;
  /** Where everything lives; removed by stop() unless keepState. @default a new temporary directory */
  stateDir?: string | undefined;
  keepState?: boolean | undefined;
  /** Token latency of the stand-in model server. @default '15ms' */
  tokenLatency?: string | undefined;
  /**
   * Actions removed from the worker role's policies before anything runs (to see the run
   * report the denials by name). @default none
   */
  denyActions?: string[] | undefined;
}

export interface FleetNode {
  id: string;
  ip: string;
  state: string;
  /** The instance this one was launched to replace (SynktiReplaces tag). */
  replaces: string | undefined;
}

export interface EmulatedAwsProject {
  cluster: string;
  stateDir: string;
  projectDir: string;
  configFile: string;
  moto: MotoServer;
  network: EmulatedNetwork;
  truth: IamTruth;
  instances: InstanceEmulator;
  /** `synkti bootstrap --skip-infra` arguments that set this project up with `workers` workers. */
  bootstrapArgs(workers: number): string[];
  /**
   * Writes the config file again with another stand-in token latency: a new workload, so a
   * new config generation (`synkti deploy` then rolls the fleet to it).
   */
  rewriteConfig(tokenLatency: string): void;
  /** Launch flags for `synkti up` / `synkti scale` on this project (what bootstrap prints as SYNKTI_* settings). */
  launchArgs(): string[];
  /**
   * Runs `synkti <args>` (with `--config <configFile>`) in the project directory; `extraEnv`
   * is added to its environment (e.g. SYNKTI_CLUSTER_SECRET for `synkti status`).
   */
  cli(args: string[], timeoutMs?: number, extraEnv?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The cluster's instances as EC2 lists them (the administrator's view, not counted against the workers). */
  listFleet(): Promise<FleetNode[]>;
  /** The cluster secret from SSM (after bootstrap). */
  secret(): Promise<string>;
  /** Whether a node's router answers its health check with 200. */
  routerServing(ip: string): Promise<boolean>;
  /** Kills every machine, stops the proxy and moto; removes the state unless kept. Idempotent. */
  stop(): Promise<void>;
}

function tagOf(instance: Instance, key: string): string | undefined {
  return instance.Tags?.find((t) => t.Key === key)?.Value;
}

/** A small model directory: config, tokenizer and weights (random bytes, so a corrupt copy cannot pass). */
function writeModel(dir: string): string {
  const model = join(dir, 'demo-model');
  mkdirSync(join(model, 'weights'), { recursive: true });
  writeFileSync(join(model, 'config.json'), JSON.stringify({ architecture: 'stand-in', hidden_size: 64, layers: 2 }, null, 2));
  writeFileSync(join(model, 'tokenizer.json'), JSON.stringify({ vocab: Array.from({ length: 256 }, (_, i) => `t${i}`) }));
  writeFileSync(join(model, 'weights', 'shard-0.bin'), randomBytes(2 * 1024 * 1024));
  writeFileSync(join(model, 'weights', 'shard-1.bin'), randomBytes(1024 * 1024 + 17));
  return model;
}

function configText(cluster: string, workers: number, bucket: string, region: string, tokenLatency: string): string {
  // A plain object (no import), as a user outside this repository would write it.
  const config = {
    name: cluster,
    provider: 'aws',
    region,
    pools: { worker: { count: workers } },
    model: { uri: `s3://${bucket}/models/demo-model/` },
    workload: {
      // The stand-in preset, checking the fetched model against its manifest before it serves.
      command: [
        '{node}',
        '--import',
        '{tsx}',
        '{standIn}',
        '--host',
        '{host}',
        '--port',
        '{port}',
        '--model-dir',
        '{modelPath}',
        '--token-latency',
        tokenLatency,
      ],
      healthPath: '/health',
      startupTimeout: '60s',
    },
    timeouts: {
      gossipInterval: '500ms',
      failureTimeout: '2s',
      listInterval: '5s',
      noticePollInterval: '1s',
      drainMargin: '2s',
      shutdownGrace: '10s',
      maxStreamDuration: '5s',
    },
  };
  return `// Written by Synkti for a run on the emulated AWS.\nexport default ${JSON.stringify(config, null, 2)};\n`;
}

/** The environment CLI runs get: nothing of the user's own AWS or Synkti setup, the administrator's keys, the proxy. */
function cliEnv(adminEnv: Record<string, string>, endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_') && !key.startsWith('SYNKTI_')) env[key] = value;
  return { ...env, ...adminEnv, AWS_ENDPOINT_URL: endpoint, SYNKTI_LOG_LEVEL: 'warn' };
}

function runProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    timer.unref();
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

function dropActions(document: { Statement: unknown }, deny: Set<string>): void {
  const statements = Array.isArray(document.Statement)
    ? (document.Statement as { Action?: string | string[] }[])
    : [document.Statement as { Action?: string | string[] }];
  for (const statement of statements) {
    if (statement.Action === undefined) continue;
    const actions = (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).filter((a) => !deny.has(a));
    // An empty Action list is not a valid statement: leave one that matches nothing real.
    statement.Action = actions.length > 0 ? actions : ['synkti:NothingAllowed'];
  }
}

/** Sets the project up (about 10 s: pack, moto, roles); throws E_TOOL_MISSING without moto_server or the aws CLI. */
export async function startEmulatedAwsProject(options: EmulatedAwsProjectOptions): Promise<EmulatedAwsProject> {
  if (spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).status !== 0) {
    throw new SynktiError(
      'E_TOOL_MISSING',
      'the aws CLI is not on PATH: the emulated instances boot with the real boot script, which uses it',
      {
        hint: "python3 -m pip install awscli (or your distribution's awscli package)",
      },
    );
  }
  // Heavy modules are loaded only here: `synkti --help` and the local demo never pay for them.
  const emulator = await import('@synkti/aws-emulator');
  const { synthesizeServeFleetRoles } = await import('@synkti/infra/testing');
  const { cluster } = options;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), `synkti-${cluster}-`));
  const cleanups: (() => Promise<void> | void)[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const fn of cleanups.reverse())
        await Promise.resolve()
          .then(fn)
          .catch(() => undefined);
      if (!options.keepState) rmSync(stateDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    const artifactDir = join(stateDir, 'artifacts');
    mkdirSync(artifactDir, { recursive: true });
    // Packing the agent (~5 s) overlaps starting moto and synthesizing the stack's roles.
    const packing = Promise.all([packAgentArtifact({ outDir: artifactDir }), emulator.makeNodeTarball(artifactDir)]);
    packing.catch(() => undefined);
    const moto = await emulator.startMotoServer({ env: { ...emulator.MOTO_IAM_ENV }, logFile: join(stateDir, 'moto.log') });
    cleanups.push(() => moto.stop());
    const admin = moto.clientConfig();
    const ec2 = new EC2Client(admin);
    const ssm = new SSMClient(admin);
    cleanups.push(() => {
      ec2.destroy();
      ssm.destroy();
    });
    const network = await emulator.ensureEmulatedNetwork(ec2, moto.region);

    // The worker role exactly as the stack would create it, in this emulated account.
    const roles = await synthesizeServeFleetRoles(
      {
        projectName: cluster,
        agentReplacement: true,
        vpcId: network.vpcId,
        subnetIds: network.subnets.map((s) => s.subnetId),
        imageId: network.imageId,
      },
      { stack: 'dev', workerSecurityGroupId: network.securityGroupId },
    );
    if (options.denyActions?.length) {
      const deny = new Set(options.denyActions);
      for (const role of roles)
        for (const policy of [...role.inlinePolicies, ...role.customerManagedPolicies])
          dropActions(policy.document as { Statement: unknown }, deny);
    }
    const truth = await emulator.startIamTruth({ moto, roles });
    cleanups.push(() => truth.stop());
    const workerRole = truth.roles.find((r) => r.name === `${cluster}-worker`);
    const profile = workerRole?.instanceProfiles[0];
    if (!profile)
      throw new SynktiError(
        'E_DEMO',
        `the synthesized stack has no instance profile for ${cluster}-worker (roles: ${truth.roles.map((r) => r.name).join(', ')})`,
      );
    const instances = new emulator.InstanceEmulator({
      moto,
      stateDir,
      awsEndpoint: truth.endpoint,
      credentialsFor: (instance) => truth.credentialsFor(instance),
    });
    await instances.start();
    cleanups.push(() => instances.stop());

    const [agent, node] = await packing;
    // The stack's bucket names: <project>-models-<account>, <project>-checkpoints-<account>.
    const bucket = `${cluster}-models-${moto.accountId}`;
    const checkpoints = `${cluster}-checkpoints-${moto.accountId}`;
    const projectDir = join(stateDir, 'project');
    mkdirSync(projectDir, { recursive: true });
    const configFile = join(projectDir, 'synkti.config.ts');
    writeFileSync(configFile, configText(cluster, options.workers, bucket, moto.region, options.tokenLatency ?? '15ms'));
    const modelDir = writeModel(stateDir);
    const env = cliEnv(moto.env(), truth.endpoint);
    const launchArgs = (): string[] => [
      '--bucket',
      bucket,
      '--version',
      agent.version,
      '--sha256',
      agent.sha256,
      '--node-version',
      node.version,
      '--node-sha256',
      node.sha256,
      '--image-id',
      network.imageId,
      ...network.subnets.flatMap((s) => ['--subnet', `${s.subnetId}:${s.zone}`]),
      '--security-group',
      network.securityGroupId,
      '--instance-profile',
      profile.arn,
    ];
    return {
      cluster,
      stateDir,
      projectDir,
      configFile,
      moto,
      network,
      truth,
      instances,
      bootstrapArgs: (workers) => [
        'bootstrap',
        '--project',
        cluster,
        '--skip-infra',
        '--json',
        '--bucket',
        bucket,
        '--checkpoints-bucket',
        checkpoints,
        '--artifact',
        agent.file,
        '--version',
        agent.version,
        '--node-tarball',
        node.file,
        '--node-version',
        node.version,
        '--model-dir',
        modelDir,
        '--workers',
        String(workers),
        '--image-id',
        network.imageId,
        ...network.subnets.flatMap((s) => ['--subnet', `${s.subnetId}:${s.zone}`]),
        '--security-group',
        network.securityGroupId,
        '--instance-profile',
        profile.arn,
      ],
      launchArgs,
      rewriteConfig: (tokenLatency) => writeFileSync(configFile, configText(cluster, options.workers, bucket, moto.region, tokenLatency)),
      cli: (args, timeoutMs = 180_000, extraEnv = {}) =>
        runProcess(['--config', configFile, ...args], { ...env, ...extraEnv }, projectDir, timeoutMs),
      async listFleet() {
        const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG_CLUSTER}`, Values: [cluster] }] }));
        return (out.Reservations ?? [])
          .flatMap((r) => r.Instances ?? [])
          .map((i) => ({
            id: i.InstanceId ?? '',
            ip: i.PrivateIpAddress ?? '',
            state: i.State?.Name ?? 'unknown',
            replaces: tagOf(i, TAG_REPLACES),
          }));
      },
      async secret() {
        const value = (await ssm.send(new GetParameterCommand({ Name: `/synkti/${cluster}/cluster-secret`, WithDecryption: true })))
          .Parameter?.Value;
        if (!value)
          throw new SynktiError('E_DEMO', `the cluster secret /synkti/${cluster}/cluster-secret is not in SSM`, {
            hint: 'run synkti bootstrap first',
          });
        return value;
      },
      async routerServing(ip) {
        try {
          const res = await fetch(`http://${ip}:${ROUTER_PORT}${ROUTER_HEALTH_PATH}`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
