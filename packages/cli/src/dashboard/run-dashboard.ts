import { spawn } from 'node:child_process';
import type { ClusterSpec } from '@synkti/core';
import { DashboardServer, FleetAggregator } from '@synkti/dashboard';
import { openLocalFleet } from '../local-fleet.ts';
import { createLocalFleetSource } from './local-fleet-source.ts';
import { openPipelineCounter, type PipelineCounter } from '@synkti/tasks';

export interface RunDashboardOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default 0 */
  port?: number;
  /** Open the login link in the default browser. @default false */
  open?: boolean;
  /** Batch state directory to show the newest run of. @default none */
  batchDir?: string | undefined;
  /** Pipeline task database (PostgreSQL URL or SQLite path) whose jobs by state to show. @default none (no pipeline panel) */
  pipelineDb?: string | undefined;
  /** Time between two looks at the fleet. @default 500 */
  intervalMs?: number;
  /** Print one JSON line ({ url, loginUrl }) instead of text. @default false */
  json?: boolean;
  /** Resolves to stop the dashboard. @default on SIGINT or SIGTERM */
  until?: Promise<void>;
}

function openBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]];
  const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => console.error(`could not open a browser (${command}): open the link above yourself`));
  child.unref();
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/**
 * `synkti dashboard`: watches the local fleet and serves the live page on 127.0.0.1 until
 * Ctrl-C. Prints a one-time login link (never the cluster secret).
 */
export async function runDashboard(spec: ClusterSpec, configFile: string, options: RunDashboardOptions = {}): Promise<void> {
  const pipelines: PipelineCounter | undefined = options.pipelineDb ? await openPipelineCounter(options.pipelineDb) : undefined;
  const fleet = openLocalFleet(spec, configFile);
  const source = createLocalFleetSource(fleet, { batchDir: options.batchDir });
  if (pipelines) source.pipelines = () => pipelines.stats();
  const aggregator = new FleetAggregator({ source, intervalMs: options.intervalMs });
  const server = new DashboardServer({ aggregator, secret: fleet.secret, port: options.port ?? 0 });
  const until = options.until ?? untilSignal();
  try {
    await aggregator.start();
    const { url, loginUrl } = await server.start();
    if (options.json) {
      console.log(JSON.stringify({ cluster: spec.name, url, loginUrl }));
    } else {
      console.log(`dashboard of ${spec.name}: ${url}`);
      console.log(`open this link to sign in (it works once): ${loginUrl}`);
      console.log(
        `or send the cluster secret: curl -H "Authorization: Bearer $(cat ${fleet.stateDir}/cluster-secret)" ${url}/api/snapshot`,
      );
      console.log('Ctrl-C to stop');
    }
    if (options.open) openBrowser(loginUrl);
    await until;
  } finally {
    aggregator.stop();
    await server.stop();
    source.close?.();
    await pipelines?.close();
  }
}
