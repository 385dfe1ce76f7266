/**
 * Secrets written as plain environment values: a variable whose name looks like a secret
 * (DB_PWD, *PASS*, *TOKEN*, *SECRET*, *KEY*, *CREDENTIAL*, in any case or camelCase) with a
 * literal value, wherever a stack sets environment: ECS container definitions, AWS Batch
 * job definitions, Lambda functions, and user data (`NAME=value`, `export NAME=value`,
 * systemd `Environment="NAME=value"`, `echo NAME=value >> file`).
 *
 * Not a secret: a name that says it holds a reference (`*_FILE`, `*_PATH`, `*_ARN`,
 * `*_PARAM`, `*_NAME`, `*_ID`, `*_URL`, ...), a value that is a reference (`$VAR`, `$(cmd)`,
 * `/a/path`, `arn:...`, `{{resolve:...}}`), and for `*KEY*` names an object key or path
 * (`artifacts/agent.tgz`): what `AGENT_KEY` in the boot script is.
 */

/** Name tokens that mark a secret. */
const SECRET_TOKENS = /^(PWD|PASS.*|.*PASSWORD|.*PASSWD|.*SECRETS?|.*TOKENS?|.*CREDENTIALS?|.*PRIVATEKEY|.*APIKEY|.*KEY|AUTH)$/;
/** A final token saying the variable holds where the secret is, not the secret. */
const REFERENCE_SUFFIX =
  /^(FILE|PATH|DIR|PARAM|PARAMETER|ARN|NAME|ID|URL|URI|ENV|HEADER|TTL|SECONDS|LENGTH|BYTES|TYPE|PREFIX|VERSION|REF)$/;
const REFERENCE_VALUE = /^(\$|\/|arn:|ssm:|secretsmanager:|\{\{resolve:|file:)/i;
const OBJECT_KEY_VALUE = /^[\w.-]+(\/[\w.-]+)+$/;

/** Bound on the user data read and the variables reported per resource. */
export const MAX_USER_DATA_CHARS = 1_000_000;
const MAX_FINDINGS = 50;

function tokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter(Boolean);
}

/** Whether `name=value` is a secret in plain text. */
export function isPlainSecret(name: string, value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  const v = String(value)
    .trim()
    .replace(/^(["'])(.*)\1$/, '$2');
  if (v === '') return false;
  const parts = tokens(name);
  const last = parts[parts.length - 1];
  if (last === undefined || REFERENCE_SUFFIX.test(last)) return false;
  const hits = parts.filter((t) => SECRET_TOKENS.test(t));
  if (hits.length === 0) return false;
  if (REFERENCE_VALUE.test(v.replace(/^["']/, ''))) return false;
  // KEY alone (not PASS/SECRET/TOKEN): a slash path is an object key, not key material.
  if (hits.every((t) => /KEY$/.test(t) && !/PRIVATEKEY|APIKEY/.test(t)) && OBJECT_KEY_VALUE.test(v)) return false;
  return true;
}

const ASSIGNMENT = /^\s*(?:(?:export|readonly|declare(?:\s+-\w+)*|local)\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const SYSTEMD_ENV = /^\s*Environment=(.*)$/;
const ECHO_ENV = /^\s*echo\s+["']?([A-Za-z_][A-Za-z0-9_]*)=([^"'>\s]*)/;

/** Control characters (other than tab/newline/CR) or replacement characters: not text. */
function looksBinary(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c <= 8 || (c >= 14 && c <= 31) || c === 0xfffd) return true;
  }
  return false;
}

/** User data as text: plain, or base64 (what `userData`/`userDataBase64` hold). */
export function userDataText(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  const text = value.slice(0, MAX_USER_DATA_CHARS);
  if (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.replace(/\s/g, '').length % 4 === 0) {
    const decoded = Buffer.from(text, 'base64').toString('utf8');
    // Only when it decodes to text (a plain word like "echo" is valid base64 too).
    if (!looksBinary(decoded)) return decoded;
  }
  return text;
}

/** The `NAME=value` pairs user data sets, in the forms a boot script uses. */
export function userDataEnvironment(value: unknown): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const line of userDataText(value).split('\n')) {
    const systemd = SYSTEMD_ENV.exec(line);
    if (systemd) {
      // Environment="A=1" "B=2" or Environment=A=1 B=2
      for (const m of (systemd[1] ?? '').matchAll(/"([A-Za-z_][A-Za-z0-9_]*)=([^"]*)"|([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) {
        out.push({ name: m[1] ?? m[3] ?? '', value: m[2] ?? m[4] ?? '' });
      }
      continue;
    }
    const echo = ECHO_ENV.exec(line);
    if (echo) {
      out.push({ name: echo[1] ?? '', value: echo[2] ?? '' });
      continue;
    }
    const assignment = ASSIGNMENT.exec(line);
    if (assignment) out.push({ name: assignment[1] ?? '', value: (assignment[2] ?? '').split(/\s+#/)[0] ?? '' });
  }
  return out;
}

/** Names of the plain secrets among `entries` (bounded). */
export function plainSecretNames(entries: Iterable<{ name: unknown; value: unknown }>): string[] {
  const names: string[] = [];
  for (const e of entries) {
    if (typeof e.name === 'string' && isPlainSecret(e.name, e.value)) names.push(e.name.slice(0, 100));
    if (names.length >= MAX_FINDINGS) break;
  }
  return names;
}
