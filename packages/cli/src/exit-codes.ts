/** Exit codes scripts can rely on. */
export const EXIT = {
  ok: 0,
  /** A user error: bad config, bad flag, missing file. */
  usage: 2,
  /** The fleet did not reach the asked-for state in time. */
  timeout: 3,
  /** Anything else that went wrong. */
  failure: 1,
} as const;
