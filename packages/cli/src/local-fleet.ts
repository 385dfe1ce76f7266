import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynktiError, TAG_CLUSTER, TAG_PORT_AGENT, type ClusterSpec } from '@synkti/core';
import { createLocalCloud, listAllInstances, type InstanceRecord, type LocalCloud } from '@synkti/cloud';
import { AGENT_API_PATHS, parseAgentStatus, type AgentStatus as ContractAgentStatus } from '@synkti/core/contracts';

/** Where the agent's entry point is: each local instance boots it, as an EC2 worker boots from user data. */
export const AGENT_MAIN = fileURLToPath(new URL('../../agent/src/main.ts', import.meta.url));

/** The `.synkti/<cluster>/` state directory beside the config file (or SYNKTI_STATE_DIR). */
export function stateDirFor(spec: ClusterSpec, configFile: string): string {
  const base = process.env.SYNKTI_STATE_DIR ?? join(dirname(configFile), '.synkti');
  return resolve(base, spec.name);
}

/** The cluster secret that authenticates agent APIs; created (0600) on first use. */
export function ensureClusterSecret(stateDir: string): { secret: string; file: string } {
  const file = join(stateDir, 'cluster-secret');
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  }
  return { secret: readFileSync(file, 'utf8').trim(), file };
}

/** tsx's ESM loader as a URL, so a child process finds it whatever its working directory. */
export function tsxLoader(): string {
  return import.meta.resolve('tsx');
}

/**
 * What each local instance boots: the agent's sources through tsx, or with SYNKTI_AGENT_ENTRY
 * an installed release's compiled entry (bin/synkti-agent.mjs of an unpacked agent release,
 * `synkti worker pack`), as an EC2 worker runs it. Read when the cloud is opened: the saved
 * boot command is what later launches use.
 */
export function agentBootCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const entry = env.SYNKTI_AGENT_ENTRY;
  if (entry === undefined || entry === '') return [process.execPath, '--import', tsxLoader(), AGENT_MAIN];
  if (!isAbsolute(entry) || !existsSync(entry)) {
    throw new SynktiError('E_USAGE', `SYNKTI_AGENT_ENTRY is not an existing absolute path: ${entry}`, {
      hint: 'point it at bin/synkti-agent.mjs of an unpacked release (synkti worker pack), or unset it to run the sources',
    });
  }
  return [process.execPath, entry];
}

export interface LocalFleet {
  spec: ClusterSpec;
  stateDir: string;
  secret: string;
  cloud: LocalCloud;
  close(): void;
}

/** Opens (and on first use sets up) the embedded local cloud of a cluster. */
export function openLocalFleet(spec: ClusterSpec, configFile: string): LocalFleet {
  if (spec.provider !== 'local') {
    throw new SynktiError('E_PROVIDER', `this command runs the local provider; ${spec.name} uses provider '${spec.provider}'`, {
      hint: 'set provider: "local" in synkti.config.ts to run the fleet on this machine',
    });
  }
  const stateDir = stateDirFor(spec, configFile);
  const { secret, file } = ensureClusterSecret(stateDir);
  const cloud = createLocalCloud({
    stateDir,
    bootCommand: agentBootCommand(),
    env: {
      SYNKTI_CLUSTER_SECRET_FILE: file,
      SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'info',
      // glibc: blocks of 32 KB and up mmap'd, so freed ones go back to the OS. V8's one-off
      // optimizing compile of undici's WebAssembly HTTP parser (~30 MB of 32 KB zones on a
      // worker thread) otherwise stays 1-9 MB resident in that thread's arena (issue 25).
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '32768',
      ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    },
  });
  return { spec, stateDir, secret, cloud, close: () => cloud.close() };
}

/** Opens an existing local cluster's state without changing how it boots instances. */
export function clusterInstances(fleet: LocalFleet, includeTerminated = false): Promise<InstanceRecord[]> {
  return listAllInstances(fleet.cloud.instances, {
    tags: { [TAG_CLUSTER]: fleet.spec.name },
    states: includeTerminated ? ['pending', 'running', 'shutting-down', 'terminated'] : ['pending', 'running', 'shutting-down'],
  });
}

export function agentUrl(record: InstanceRecord, defaultPort: number): string {
  const port = record.tags[TAG_PORT_AGENT] ?? String(defaultPort);
  return `http://${record.privateIp}:${port}`;
}

/**
 * GET an agent's /status, checked against @synkti/core/contracts agentStatusSchema;
 * undefined when it does not answer or answers something that is not a status.
 */
export async function fetchAgentStatus(url: string, secret: string, timeoutMs = 1000): Promise<ContractAgentStatus | undefined> {
  return parseAgentStatus(await fetchAgent<unknown>(url, secret, AGENT_API_PATHS.status, timeoutMs));
}

/** The most an agent answer may hold: a fleet's status is kilobytes; a peer that streams more is cut. */
const MAX_AGENT_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * GET an agent endpoint with the cluster secret; undefined when it does not answer (or
 * answers with an error, too much, or not JSON). node:http rather than fetch: every read
 * command calls this, and fetch's first use loads undici and web streams (~35 ms of a
 * `synkti status` that aims at < 300 ms).
 */
export function fetchAgent<T>(url: string, secret: string, path: string, timeoutMs = 1000): Promise<T | undefined> {
  return new Promise((resolve) => {
    let request: ReturnType<typeof httpGet>;
    try {
      request = httpGet(url + path, { headers: { authorization: `Bearer ${secret}` }, timeout: timeoutMs });
    } catch {
      resolve(undefined);
      return;
    }
    const deadline = setTimeout(() => request.destroy(), timeoutMs);
    const done = (value: T | undefined) => {
      clearTimeout(deadline);
      resolve(value);
    };
    request.on('timeout', () => request.destroy());
    request.on('error', () => done(undefined));
    request.on('response', (response) => {
      if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode > 299) {
        response.resume();
        done(undefined);
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      response.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_AGENT_ANSWER_BYTES) request.destroy();
        else chunks.push(chunk);
      });
      response.on('error', () => done(undefined));
      response.on('end', () => {
        try {
          done(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        } catch {
          done(undefined);
        }
      });
    });
  });
}
