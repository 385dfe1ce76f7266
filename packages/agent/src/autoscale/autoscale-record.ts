import { z } from 'zod';

/** Most pools one member entry carries a record for (bounded: peer input is hostile). */
export const MAX_AUTOSCALE_RECORDS = 16;

/**
 * A pool's last scale action, gossiped in member entries (versioned and signed with them):
 * the decider writes it, the next two nodes in the pool's rendezvous order copy it, so a
 * new decider continues from it: its epoch (fresh client tokens), its desired count (the
 * pool's size the Replacer and the autoscaler both aim at) and its time (the windows restart).
 */
export const autoscaleRecordSchema = z.strictObject({
  pool: z.string().min(1).max(64),
  /** Counts decisions that acted; launch client tokens are derived from it. */
  epoch: z.number().int().nonnegative().max(1e9),
  desired: z.number().int().nonnegative().max(10_000),
  /** When the action was taken (epoch ms). */
  at: z.number().int().nonnegative(),
  action: z.enum(['scale-out', 'scale-in']),
  /** Live count before the action. */
  from: z.number().int().nonnegative().max(10_000),
  /** Who decided (an instance id). */
  by: z.string().min(1).max(64),
  reason: z.string().max(200),
});
export type AutoscaleRecord = z.infer<typeof autoscaleRecordSchema>;

export const autoscaleRecordsSchema = z.array(autoscaleRecordSchema).max(MAX_AUTOSCALE_RECORDS);

/** Is `a` a later action than `b`? By epoch, then time, then decider id (total order: every node picks the same). */
export function isLaterRecord(a: AutoscaleRecord, b: AutoscaleRecord | undefined): boolean {
  if (!b) return true;
  if (a.epoch !== b.epoch) return a.epoch > b.epoch;
  if (a.at !== b.at) return a.at > b.at;
  return a.by > b.by;
}

/**
 * The latest record per pool among everything the members carry. A record dated in the
 * future (beyond `maxSkewMs`) is refused: a forged one would otherwise stall the windows.
 */
export function latestRecords(
  carried: Iterable<readonly AutoscaleRecord[] | undefined>,
  now: number,
  maxSkewMs = 60_000,
): Map<string, AutoscaleRecord> {
  const latest = new Map<string, AutoscaleRecord>();
  for (const records of carried) {
    for (const record of records ?? []) {
      if (record.at > now + maxSkewMs) continue;
      if (isLaterRecord(record, latest.get(record.pool))) latest.set(record.pool, record);
    }
  }
  return latest;
}
