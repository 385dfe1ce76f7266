/**
 * The checks cloud-init and EC2 apply to user data before anything runs, as far as they
 * can be made without cloud-init: EC2's 16 KB limit (before base64), UTF-8 text, and
 * cloud-init's choice of handler by the document's first bytes. A shell script must
 * start with `#!` and an absolute interpreter (cloud-init executes the file as is) and
 * must not have CRLF line ends (bash would read `\r` into every command).
 */
import { SynktiError } from '@synkti/core';

/** EC2 accepts at most 16 KB of user data, measured before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16 * 1024;

/** The handler cloud-init picks for a user-data document (its "part type"). */
export type UserDataKind = 'shell-script' | 'cloud-config' | 'include' | 'mime-multipart' | 'boothook' | 'gzip' | 'unknown';

/** How cloud-init classifies a document, by its first bytes. */
export function userDataKind(data: string | Uint8Array): UserDataKind {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip';
  const head = bytes.subarray(0, 64).toString('utf8');
  if (head.startsWith('#!')) return 'shell-script';
  if (head.startsWith('#cloud-config')) return 'cloud-config';
  if (head.startsWith('#include')) return 'include';
  if (head.startsWith('#cloud-boothook')) return 'boothook';
  if (/^content-type:/i.test(head) || /^mime-version:/i.test(head)) return 'mime-multipart';
  return 'unknown';
}

function fail(message: string, hint: string): never {
  throw new SynktiError('E_USER_DATA_FORMAT', message, { hint });
}

/** Throws E_USER_DATA_FORMAT unless `script` is shell-script user data EC2 accepts and cloud-init runs. */
export function checkShellUserData(script: string): void {
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES)
    fail(`user data is ${bytes} bytes; EC2 accepts at most ${MAX_USER_DATA_BYTES}`, 'keep large settings in the bucket');
  if (Buffer.from(script, 'utf8').toString('utf8') !== script) fail('user data is not valid UTF-8 text', 'remove unpaired surrogates');
  const kind = userDataKind(script);
  if (kind !== 'shell-script')
    fail(`cloud-init would handle this user data as ${kind}, not as a shell script`, 'start it with "#!/bin/bash"');
  if (script.includes('\r'))
    fail('user data has CR characters (CRLF line ends): bash would read them into commands', 'write it with LF line ends');
  const shebang = script.slice(0, script.indexOf('\n') === -1 ? undefined : script.indexOf('\n'));
  if (!/^#!\/[^\s]+(\s+\S+)*$/.test(shebang))
    fail(`the first line ${JSON.stringify(shebang)} does not name an absolute interpreter`, 'start it with "#!/bin/bash"');
  if (script.includes('\0')) fail('user data has NUL bytes', 'user data must be text');
  if (!script.endsWith('\n')) fail('user data does not end with a newline', 'end the last line with "\\n"');
}
