/** Flags of the stand-in's command line, turned into StandInServerOptions. */
import { parseArgs } from 'node:util';
import { parseDuration, SynktiError } from '@synkti/core';
import { STAND_IN_DEFAULT_MODEL } from './server.ts';
import type { StandInServerOptions } from './server.ts';

/** The server's options and what the command does before it serves. */
export interface StandInCommandOptions extends StandInServerOptions {
  /** A model directory to check against its synkti-manifest.json before serving (the stand-in then proves the model arrived). */
  modelDir?: string;
}

export const STAND_IN_USAGE = `synkti stand-in model server: an OpenAI-compatible STAND-IN for vLLM.
It loads no model and returns deterministic filler tokens; use it for demos and tests only.

usage: node --import tsx packages/agent/src/stand-in/main.ts [options]

options:
  --port <n>               TCP port (0 picks a free one)            default 8000
  --host <addr>            address to bind                          default 127.0.0.1
  --token-latency <dur>    delay per generated token, e.g. 20ms     default 20ms
  --startup-delay <dur>    /health answers 503 this long (model load) default 0s
  --model <id>             the one model id served                  default ${STAND_IN_DEFAULT_MODEL}
  --served-by <id>         x-served-by header value                 default $SYNKTI_INSTANCE_ID or stand-in
  --shutdown-grace <dur>   on SIGTERM, time given to in-flight requests default 30s
  --max-running <n>        requests generated at once (an engine's batch); more wait
                           in a queue (vllm:num_requests_waiting); 0 = no limit default 0
  --model-dir <dir>        before serving, check every file of the model a node fetched
                           against <dir>/synkti-manifest.json (size and SHA-256);
                           exit 1 naming the file when one does not match
  -h, --help               show this help

endpoints: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions
header x-stand-in-token-latency-ms overrides the token latency of one request.`;

/** Turns argv into server options; throws SynktiError('E_USAGE') naming the bad flag. */
export function parseStandInArgs(argv: string[]): StandInCommandOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'token-latency': { type: 'string' },
        'startup-delay': { type: 'string' },
        model: { type: 'string' },
        'served-by': { type: 'string' },
        'shutdown-grace': { type: 'string' },
        'model-dir': { type: 'string' },
        'max-running': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new SynktiError('E_USAGE', (error as Error).message, { hint: 'run with --help to see the options' });
  }
  if (values.help === true) return 'help';
  const options: StandInCommandOptions = {};
  if (typeof values.port === 'string') {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      throw new SynktiError('E_USAGE', `--port: "${values.port}" is not a port number`, {
        hint: 'use an integer from 0 to 65535, e.g. --port 8000',
      });
    }
    options.port = port;
  }
  if (typeof values.host === 'string') {
    if (values.host.trim() === '') throw new SynktiError('E_USAGE', '--host: empty address', { hint: 'e.g. --host 127.0.0.1' });
    options.host = values.host;
  }
  if (typeof values.model === 'string') {
    if (values.model.trim() === '')
      throw new SynktiError('E_USAGE', '--model: empty model id', { hint: `e.g. --model ${STAND_IN_DEFAULT_MODEL}` });
    options.model = values.model;
  }
  if (typeof values['served-by'] === 'string') options.servedBy = values['served-by'];
  if (typeof values['max-running'] === 'string') {
    const raw = values['max-running'];
    if (!/^\d+$/.test(raw) || Number(raw) > 100_000) {
      throw new SynktiError('E_USAGE', `--max-running: "${raw}" is not a whole number from 0 to 100000`, {
        hint: 'e.g. --max-running 8 (0 = no limit)',
      });
    }
    options.maxRunning = Number(raw);
  }
  if (typeof values['model-dir'] === 'string') {
    if (values['model-dir'].trim() === '')
      throw new SynktiError('E_USAGE', '--model-dir: empty path', {
        hint: 'e.g. --model-dir /var/lib/synkti/models/qwen2.5-7b (in a cluster config: --model-dir {modelPath})',
      });
    options.modelDir = values['model-dir'];
  }
  const duration = (flag: string): number | undefined => {
    const raw = values[flag];
    if (typeof raw !== 'string') return undefined;
    try {
      return parseDuration(raw, `--${flag}`);
    } catch (error) {
      throw new SynktiError('E_USAGE', (error as Error).message, { hint: 'write a duration like 20ms, 5s or "2 minutes"' });
    }
  };
  const tokenLatencyMs = duration('token-latency');
  if (tokenLatencyMs !== undefined) options.tokenLatencyMs = tokenLatencyMs;
  const startupDelayMs = duration('startup-delay');
  if (startupDelayMs !== undefined) options.startupDelayMs = startupDelayMs;
  const shutdownGraceMs = duration('shutdown-grace');
  if (shutdownGraceMs !== undefined) options.shutdownGraceMs = shutdownGraceMs;
  return options;
}
