/**
 * Input checks shared by the components. Every failure is a SynktiError naming the field
 * and the fix, raised before any resource is registered (a half-built stack is worse
 * than none).
 */
import { SynktiError } from '@synkti/core';

export const E_INFRA_INPUT = 'E_INFRA_INPUT';

export function inputError(component: string, field: string, problem: string, hint: string): SynktiError {
  return new SynktiError(E_INFRA_INPUT, `${component}: ${field} ${problem}`, { hint });
}

/** Project names end up in bucket, role and queue names: lower-case DNS-like, short enough for every AWS limit. */
const PROJECT_RE = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

export function checkProjectName(component: string, field: string, value: string): string {
  if (!PROJECT_RE.test(value)) {
    throw inputError(
      component,
      field,
      `"${value}" is not a valid project name`,
      'use 3-32 lower-case letters, digits and "-", starting with a letter (it becomes part of S3 bucket and IAM role names)',
    );
  }
  return value;
}

const REGION_RE = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;

export function checkRegion(component: string, field: string, value: string): string {
  if (!REGION_RE.test(value)) throw inputError(component, field, `"${value}" is not an AWS region`, 'use a region code such as us-east-1');
  return value;
}

export function checkInt(component: string, field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw inputError(
      component,
      field,
      `must be an integer from ${min} to ${max} (got ${String(value)})`,
      `set ${field} within ${min}..${max}`,
    );
  }
  return value;
}

const IPV4_CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function isIpv4Cidr(value: string): boolean {
  const m = IPV4_CIDR_RE.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  return octets.every((o) => o >= 0 && o <= 255) && bits >= 0 && bits <= 32;
}

export function checkCidrs(component: string, field: string, values: readonly string[]): string[] {
  for (const value of values) {
    if (!isIpv4Cidr(value))
      throw inputError(component, field, `has "${value}", which is not an IPv4 CIDR block`, 'write blocks like 203.0.113.0/24');
  }
  return [...values];
}

const INSTANCE_TYPE_RE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

export function checkInstanceTypes(component: string, field: string, values: readonly string[], min: number): string[] {
  if (values.length < min)
    throw inputError(
      component,
      field,
      `needs at least ${min} instance type(s) (got ${values.length})`,
      'list several GPU types so spot capacity can come from more pools',
    );
  for (const value of values) {
    if (!INSTANCE_TYPE_RE.test(value))
      throw inputError(component, field, `has "${value}", which is not an EC2 instance type`, 'write types like g5.xlarge');
  }
  return [...new Set(values)];
}

/** `s3://bucket/key` → parts; undefined for ''. */
export function parseS3Uri(component: string, field: string, value: string): { bucket: string; key: string } | undefined {
  if (value === '') return undefined;
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/.exec(value);
  if (!m) throw inputError(component, field, `"${value}" is not an s3://bucket/key path`, 'write s3://<bucket>/<key>');
  return { bucket: m[1] as string, key: m[2] as string };
}

/** CloudWatch Logs accepts only these retention periods. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export function checkLogRetention(component: string, field: string, value: number): number {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(value)) {
    throw inputError(component, field, `${value} is not a CloudWatch Logs retention period`, `use one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  return value;
}
