import type { AgentStatus } from '@synkti/core/contracts';

// The CLI's read commands check each agent's answer with this instead of
// agentStatusSchema: evaluating zod is ~80 ms of a `synkti status`. It accepts, rejects
// and keeps exactly what the schema does (agent-status-check.test.ts runs both on the same
// bodies); a change to the schema needs the same change here.

type Check = (value: unknown) => { ok: true; value: unknown } | { ok: false };
const OK = (value: unknown) => ({ ok: true as const, value });
const NO = { ok: false as const };

/** MAX_STATUS_MEMBERS, repeated: importing it would evaluate the schemas' module (a test checks they agree). */
export const MAX_MEMBERS = 10_000;

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (max: number): Check => (v) => (typeof v === 'string' && v.length <= max ? OK(v) : NO);
const text = str(512);
const num: Check = (v) => (isNumber(v) ? OK(v) : NO);
const count: Check = (v) => (isNumber(v) && v >= 0 ? OK(v) : NO);
const port: Check = (v) => (isNumber(v) && Number.isSafeInteger(v) && v >= 0 && v <= 65_535 ? OK(v) : NO);
const bool: Check = (v) => (typeof v === 'boolean' ? OK(v) : NO);
const oneOf = (...values: string[]): Check => (v) => (typeof v === 'string' && values.includes(v) ? OK(v) : NO);
const array = (item: Check, max: number): Check => (v) => {
  if (!Array.isArray(v) || v.length > max) return NO;
  const out: unknown[] = [];
  for (const element of v) {
    const checked = item(element);
    if (!checked.ok) return NO;
    out.push(checked.value);
  }
  return OK(out);
};
interface Field { check: Check; optional?: boolean }
const optional = (check: Check): Field => ({ check, optional: true });
/** An object keeping only the fields named (unknown keys dropped, as z.object does). */
const object = (shape: Record<string, Check | Field>): Check => (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO;
  const input = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(shape)) {
    const field = typeof spec === 'function' ? { check: spec } : spec;
    const value = input[key];
    if (value === undefined && field.optional) {
      if (key in input) out[key] = undefined;
      continue;
    }
    const checked = field.check(value);
    if (!checked.ok) return NO;
    out[key] = checked.value;
  }
  return OK(out);
};
/** Pool name -> generation, at most 64 pools. */
const generations: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO;
  const out: Record<string, unknown> = {};
  const keys = Object.keys(v);
  for (const key of keys) {
    const value = (v as Record<string, unknown>)[key];
    if (key.length > 64 || !text(value).ok) return NO;
    // Assigning __proto__ a string is a no-op on a plain object, as it is for the schema's output.
    if (key !== '__proto__') out[key] = value;
  }
  return Object.keys(out).length <= 64 ? OK(out) : NO;
};

const member = object({
  id: text, role: text, state: text, address: text, agentPort: port, routerPort: port,
  zone: optional(text), load: optional(count), generation: optional(text),
});
const model = object({
  uri: str(2048), state: text, path: optional(str(4096)), files: count, filesDone: count, bytes: count, bytesDone: count,
  bytesFetched: optional(count), reused: optional(bool),
  error: optional(object({ code: text, message: str(2048), hint: optional(str(2048)), file: optional(str(4096)) })),
});
const drain = object({
  reason: oneOf('interruption', 'shutdown', 'spot-return'), startedAt: num, deadline: num, budgetMs: num, cutoffAt: num,
  leftInFlight: count, tookMs: num, replacement: optional(text), failedSteps: optional(array(text, 32)),
});
const autoscale = object({
  pool: text, current: count, desired: count, min: count, max: count, decider: optional(text),
  last: optional(object({ epoch: count, desired: count, at: num, action: oneOf('scale-out', 'scale-in'), from: count, by: text, reason: text })),
});
const pid: Check = (v) => (isNumber(v) && Number.isSafeInteger(v) && v >= 0 ? OK(v) : NO);
const status = object({
  id: text, cluster: text, role: text, zone: text, state: text, pid, address: text,
  ports: object({ agent: port, router: port, workload: port }),
  startedAt: num, uptimeMs: count, load: count,
  members: array(member, MAX_MEMBERS), cloudListCalls: count,
  workload: optional(object({ state: text, restarts: optional(count) })),
  router: optional(object({ inFlight: count })),
  drain: optional(drain), model: optional(model), autoscale: optional(array(autoscale, 64)),
  generation: optional(text), desiredGenerations: optional(generations),
});

/**
 * An agent's `/status` body, checked as agentStatusSchema checks it (same answers, same
 * fields kept) without loading zod; undefined when it is not one.
 */
export function readAgentStatus(body: unknown): AgentStatus | undefined {
  const checked = status(body);
  return checked.ok ? (checked.value as AgentStatus) : undefined;
}
