/**
 * The steps of a drain, each run on its own: a step that throws is logged and recorded,
 * and the drain goes on to the next. What must happen at the end of every drain (untag,
 * announce `stopped`, leave) never depends on an earlier step having worked.
 */
import type { Logger } from './logger.ts';

export class DrainSteps {
  /** The names of the steps that threw, in order (reported in the drain report). */
  readonly failed: string[] = [];
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** Run a synchronous step now (no await: t=0 steps must happen before `draining` is announced). */
  runNow<T>(name: string, step: () => T): T | undefined {
    try {
      return step();
    } catch (error) {
      this.fail(name, error);
      return undefined;
    }
  }

  /** Run one step; its error (thrown or rejected) is logged and recorded, never rethrown. */
  async run<T>(name: string, step: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (error) {
      this.fail(name, error);
      return undefined;
    }
  }

  private fail(name: string, error: unknown): void {
    this.failed.push(name);
    this.logger.error({ err: error, step: name }, `drain step "${name}" failed; the drain goes on`);
  }
}
