import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { loadClusterConfig, parseDuration } from '@synkti/core';

function portOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port from 0 to 65535 (0: any free port)');
  return n;
}

function intervalOption(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch {
    throw new InvalidArgumentError('expected a duration such as "500ms" or "2s"');
  }
  if (ms < 200) throw new InvalidArgumentError('at least 200ms (every look asks every agent)');
  return ms;
}

/** `synkti dashboard`: the live fleet in a browser, on 127.0.0.1 only. */
export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description(
      'live fleet dashboard in the browser (127.0.0.1 only): nodes, timeline of notices, drains, replacements and crashes, traffic, batch queue, pipeline jobs by state, cost rate; every agent also serves it at http://<node>:<agent port>/dashboard/',
    )
    .option('--port <port>', 'port on 127.0.0.1 (0: any free port)', portOption, 0)
    .option('--open', 'open the sign-in link in the default browser', false)
    .option('--interval <duration>', 'time between two looks at the fleet', intervalOption, 500)
    .option('--batch-dir <dir>', 'batch state directory whose newest run to show (default: .synkti/batch)')
    .option(
      '--pipeline-db <url>',
      'pipeline task database whose jobs by state to show: a PostgreSQL URL or an SQLite path (default: $SYNKTI_PIPELINE_DB, else .synkti/pipelines.db if it exists)',
    )
    .option('--json', 'print { url, loginUrl } as one JSON line instead of text', false)
    .action(
      async (
        options: { port: number; open: boolean; interval: number; batchDir?: string; pipelineDb?: string; json: boolean },
        command: Command,
      ) => {
        const { config } = command.optsWithGlobals<{ config?: string }>();
        const { spec, file } = await loadClusterConfig({ file: config, cwd: process.cwd() });
        const { runDashboard } = await import('../dashboard/run-dashboard.ts');
        await runDashboard(spec, file, {
          port: options.port,
          open: options.open,
          intervalMs: options.interval,
          json: options.json,
          // Where `synkti batch` keeps its runs (resolveBatchStateDir), without loading the batch code.
          batchDir: resolve(process.cwd(), options.batchDir ?? join(process.env.SYNKTI_STATE_DIR ?? '.synkti', 'batch')),
          pipelineDb:
            options.pipelineDb ??
            process.env.SYNKTI_PIPELINE_DB ??
            (existsSync('.synkti/pipelines.db') ? '.synkti/pipelines.db' : undefined),
        });
      },
    );
}
