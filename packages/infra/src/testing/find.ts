/** Lookups over recorded resources for tests and the audit. */
import type { RecordedResource } from './mock-stack.ts';

export function ofType(resources: readonly RecordedResource[], type: string): RecordedResource[] {
  return resources.filter((r) => r.type === type);
}

/** The one resource of a type and name; throws with the names that exist when missing. */
export function one(resources: readonly RecordedResource[], type: string, name?: string): RecordedResource {
  const found = resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  if (found.length !== 1) {
    const names =
      ofType(resources, type)
        .map((r) => r.name)
        .join(', ') || 'none';
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length} (have: ${names})`);
  }
  return found[0] as RecordedResource;
}

/** Counts per type, for resource-count assertions. */
export function countByType(resources: readonly RecordedResource[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}
