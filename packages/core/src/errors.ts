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
  // The packaged CLI's fast entry bundles its own copy of this module: recognise a
  // SynktiError from either copy by its shape, not only by its class.
  const synkti =
    error instanceof SynktiError ||
    (error instanceof Error &&
      typeof (error as { code?: unknown }).code === 'string' &&
      typeof (error as { toUserString?: unknown }).toUserString === 'function');
  return synkti && (code === undefined || (error as SynktiError).code === code);
}
