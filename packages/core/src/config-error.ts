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

  constructor(source: string, issues: ConfigIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    const lines = issues.map((i) => `  - ${i.path || '(top level)'}: ${i.message}\n      hint: ${i.hint}`);
    super('E_CONFIG', `${source} has ${count}:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }

  override toUserString(): string {
    return this.message;
  }
}
