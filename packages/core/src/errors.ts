/**
 * Every error Synkti raises on purpose is a SynktiError: a stable `code` that scripts
 * can match, a message that says what happened, and a `hint` that says what to do.
 */
export class SynktiError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SynktiError';
    this.code = code;
    this.hint = options.hint;
  }

  /** One or two lines a person can act on: the message, then the hint. */
  toUserString(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

export function isSynktiError(error: unknown, code?: string): error is SynktiError {
  return error instanceof SynktiError && (code === undefined || error.code === code);
}
