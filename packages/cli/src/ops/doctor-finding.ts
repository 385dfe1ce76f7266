/** One result of `synkti doctor`: what was checked, how it went, and what to do about it. */
export type FindingStatus = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** Stable check name, e.g. 'node', 'config', 'aws-credentials', 'imds'. */
  check: string;
  status: FindingStatus;
  /** What was found, naming the thing (file, field, instance id). */
  message: string;
  /** What to do; present on warn and fail. */
  fix?: string | undefined;
}

export function ok(check: string, message: string): Finding {
  return { check, status: 'ok', message };
}

export function warn(check: string, message: string, fix: string): Finding {
  return { check, status: 'warn', message, fix };
}

export function fail(check: string, message: string, fix: string): Finding {
  return { check, status: 'fail', message, fix };
}

/** 0 when nothing failed (warnings allowed), 1 otherwise. */
export function doctorExitCode(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.status === 'fail') ? 1 : 0;
}

const LABEL: Record<FindingStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

/** One block per finding: `STATUS check  message`, then an indented `fix:` line. */
export function renderFindings(findings: readonly Finding[]): string {
  const width = Math.max(0, ...findings.map((f) => f.check.length));
  const lines: string[] = [];
  for (const f of findings) {
    const [first = '', ...rest] = f.message.split('\n');
    lines.push(`${LABEL[f.status]}  ${f.check.padEnd(width)}  ${first}`);
    const indent = ' '.repeat(width + 8);
    for (const line of rest) lines.push(indent + line);
    if (f.fix) lines.push(`${indent}fix: ${f.fix}`);
  }
  const fails = findings.filter((f) => f.status === 'fail').length;
  const warns = findings.filter((f) => f.status === 'warn').length;
  lines.push(
    '',
    fails > 0 ? `${fails} problem(s) to fix, ${warns} warning(s)` : warns > 0 ? `no problems, ${warns} warning(s)` : 'all checks passed',
  );
  return lines.join('\n');
}
