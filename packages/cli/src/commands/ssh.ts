/**
 * `synkti ssh <node>`: a shell on a node through AWS Systems Manager Session Manager:
 * no SSH key, no open port (invariant 8). The node is named by instance id, a unique id
 * prefix, its private IP, or its Name tag. It runs `aws ssm start-session --target <id>`
 * with this terminal attached, so the aws CLI and its session-manager-plugin must be
 * installed (checked first, with the install link). Local nodes are processes on this
 * machine: there is nothing to log in to, so the command says where their process and log are.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, type ClusterSpec } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import { openFleet } from '../fleet/fleet-access.ts';

export const AWS_CLI_INSTALL_URL = 'https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html';
export const SSM_PLUGIN_INSTALL_URL =
  'https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html';

/**
 * The one live instance `wanted` names: an exact id, a unique id prefix, an exact
 * private IP or an exact Name tag. Ambiguity and absence are errors that list the choices.
 */
export function resolveNode(records: InstanceRecord[], wanted: string, cluster: string): InstanceRecord {
  const want = wanted.trim();
  if (want === '') throw new SynktiError('E_USAGE', 'no node given', { hint: 'pass an instance id (see `synkti status`)' });
  const exact = records.filter((r) => r.id === want || (r.privateIp !== '' && r.privateIp === want));
  const candidates =
    exact.length > 0
      ? exact
      : records.filter((r) => r.tags.Name === want).length > 0
        ? records.filter((r) => r.tags.Name === want)
        : records.filter((r) => r.id.startsWith(want));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    const known = records
      .slice(0, 10)
      .map((r) => r.id)
      .join(', ');
    throw new SynktiError('E_NOT_FOUND', `no live node ${JSON.stringify(want)} in cluster ${cluster}`, {
      hint: records.length
        ? `nodes: ${known}${records.length > 10 ? ', …' : ''} (a unique id prefix, private IP or Name tag works too)`
        : 'the cluster has no live node: `synkti status`',
    });
  }
  throw new SynktiError(
    'E_USAGE',
    `${JSON.stringify(want)} matches ${candidates.length} nodes (${candidates.map((r) => r.id).join(', ')})`,
    { hint: 'give more of the id' },
  );
}

/** The executable `name` on PATH, or undefined. */
export function findOnPath(name: string, pathValue: string | undefined): string | undefined {
  for (const dir of (pathValue ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The aws CLI, after checking the session-manager-plugin is installed too. */
export function ssmTools(env: NodeJS.ProcessEnv): { aws: string; plugin: string } {
  const aws = findOnPath('aws', env.PATH);
  if (!aws) {
    throw new SynktiError('E_TOOL_MISSING', '`synkti ssh` needs the AWS CLI (aws), which is not on PATH', {
      hint: `install AWS CLI v2: ${AWS_CLI_INSTALL_URL} (then the Session Manager plugin: ${SSM_PLUGIN_INSTALL_URL})`,
    });
  }
  const plugin = findOnPath('session-manager-plugin', env.PATH);
  if (!plugin) {
    throw new SynktiError(
      'E_TOOL_MISSING',
      '`synkti ssh` needs the Session Manager plugin for the AWS CLI (session-manager-plugin), which is not on PATH',
      {
        hint: `install it: ${SSM_PLUGIN_INSTALL_URL}`,
      },
    );
  }
  return { aws, plugin };
}

export interface SshOptions {
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /** Environment for PATH and the aws CLI. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** Run the session (tests pass a stub). @default spawn with this terminal attached */
  run?: ((command: string, args: string[], env: NodeJS.ProcessEnv) => Promise<number>) | undefined;
}

export type SshOutcome =
  | { kind: 'local'; id: string; pid: number | undefined; logPath: string; workloadLogPath: string }
  | { kind: 'aws'; id: string; exitCode: number; command: string[] };

function runAttached(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    // Ctrl-C belongs to the remote shell: the session manager plugin forwards it.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    child.on('error', (error) => {
      process.off('SIGINT', ignore);
      reject(new SynktiError('E_SSM', `could not run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}

export async function ssh(spec: ClusterSpec, configFile: string, node: string, options: SshOptions = {}): Promise<SshOutcome> {
  const env = options.env ?? process.env;
  // On aws, the tools first: a missing one is found before any EC2 call.
  const tools = spec.provider === 'aws' ? ssmTools(env) : undefined;
  const fleet = openFleet(spec, { configFile, ec2Client: options.ec2Client, env });
  let record: InstanceRecord;
  try {
    record = resolveNode(await fleet.list(), node, spec.name);
    if (fleet.local) {
      const instances = fleet.local.cloud.instances;
      return {
        kind: 'local',
        id: record.id,
        pid: instances.hostPid(record.id),
        logPath: instances.consoleLogPath(record.id),
        workloadLogPath: join(instances.instanceDir(record.id), 'workload.log'),
      };
    }
  } finally {
    fleet.close();
  }
  if (record.state !== 'running') {
    throw new SynktiError('E_NOT_RUNNING', `node ${record.id} is ${record.state}: Session Manager reaches running instances only`, {
      hint: 'wait for it to run (`synkti status`), or pick another node',
    });
  }
  const aws = tools?.aws ?? ssmTools(env).aws;
  const args = ['ssm', 'start-session', '--target', record.id, '--region', spec.region];
  const exitCode = await (options.run ?? runAttached)(aws, args, env);
  return { kind: 'aws', id: record.id, exitCode, command: [aws, ...args] };
}

export function describeLocalNode(outcome: Extract<SshOutcome, { kind: 'local' }>): string {
  return [
    `${outcome.id} is a local node: a process on this machine, with no shell to log in to.`,
    `  process:  ${outcome.pid === undefined ? '(not running)' : `pid ${outcome.pid}`}`,
    `  log:      ${outcome.logPath}`,
    `  workload: ${outcome.workloadLogPath}`,
    `Follow it with \`synkti logs ${outcome.id} -f\` (add --workload for the model server's output).`,
  ].join('\n');
}
