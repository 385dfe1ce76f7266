/**
 * The environment a Pulumi stack injects into a service's tasks, as a contract: each
 * variable names the component output it comes from, so a worker started with a variable
 * missing can say exactly which output to wire (and infra builds the container
 * environment from the same table, so the two cannot drift). Pure: reads a record, no I/O.
 */
import { SynktiError } from '../errors.ts';

export interface StackVariable {
  /** Where the value comes from: `<Component>.<output>` (or `<Component> arg <name>`). */
  from: string;
  /** What it is, for messages and docs. */
  description: string;
  /** Optional variables may be absent; their readers use a default. @default false */
  optional?: boolean;
  /** Never echoed in messages (a database URL with a password, a token). @default false */
  secret?: boolean;
  /** Checks a present value; returns a reason it is wrong, or undefined. */
  check?: (value: string) => string | undefined;
}

export type StackEnvironmentSpec<K extends string> = Readonly<Record<K, StackVariable>>;

/** Values read from the environment: required ones are strings, optional ones may be undefined. */
export type StackEnvironment<K extends string> = Record<K, string | undefined>;

/** Longest value accepted (environment values are peer input: bound them). */
const MAX_VALUE_CHARS = 4096;

/**
 * Reads and validates every variable of `spec` from `env`. Throws E_CONFIG_STACK_ENV (an
 * exit 2 in the CLI) naming every missing or invalid variable and the output it comes from.
 */
export function readStackEnvironment<K extends string>(
  service: string,
  spec: StackEnvironmentSpec<K>,
  env: Readonly<Record<string, string | undefined>>,
): StackEnvironment<K> {
  const problems: string[] = [];
  const values = {} as StackEnvironment<K>;
  for (const name of Object.keys(spec) as K[]) {
    const variable = spec[name];
    const raw = env[name];
    const value = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
    if (value === undefined) {
      if (!variable.optional) problems.push(`${name} is not set (from ${variable.from}: ${variable.description})`);
      values[name] = undefined;
      continue;
    }
    const reason = value.length > MAX_VALUE_CHARS ? `is ${value.length} characters (at most ${MAX_VALUE_CHARS})` : variable.check?.(value);
    if (reason !== undefined) {
      problems.push(`${name}${variable.secret ? '' : ` = "${value.slice(0, 120)}"`} ${reason} (from ${variable.from})`);
    }
    values[name] = value;
  }
  if (problems.length > 0) {
    const first = spec[(Object.keys(spec) as K[]).find((n) => problems.some((p) => p.startsWith(`${n} `)))!];
    throw new SynktiError('E_CONFIG_STACK_ENV', `${service}: ${problems.join('; ')}`, {
      hint: `run it as a task of its stack (which injects these), or export them from the stack outputs, e.g. ${first.from.split(' ')[0]}`,
    });
  }
  return values;
}

/** One line per variable: `NAME  from  description` (for --help and docs). */
export function describeStackEnvironment(spec: StackEnvironmentSpec<string>): string[] {
  return Object.entries(spec).map(([name, v]) => `${name}${v.optional ? ' (optional)' : ''}: ${v.description} (from ${v.from})`);
}

/** Common checks. */
export const stackChecks = {
  url: (value: string): string | undefined => {
    try {
      const u = new URL(value);
      return u.protocol === 'https:' || u.protocol === 'http:' ? undefined : 'is not an http(s) URL';
    } catch {
      return 'is not a URL';
    }
  },
  bucket: (value: string): string | undefined =>
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value) ? undefined : 'is not an S3 bucket name',
  prefix: (value: string): string | undefined =>
    /^[A-Za-z0-9!_.*'()/-]{1,200}\/$/.test(value) && !value.startsWith('/') ? undefined : 'is not an S3 key prefix ending in "/"',
  name: (value: string): string | undefined =>
    /^[A-Za-z0-9_-]{1,80}$/.test(value) ? undefined : 'is not a name of letters, digits, "-" and "_" (1..80)',
  region: (value: string): string | undefined =>
    /^[a-z]{2}(-[a-z]+)+-\d$/.test(value) ? undefined : 'is not an AWS region like us-east-1',
  postgresUrl: (value: string): string | undefined => (/^postgres(ql)?:\/\//.test(value) ? undefined : 'is not a postgres:// URL'),
};
