import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** pino JSON logs; level from SYNKTI_LOG_LEVEL (default info). Secrets are never passed to it. */
export function createLogger(bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level: process.env.SYNKTI_LOG_LEVEL ?? 'info',
    base: bindings,
    redact: { paths: ['secret', '*.secret', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
