/**
 * What an IAM statement grants, judged by meaning rather than spelling: wildcard actions
 * (`*` and `?` anywhere: `ec2:?????????????` matches many actions), resources that name
 * every resource of a service or type in any ARN form, conditions that cannot restrict
 * (`{}`, `...IfExists` only, `ForAllValues:` only, `StringLike: "*"`), and AWS managed
 * policies that grant administrator or service-wide power, wherever they are attached.
 * Every reader is bounded: policy documents are hostile input.
 */

export interface Statement {
  Sid?: unknown;
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: unknown;
  Principal?: unknown;
}

/** IAM's own limit on a managed policy is 6,144 characters; anything 100x that is not a policy. */
export const MAX_POLICY_CHARS = 640_000;
/** Statements, and entries of one Action/Resource list, read from one document. */
export const MAX_STATEMENTS = 1_000;
const MAX_ENTRIES = 1_000;

/** What Pulumi shows for a value only known after deployment (in `pulumi preview --json`). */
export const PULUMI_UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

export type PolicyRead =
  | { kind: 'statements'; statements: Statement[] }
  /** Not known before deployment (a preview): cannot be judged yet, and says so. */
  | { kind: 'unknown' }
  /** Not a policy document (not JSON, too big, no statements array): fails closed. */
  | { kind: 'unreadable'; why: string };

/** Reads a policy document given as JSON text or an object. */
export function readPolicy(value: unknown): PolicyRead {
  let doc: unknown = value;
  if (value === PULUMI_UNKNOWN) return { kind: 'unknown' };
  if (typeof value === 'string') {
    if (value.length > MAX_POLICY_CHARS)
      return { kind: 'unreadable', why: `it is ${value.length} characters (more than ${MAX_POLICY_CHARS})` };
    try {
      doc = JSON.parse(value);
    } catch {
      return { kind: 'unreadable', why: 'it is not JSON' };
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { kind: 'unreadable', why: 'it is not a JSON object' };
  const raw = (doc as Record<string, unknown>).Statement;
  if (raw === undefined) return { kind: 'statements', statements: [] };
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length > MAX_STATEMENTS) return { kind: 'unreadable', why: `it has ${list.length} statements (more than ${MAX_STATEMENTS})` };
  const statements: Statement[] = [];
  for (const s of list) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return { kind: 'unreadable', why: 'a statement is not an object' };
    statements.push(s as Statement);
  }
  return { kind: 'statements', statements };
}

/** `Effect: Allow`, in any case (IAM itself rejects other spellings; an audit must not pass them). */
export function isAllow(s: Statement): boolean {
  return typeof s.Effect === 'string' && s.Effect.toLowerCase() === 'allow';
}

/** A string or list of strings; `undefined` when the value has another shape (judged as "any"). */
export function stringList(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length <= MAX_ENTRIES && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

/** Any `*` or `?`: an action pattern, which matches every action it can spell. */
export function isWildcardAction(action: string): boolean {
  return action.includes('*') || action.includes('?');
}

const WILD = /^[*?]+$/;
const WILD_PATH = /^[*?]+([/:][*?]+)*$/;

/**
 * A resource naming every resource of a service, of a type across every account, or every
 * IAM principal/policy: `*`, `arn:*`, `arn:aws:s3:::*`, `arn:aws:s3:::*` + `/*`,
 * `arn:aws:sqs:*:*:*`, `arn:aws:iam::*:role/*`, `arn:aws:iam::123456789012:role/*`.
 * Type-wide within one named account (`arn:aws:ec2:us-east-1:123456789012:instance/*`)
 * is how EC2 actions are scoped (with a tag condition) and is not called wild here.
 */
export function isWildcardResource(resource: string): boolean {
  const r = resource.trim();
  if (r === '') return false;
  if (WILD.test(r)) return true;
  if (!/^arn:/i.test(r)) return /[*?]/.test(r) && WILD_PATH.test(r);
  const parts = r.split(':');
  // arn:partition:service:region:account:resource (the resource may hold more colons).
  if (parts.length < 6) return /[*?]/.test(r);
  const [, partition = '', service = '', , account = ''] = parts;
  const rest = parts.slice(5).join(':');
  if (/[*?]/.test(partition) || /[*?]/.test(service)) return true;
  if (WILD_PATH.test(rest)) return true;
  const typed = /^([A-Za-z0-9_.-]+)[/:](.*)$/.exec(rest);
  if (typed && WILD_PATH.test(typed[2] ?? '')) {
    if (service.toLowerCase() === 'iam' || service.toLowerCase() === 'sts') return true;
    if (WILD.test(account)) return true;
  }
  return false;
}

/** Condition operators IAM knows (without the IfExists suffix and set prefixes). */
const OPERATORS = new Set([
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
]);
/** Keys true on every request the SDKs make: a condition on them alone scopes nothing. */
const ALWAYS_TRUE_KEYS = new Set(['aws:securetransport']);

/**
 * Whether a Condition block can restrict a grant. It cannot when it is absent, `{}`, or
 * made only of: operators with no keys or no values; unknown operators; `...IfExists`
 * (true when the key is absent); `ForAllValues:` (true when the key is absent); `Null`
 * (only says whether a key is present); Like operators whose patterns are all `*`;
 * `Bool` on aws:SecureTransport.
 */
export function conditionRestricts(condition: unknown): boolean {
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) return false;
  const blocks = Object.entries(condition as Record<string, unknown>).slice(0, MAX_ENTRIES);
  return blocks.some(([rawOperator, keys]) => {
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) return false;
    if (/^ForAllValues:/i.test(rawOperator) || /IfExists$/.test(rawOperator)) return false;
    const operator = rawOperator.replace(/^ForAnyValue:/i, '');
    if (!OPERATORS.has(operator) || operator === 'Null') return false;
    const like = /Like$/.test(operator);
    return Object.entries(keys as Record<string, unknown>)
      .slice(0, MAX_ENTRIES)
      .some(([key, values]) => {
        const list =
          typeof values === 'string' || typeof values === 'number' || typeof values === 'boolean'
            ? [String(values)]
            : Array.isArray(values)
              ? values.slice(0, MAX_ENTRIES).map(String)
              : [];
        if (list.length === 0) return false;
        if (ALWAYS_TRUE_KEYS.has(key.toLowerCase())) return false;
        if (like && list.every((v) => WILD.test(v))) return false;
        return true;
      });
  });
}

/**
 * AWS managed policies that grant administrator, IAM, or whole-service power:
 * AdministratorAccess (and -Amplify, -BeanStalk), PowerUserAccess, IAMFullAccess, any
 * `*FullAccess`, and the job-function administrator policies. Matched on the name after
 * the last `/` of an `arn:<partition>:iam::aws:policy/...` ARN, in any case.
 */
export function broadManagedPolicy(arn: unknown): string | undefined {
  if (typeof arn !== 'string' || arn.length > 2048) return undefined;
  const m = /^arn:[a-z-]+:iam::aws:policy\/(?:.*\/)?([^/]+)$/i.exec(arn.trim());
  if (!m) return undefined;
  const name = m[1] ?? '';
  if (/^AdministratorAccess/i.test(name) || /^PowerUserAccess$/i.test(name) || /FullAccess/i.test(name)) return name;
  if (/^(SystemAdministrator|NetworkAdministrator|DatabaseAdministrator)$/i.test(name)) return name;
  return undefined;
}
