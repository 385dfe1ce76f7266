/**
 * `synkti doctor`: runs every check it can and reports each as a finding (ok / warn /
 * fail, with a fix line), instead of stopping at the first problem. Exit code 1 when any
 * check failed. Checks that depend on the config (provider checks) run only when it loads.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { isSynktiError, loadClusterConfig, type ClusterSpec } from '@synkti/core';
import { doctorExitCode, fail, ok, warn, type Finding } from './doctor-finding.ts';

export const MIN_NODE_VERSION = '20.11.0';
export const PULUMI_INSTALL_URL = 'https://www.pulumi.com/docs/install/';

export interface DoctorOptions {
  /** Cluster config file (the global -c/--config). @default the first synkti.config.* in `cwd` */
  configFile?: string | undefined;
  /** @default process.cwd() */
  cwd?: string | undefined;
  /** PATH and HOME (to find Pulumi), AWS_REGION. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** The running Node's version. @default process.versions.node */
  nodeVersion?: string | undefined;
  /** EC2 client for provider 'aws' (tests pass a mocked one). @default the SDK default chain */
  ec2Client?: EC2Client | undefined;
  /** SSM client for provider 'aws' (the cluster secret's parameter). @default the SDK default chain */
  ssmClient?: SSMClient | undefined;
  /** How long `pulumi version` may take. @default 15000 */
  pulumiTimeoutMs?: number | undefined;
}

export interface DoctorReport {
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  exitCode: 0 | 1;
  findings: Finding[];
}

function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.replace(/^v/, '').split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

export function nodeFinding(version: string): Finding {
  if (!versionAtLeast(version, MIN_NODE_VERSION)) {
    return fail(
      'node',
      `Node ${version} is too old: Synkti needs >= ${MIN_NODE_VERSION}`,
      'install Node 20.11 or later (https://nodejs.org, or `nvm install 20`)',
    );
  }
  // The CLI silences the AWS SDK's own Node-version warning on every command (cli.ts);
  // this is where the user hears about it, once.
  if (!versionAtLeast(version, '22.0.0')) {
    return ok(
      'node',
      `Node ${version} (>= ${MIN_NODE_VERSION}); note: AWS SDK releases from January 2027 need Node >= 22 (Synkti pins SDK versions that run on 20)`,
    );
  }
  return ok('node', `Node ${version} (>= ${MIN_NODE_VERSION})`);
}

async function configFinding(o: DoctorOptions): Promise<{ finding: Finding; spec?: ClusterSpec; file?: string }> {
  try {
    const { spec, file } = await loadClusterConfig({ file: o.configFile, cwd: o.cwd });
    return {
      finding: ok('config', `${file}: cluster ${spec.name}, provider ${spec.provider}, ${Object.keys(spec.pools).length} pool(s)`),
      spec,
      file,
    };
  } catch (error) {
    if (isSynktiError(error)) return { finding: fail('config', error.message, error.hint ?? 'fix the config file') };
    return { finding: fail('config', `the config does not load: ${(error as Error).message}`, 'fix the config file') };
  }
}

function findExecutable(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push(join(env.HOME ?? homedir(), '.pulumi', 'bin'));
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function pulumiFinding(env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<Finding> {
  const cli = findExecutable(process.platform === 'win32' ? 'pulumi.exe' : 'pulumi', env);
  const install = `install the Pulumi CLI: ${PULUMI_INSTALL_URL} (Linux/macOS: curl -fsSL https://get.pulumi.com | sh)`;
  if (cli === undefined) {
    return warn(
      'pulumi',
      'the Pulumi CLI is not on PATH (nor in ~/.pulumi/bin): `synkti infra preview/up/destroy` and the gitops workflow need it',
      install,
    );
  }
  return new Promise((done) => {
    execFile(cli, ['version'], { env, timeout: timeoutMs }, (error, stdout) => {
      if (error) done(warn('pulumi', `${cli} version failed: ${error.message.split('\n')[0]}`, `reinstall it: ${PULUMI_INSTALL_URL}`));
      else done(ok('pulumi', `Pulumi CLI ${stdout.trim()} (${cli})`));
    });
  });
}

export async function runDoctor(o: DoctorOptions = {}): Promise<DoctorReport> {
  const env = o.env ?? process.env;
  const findings: Finding[] = [nodeFinding(o.nodeVersion ?? process.versions.node)];
  const config = await configFinding(o);
  findings.push(config.finding);
  if (config.spec && config.file) {
    if (config.spec.provider === 'aws') {
      const { awsFindings } = await import('./doctor-aws.ts');
      findings.push(
        ...(await awsFindings({ cluster: config.spec.name, region: config.spec.region, client: o.ec2Client, ssmClient: o.ssmClient, env })),
      );
    } else {
      const [{ localFindings }, { stateDirFor }] = await Promise.all([import('./doctor-local.ts'), import('../local-fleet.ts')]);
      findings.push(...(await localFindings(stateDirFor(config.spec, config.file))));
    }
  }
  findings.push(await pulumiFinding(env, o.pulumiTimeoutMs));
  const exitCode = doctorExitCode(findings);
  return { ok: exitCode === 0, exitCode, findings };
}
