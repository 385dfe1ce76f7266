import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SynktiError, type ClusterSpec } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import { openLocalFleet } from '../local-fleet.ts';
import { knownNodesHint } from './preempt.ts';

export interface LogsOptions {
  follow: boolean;
  /** Show the workload's output (model server) instead of the agent's console log. */
  workload?: boolean;
  /** Show only the last N lines first. @default 100 */
  lines: number;
  /** One JSON object per log line: { node, source, line, entry } (entry: the parsed line when it is JSON, else null). @default false */
  json?: boolean | undefined;
  signal?: AbortSignal;
}

/**
 * Turns text chunks into JSON lines, holding back a partial last line until its end
 * arrives (a followed log is read while it is being written).
 */
export function jsonLineWriter(
  node: string,
  source: 'agent' | 'workload',
  write: (text: string) => void,
): { push(text: string): void; flush(): void } {
  let pending = '';
  const emit = (line: string): void => {
    let entry: unknown = null;
    if (line.startsWith('{')) {
      try {
        entry = JSON.parse(line);
      } catch {
        entry = null;
      }
    }
    write(`${JSON.stringify({ node, source, line, entry })}\n`);
  };
  return {
    push(text: string) {
      const parts = (pending + text).split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) emit(line);
    },
    flush() {
      if (pending !== '') emit(pending);
      pending = '';
    },
  };
}

async function readRange(file: string, start: number, end: number): Promise<string> {
  if (end <= start) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start, end: end - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `synkti logs <id>`: an instance's console log (agent and workload output); `-f` follows it. */
export async function logs(
  spec: ClusterSpec,
  configFile: string,
  id: string,
  options: LogsOptions,
  writeText: (text: string) => void = (t) => process.stdout.write(t),
): Promise<void> {
  if (spec.provider === 'aws') {
    throw new SynktiError(
      'E_PROVIDER',
      `synkti logs reads local nodes' logs; on ${spec.name}'s EC2 workers the agent logs to the journal`,
      {
        hint: `open a shell with \`synkti ssh ${id}\`, then \`journalctl -u synkti -f\` (workload: /var/log/synkti/workload.log)`,
      },
    );
  }
  const fleet = openLocalFleet(spec, configFile);
  let file: string;
  let instance: string;
  try {
    const all = await listAllInstances(fleet.cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
    const matches = all.filter((r) => r.id === id || r.id.startsWith(id));
    if (matches.length === 0) {
      throw new SynktiError('E_NOT_FOUND', `no instance ${id} in cluster ${spec.name}`, {
        hint: knownNodesHint(all.filter((r) => r.state !== 'terminated').map((r) => r.id)),
      });
    }
    if (matches.length > 1) throw new SynktiError('E_USAGE', `${id} matches ${matches.length} instances`, { hint: 'give more of the id' });
    instance = matches[0]!.id;
    file = options.workload
      ? join(fleet.cloud.instances.instanceDir(instance), 'workload.log')
      : fleet.cloud.instances.consoleLogPath(instance);
  } finally {
    fleet.close();
  }
  // The node exists (not a usage error): its log is just not written yet.
  if (!existsSync(file))
    throw new SynktiError('E_NO_LOG', `instance ${instance} has no log yet (${file})`, {
      hint: 'a node writes its log once it boots: try again in a few seconds',
    });
  const lineWriter = options.json ? jsonLineWriter(instance, options.workload ? 'workload' : 'agent', writeText) : undefined;
  const write = lineWriter ? (text: string) => lineWriter.push(text) : writeText;
  let position = statSync(file).size;
  const text = await readRange(file, 0, position);
  const lines = text.split('\n');
  const tail = lines.slice(Math.max(0, lines.length - 1 - options.lines)).join('\n');
  write(tail);
  while (options.follow && !options.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 250));
    const size = existsSync(file) ? statSync(file).size : position;
    if (size > position) {
      write(await readRange(file, position, size));
      position = size;
    }
  }
  lineWriter?.flush();
}
