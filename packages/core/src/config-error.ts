import { SynktiError } from './errors.ts';

export interface ConfigIssue {
  /** Dotted path of the bad field, e.g. `pools.worker.count`. */
  path: string;
  message: string;
  hint: string;
}

/** A config with one or more bad fields; lists every one of them. */
export class ConfigError extends SynktiError {
  readonly issues: ConfigIssue[];

  /**
   * @param source what was validated, named in the message's first line (a file path)
   * @param issues every bad field, in the order found
   */
  constructor(source: string, issues: ConfigIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    const lines = issues.map((i) => `  - ${i.path || '(top level)'}: ${i.message}\n      hint: ${i.hint}`);
    // Each issue carries its own hint; the top-level one is for code that only reads `.hint`.
    super('E_CONFIG', `${source} has ${count}:\n${lines.join('\n')}`, {
      hint: `fix the ${issues.length === 1 ? 'field' : 'fields'} listed in ${source}; each has its own hint`,
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }

  /** The message already carries a hint under each problem. */
  override toUserString(): string {
    return this.message;
  }
}
