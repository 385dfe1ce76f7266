/**
 * runPreemptible: the one owner of a preemptible worker's shutdown (batch workers, pipeline
 * agents), the way BullMQ's Worker.close() owns its own. Callers build a worker and hand it
 * over; this starts it and stops it exactly once, whichever comes first:
 * - SIGTERM / SIGINT (an ECS task being stopped, Fargate Spot's interruption, Ctrl-C):
 *   every running task is handed back at once, then the worker stops;
 * - a spot interruption notice (IMDSv2, watched by cloud's NoticeWatcher when instance
 *   metadata is available): leases released first (every second here is a second peers
 *   wait), then the worker stops without waiting for handlers that are already aborted;
 * - the caller's AbortSignal: handed back and stopped like a signal.
 * It resolves with what happened and the exit code; the process exit stays with the caller
 * (a main file), so it can be used in-process by tests and demos.
 */
import type { EventEmitter } from 'node:events';
import { IMDS_ENDPOINT_ENV, NoticeWatcher, createImdsClient, type InstanceMetadata, type InterruptionNotice } from '@synkti/cloud';

/** What runPreemptible drives: the task Worker and the PipelineAgent both fit. */
export interface PreemptibleWorker {
  start(): void;
  /** Stops taking work; with `release: true` hands running work back first. Idempotent. */
  stop(options?: { release?: boolean }): Promise<void>;
  /** Hands every running task back at once; returns how many. */
  releaseAll(reason?: string): Promise<number>;
}

export type PreemptionCause = 'signal' | 'notice' | 'abort' | 'error';

export interface PreemptibleOutcome {
  /** 0 after an orderly stop (a preemption is orderly), 1 when stopping the worker threw. */
  code: number;
  cause: PreemptionCause;
  /** The signal received, for cause 'signal'. */
  signal?: NodeJS.Signals | undefined;
  /** The notice seen, for cause 'notice'. */
  notice?: InterruptionNotice | undefined;
  /** Tasks handed back by the notice path (the signal path hands back inside stop). */
  released: number;
}

export interface RunPreemptibleOptions {
  /**
   * Where spot interruption notices come from. 'auto' watches instance metadata when
   * SYNKTI_IMDS_ENDPOINT is set (local and emulated instances); null never watches (an ECS
   * task: Fargate Spot says SIGTERM, not IMDS).
   * @default 'auto'
   */
  metadata?: InstanceMetadata | 'auto' | null | undefined;
  /**
   * Instance metadata poll interval.
   * @default 5000 (AWS's advice)
   */
  noticePollMs?: number | undefined;
  /** Aborting stops the worker like SIGTERM. */
  signal?: AbortSignal | undefined;
  /**
   * Signals that mean "hand back and stop".
   * @default ['SIGTERM', 'SIGINT']
   */
  signals?: NodeJS.Signals[] | undefined;
  /**
   * Where the signal handlers go (tests pass an EventEmitter instead of the real process).
   * @default process
   */
  process?: Pick<EventEmitter, 'on' | 'off'> | undefined;
  /** @default ignore */
  log?: ((line: string) => void) | undefined;
  /** Called once the worker is started (and the watcher, if any, polling). */
  onStarted?: ((info: { watchingNotices: boolean }) => void) | undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Starts `worker` and resolves once it has stopped for one of the causes above. */
export async function runPreemptible(worker: PreemptibleWorker, options: RunPreemptibleOptions = {}): Promise<PreemptibleOutcome> {
  const log = options.log ?? (() => {});
  const proc = options.process ?? process;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let finish!: (outcome: PreemptibleOutcome) => void;
  const finished = new Promise<PreemptibleOutcome>((resolve) => {
    finish = resolve;
  });
  let stopping = false;

  const stop = async (outcome: Omit<PreemptibleOutcome, 'code'>, release: boolean): Promise<void> => {
    if (stopping) return;
    stopping = true;
    let code = 0;
    try {
      await worker.stop({ release });
    } catch (error) {
      log(`stopping the worker failed: ${message(error)}`);
      code = 1;
    }
    finish({ ...outcome, code });
  };

  const handlers = signals.map((name) => {
    const handler = (): void => {
      log(`${name}: handing tasks back and stopping`);
      void stop({ cause: 'signal', signal: name, released: 0 }, true);
    };
    proc.on(name, handler);
    return { name, handler };
  });
  const onAbort = (): void => {
    void stop({ cause: 'abort', released: 0 }, true);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const metadata =
    options.metadata === undefined || options.metadata === 'auto'
      ? process.env[IMDS_ENDPOINT_ENV]
        ? createImdsClient()
        : null
      : options.metadata;
  let watcher: NoticeWatcher | undefined;
  try {
    if (metadata) {
      watcher = new NoticeWatcher({
        metadata,
        pollIntervalMs: options.noticePollMs ?? 5000,
        onInterruption: async (notice) => {
          if (stopping) return;
          let released = 0;
          try {
            released = await worker.releaseAll();
          } catch (error) {
            log(`handing tasks back failed (their leases will run out instead): ${message(error)}`);
          }
          log(`spot interruption notice (reclaimed at ${new Date(notice.time).toISOString()}): released ${released} task(s), exiting`);
          await stop({ cause: 'notice', notice, released }, false);
        },
        onError: (error) => log(`instance metadata: ${message(error)}`),
      });
    }
    if (options.signal?.aborted) onAbort();
    else {
      worker.start();
      watcher?.start();
      options.onStarted?.({ watchingNotices: watcher !== undefined });
    }
  } catch (error) {
    log(`starting the worker failed: ${message(error)}`);
    stopping = true;
    await worker.stop().catch(() => {});
    finish({ cause: 'error', code: 1, released: 0 });
  }

  const outcome = await finished;
  await watcher?.stop();
  for (const { name, handler } of handlers) proc.off(name, handler);
  options.signal?.removeEventListener('abort', onAbort);
  return outcome;
}
