/**
 * Command-line entry of the stand-in model server (no model; deterministic filler tokens).
 *   node --import tsx packages/agent/src/stand-in/main.ts --port 8000
 * SIGTERM/SIGINT drain in-flight requests (up to --shutdown-grace) and exit 0.
 */
import { formatDuration, isSynktiError } from '@synkti/core';
import { parseStandInArgs, STAND_IN_USAGE, type StandInCommandOptions } from './args.ts';
import { startStandInServer } from './server.ts';

async function main(): Promise<void> {
  let options: StandInCommandOptions | 'help';
  try {
    options = parseStandInArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`error: ${isSynktiError(error) ? error.toUserString() : String(error)}\n`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(`${STAND_IN_USAGE}\n`);
    return;
  }
  let modelLine = '';
  if (options.modelDir !== undefined) {
    // Like a real server that loads weights: a model that is not all there is not served.
    try {
      const { verifyModelDir } = await import('../model/model-verify.ts');
      const verified = await verifyModelDir(options.modelDir);
      modelLine = ` model-dir=${options.modelDir} (${verified.files} files, ${verified.bytes} bytes, SHA-256 verified)`;
    } catch (error) {
      process.stderr.write(`error: --model-dir: ${isSynktiError(error) ? error.toUserString() : String(error)}\n`);
      process.exit(1);
    }
  }
  let server;
  try {
    server = await startStandInServer(options);
  } catch (error) {
    process.stderr.write(`error: ${isSynktiError(error) ? error.toUserString() : String(error)}\n`);
    process.exit(1);
  }
  const started = server;
  process.stderr.write(
    `synkti stand-in model server (NOT a real model: deterministic filler tokens, a stand-in for vLLM) ` +
      `listening on ${started.url} model=${started.model} token-latency=${formatDuration(options.tokenLatencyMs ?? 20)} ` +
      `startup-delay=${formatDuration(options.startupDelayMs ?? 0)} served-by=${options.servedBy ?? process.env.SYNKTI_INSTANCE_ID ?? 'stand-in'}${modelLine} pid=${process.pid}\n`,
  );
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`stand-in: ${signal}, draining ${started.inFlight()} in-flight request(s)\n`);
    started.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stand-in: stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

await main();
