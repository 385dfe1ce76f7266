/**
 * Exit codes scripts can rely on. README.md's "Exit codes" table lists each one
 * (tests/exit-codes-doc.test.ts checks the two agree).
 */
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong. */
  failure: 1,
  /** A user error: bad config, bad flag or argument, missing file, unknown pool or node. */
  usage: 2,
  /** The fleet did not reach the asked-for state in time. */
  timeout: 3,
  /** Refused by design; the message says how to ask for it: a protected bucket kept by `down`, `ssh` to a local node. */
  refused: 4,
  /** A tool the command runs is not installed (the message has the install link): the aws CLI or Session Manager plugin for `ssh`. */
  missingTool: 5,
} as const;

/**
 * Error codes that are the user's to fix (bad config, flag or argument). E_NOT_FOUND is
 * a node or worker named on the command line that the cluster does not have (`preempt`,
 * `logs`, `ssh`, `worker terminate`, `batch preempt`): README's table says an unknown node is a usage error.
 */
const USAGE_ERROR_CODES = new Set(['E_USAGE', 'E_EXISTS', 'E_NOT_FOUND']);

/** The exit code of a command that ended with a SynktiError of this code. */
export function exitCodeForError(code: string): (typeof EXIT)[keyof typeof EXIT] {
  if (code.startsWith('E_CONFIG') || USAGE_ERROR_CODES.has(code)) return EXIT.usage;
  if (code === 'E_TOOL_MISSING') return EXIT.missingTool;
  return EXIT.failure;
}
