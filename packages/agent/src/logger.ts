import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * pino JSON logs; level from SYNKTI_LOG_LEVEL (default info). Secrets are never passed to it.
 * `time` is ISO-8601 UTC with milliseconds ("2026-12-07T12:00:00.123Z"), the one timestamp
 * format of every Synkti log (the local instance host's lines use it too), so an agent's
 * line and its host's line side by side compare at a glance.
 */
export function createLogger(bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level: process.env.SYNKTI_LOG_LEVEL ?? 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    base: bindings,
    redact: { paths: ['secret', '*.secret', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
