/**
 * `synkti up` on a provider 'aws' cluster: launch what is missing to reach each pool's
 * count (the config's, or --nodes) on EC2 through the same code as `synkti scale` and
 * `synkti bootstrap`'s workers step (launchWorkers, tags at launch, the rendered boot
 * script of `synkti worker launch`'s settings), then wait until EC2 lists every pool at
 * its count with every instance running. Agents need minutes more (Node.js install, model
 * download): their state is what `synkti status` shows; `up` does not wait for it.
 *
 * Never terminates anything: a pool above its count is left as it is (`synkti scale`
 * removes nodes). A pool's `onDemandBase` is filled with on-demand instances first, as
 * on the local cloud.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { SynktiError, formatDuration, type ClusterSpec } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import type { NodeReport } from '../agent-status.ts';
import { openFleet, type FleetAccess } from '../fleet/fleet-access.ts';
import { probeNodes } from '../fleet/node-reports.ts';
import { createProgress } from '../output.ts';
import { launchWorkers } from '@synkti/agent/worker-fleet';
import { launchSettingsFrom, type LaunchOptionValues } from '../worker/launch-options.ts';
import { launchUserData } from './scale.ts';

export interface UpAwsOptions {
  /** Nodes wanted per pool (from the config and --nodes). */
  counts: Map<string, number>;
  /** How long to wait until EC2 lists every pool at its count, running. */
  timeoutMs: number;
  /** No progress on stderr. @default false */
  quiet?: boolean | undefined;
  /**
   * The launch flags of `synkti worker launch` (--image-id, --bucket, --sha256, ...);
   * each one not given is read from its SYNKTI_* variable in `env`. @default {} (all from env)
   */
  launch?: LaunchOptionValues | undefined;
  /** Environment for launch settings (SYNKTI_*) and the cluster secret. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
  /** How often EC2 is listed while waiting. @default 2000 */
  pollMs?: number | undefined;
}

export interface UpAwsResult {
  reports: NodeReport[];
  launched: string[];
  /** Every pool listed at (at least) its count, every instance of it running, every launch listed. */
  ok: boolean;
}

/** Each pool at its count, all running, and every launched instance among them. */
function settled(
  records: InstanceRecord[],
  counts: Map<string, number>,
  launched: Set<string>,
  roleOf: (r: InstanceRecord) => string | undefined,
): boolean {
  const live = records.filter((r) => r.state === 'pending' || r.state === 'running');
  for (const [role, count] of counts) {
    const pool = live.filter((r) => roleOf(r) === role);
    if (pool.length < count || pool.some((r) => r.state !== 'running')) return false;
  }
  const listed = new Set(live.map((r) => r.id));
  return [...launched].every((id) => listed.has(id));
}

async function launchMissing(
  fleet: FleetAccess,
  spec: ClusterSpec,
  counts: Map<string, number>,
  say: (line: string) => void,
): Promise<string[]> {
  const launched: string[] = [];
  let userData: string | undefined;
  for (const [role, count] of counts) {
    const live = await fleet.list({ role });
    const missing = count - live.length;
    if (missing <= 0) continue;
    // Rendered once, and only when something is launched (listing needs no launch settings).
    userData ??= await launchUserData(fleet);
    const pool = spec.pools[role]!;
    const onDemandLive = live.filter((r) => r.lifecycle === 'on-demand').length;
    const onDemand = pool.lifecycle === 'on-demand' ? missing : Math.min(missing, Math.max(0, pool.onDemandBase - onDemandLive));
    const batches: Array<['spot' | 'on-demand', number]> = [
      ['on-demand', onDemand],
      [pool.lifecycle, missing - onDemand],
    ];
    for (const [lifecycle, n] of batches) {
      if (n <= 0) continue;
      try {
        const records = await launchWorkers(fleet.instances, spec, {
          count: n,
          role,
          lifecycle,
          userData,
          onLaunched: (record, i, total) => say(`launched ${role} ${record.id} (${lifecycle}, ${i + 1}/${total})`),
        });
        launched.push(...records.map((r) => r.id));
      } catch (error) {
        if (launched.length === 0) throw error;
        // Say what did launch before the failure: a re-run launches only what is still missing.
        const reason = error instanceof SynktiError ? error.message : String((error as Error)?.message ?? error);
        throw new SynktiError('E_LAUNCH_PARTIAL', `launched ${launched.join(', ')}, then: ${reason}`, {
          cause: error,
          hint: 'run `synkti up` again: it launches only what is still missing',
        });
      }
    }
  }
  return launched;
}

export async function upAws(spec: ClusterSpec, configFile: string, options: UpAwsOptions): Promise<UpAwsResult> {
  const env = options.env ?? process.env;
  const launch = launchSettingsFrom(options.launch ?? {}, env);
  const fleet = openFleet(spec, { configFile, ec2Client: options.ec2Client, env, userData: launch.userData, aws: launch.aws });
  const progress = createProgress(process.stderr, options.quiet === true);
  const pollMs = options.pollMs ?? 2000;
  try {
    const launched = await launchMissing(fleet, spec, options.counts, (line) => progress.update(line));
    const expected = [...options.counts.values()].reduce((a, b) => a + b, 0);
    const ids = new Set(launched);
    const roleOf = (r: InstanceRecord) => r.tags.SynktiRole;
    const started = Date.now();
    let records: InstanceRecord[] = [];
    let ok = false;
    while (true) {
      records = await fleet.list();
      ok = settled(records, options.counts, ids, roleOf);
      if (ok || Date.now() - started >= options.timeoutMs) break;
      const running = records.filter((r) => r.state === 'running').length;
      progress.update(`waiting for EC2: ${running}/${expected} running (${formatDuration(Date.now() - started)})`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, options.timeoutMs - (Date.now() - started)))));
    }
    const reports = await probeNodes(fleet, records);
    progress.done(
      ok
        ? `${spec.name}: ${expected} instance${expected === 1 ? '' : 's'} running on EC2${launched.length ? ` (launched ${launched.length})` : ''}; agents report ready in a few minutes: \`synkti status\``
        : `${spec.name}: EC2 did not list every pool at its count, running, within ${formatDuration(options.timeoutMs)} (see \`synkti status\`)`,
    );
    return { reports, launched, ok };
  } finally {
    fleet.close();
  }
}
