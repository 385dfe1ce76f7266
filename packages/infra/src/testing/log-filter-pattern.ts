/**
 * Evaluates a CloudWatch Logs JSON filter pattern against one log line, for the subset the
 * Synkti stacks write: `{ $.field = "text" }`, `{ $.field = 12 }`, and those in parentheses
 * joined with `&&`. Anything else throws (a pattern this cannot read is a pattern no test
 * has checked). A line that is not a JSON object matches no JSON pattern, as in CloudWatch.
 */

/** One `$.path = value` comparison. */
export interface LogFilterTerm {
  path: string[];
  value: string | number;
}

const TERM_RE = /^\$\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*=\s*(?:"([^"\\]*)"|(-?\d+(?:\.\d+)?))$/;

function parseTerm(text: string): LogFilterTerm {
  const m = TERM_RE.exec(text.trim());
  if (!m) throw new Error(`unsupported filter term "${text.trim()}": this reader knows $.field = "text" and $.field = number`);
  return { path: (m[1] as string).split('.'), value: m[2] !== undefined ? m[2] : Number(m[3]) };
}

/** The terms of a JSON pattern (all must hold). */
export function parseJsonFilterPattern(pattern: string): LogFilterTerm[] {
  const body = /^\{\s*(.*?)\s*\}$/s.exec(pattern.trim())?.[1];
  if (body === undefined) throw new Error(`"${pattern}" is not a JSON filter pattern ({ ... })`);
  if (!body.includes('&&')) return [parseTerm(body)];
  return body.split('&&').map((part) => {
    const inner = /^\s*\((.*)\)\s*$/s.exec(part)?.[1];
    if (inner === undefined) throw new Error(`"${part.trim()}" of "${pattern}": each term of a conjunction goes in parentheses`);
    return parseTerm(inner);
  });
}

/** True when `line` is a JSON object whose fields satisfy every term of `pattern`. */
export function matchesJsonFilterPattern(pattern: string, line: string): boolean {
  const terms = parseJsonFilterPattern(pattern);
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return false;
  }
  return terms.every((term) => {
    let at: unknown = record;
    for (const key of term.path) at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined;
    return at === term.value;
  });
}
