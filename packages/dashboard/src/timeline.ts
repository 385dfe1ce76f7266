import { TAG_GENERATION, TAG_REPLACES, formatDuration } from '@synkti/core';
import type { InstanceRecord, InterruptionNotice } from '@synkti/cloud';
import type { AgentStatusView, InstanceLifeTimes } from './fleet-source.ts';
import type { TimelineEvent, TimelineKind } from './snapshot.ts';

/** What one round saw of one instance. */
export interface NodeObservation {
  record: InstanceRecord;
  status: AgentStatusView | undefined;
  notice: InterruptionNotice | null | undefined;
}

interface Known {
  agentState: string | undefined;
  noticed: boolean;
  ended: boolean;
}

/** EC2's state reasons (the local cloud uses the same strings). */
const REASON_SPOT = 'Server.SpotInstanceTermination';
const REASON_CRASH = 'Server.InternalError';
/** A graceful stop (scale-down, `synkti down`): what agents report for a peer that left. */
const REASON_LEFT = 'Client.UserInitiatedShutdown';

export function isLiveInstance(record: InstanceRecord): boolean {
  return record.state === 'pending' || record.state === 'running';
}

/**
 * Turns successive observations of the fleet into the events an operator cares about:
 * launches and replacements, notices, drains, preemptions, crashes. Each is reported
 * once; the first round only establishes what is already there.
 */
export class TimelineTracker {
  private readonly known = new Map<string, Known>();
  private seq = 0;
  private rounds = 0;

  /**
   * The fleet's history before the first look, oldest first: each instance's launch (or
   * replacement), spot notice and end, at the times the provider recorded, from `since` on.
   * Call it with the first round's records: what ended before is told here, once.
   */
  history(records: readonly InstanceRecord[], lifeTimes: readonly InstanceLifeTimes[], since: number): TimelineEvent[] {
    const byId = new Map(records.map((r) => [r.id, r]));
    const past: Omit<TimelineEvent, 'seq'>[] = [];
    for (const life of lifeTimes) {
      const record = byId.get(life.id);
      if (!record) continue; // not this cluster's
      const id = record.id;
      if (life.launchedAt >= since) {
        const replaces = record.tags[TAG_REPLACES];
        past.push(
          replaces
            ? { at: life.launchedAt, kind: 'replacement', node: id, text: `${id} launched to replace ${replaces}` }
            : {
                at: life.launchedAt,
                kind: 'launch',
                node: id,
                text: `${id} launched (${record.lifecycle} ${record.instanceType}, ${record.zone})${launchGeneration(record)}`,
              },
        );
      }
      // (A notice still running out on a live node is the first round's: it reads the notice itself.)
      if (life.terminatedAt !== null && life.terminatedAt >= since && !isLiveInstance(record)) {
        emitEnd(record, (kind, node, text) => past.push({ at: life.terminatedAt!, kind, node, text }));
      }
    }
    past.sort((a, b) => a.at - b.at);
    return past.map((event) => ({ ...event, seq: ++this.seq }));
  }

  observe(now: number, observations: readonly NodeObservation[]): TimelineEvent[] {
    const events: TimelineEvent[] = [];
    const emit = (kind: TimelineKind, node: string, text: string): void => {
      events.push({ seq: ++this.seq, at: now, kind, node, text });
    };
    const first = this.rounds++ === 0;
    const seen = new Set<string>();
    for (const { record, status, notice } of observations) {
      const id = record.id;
      seen.add(id);
      let k = this.known.get(id);
      if (!k) {
        k = { agentState: undefined, noticed: false, ended: false };
        this.known.set(id, k);
        // Already gone when we first see it: history from before we watched.
        if (!isLiveInstance(record)) {
          k.ended = true;
          continue;
        }
        if (!first) {
          const replaces = record.tags[TAG_REPLACES];
          if (replaces) emit('replacement', id, `${id} launched to replace ${replaces}`);
          else emit('launch', id, `${id} launched (${record.lifecycle} ${record.instanceType}, ${record.zone})${launchGeneration(record)}`);
        }
      }
      if (k.ended) continue;
      if (notice && !k.noticed) {
        k.noticed = true;
        emit('notice', id, `${id}: spot interruption notice, reclaimed in ${formatDuration(Math.max(0, notice.time - now))}`);
      }
      const agentState = status?.state;
      if (agentState !== undefined && agentState !== k.agentState) {
        if (agentState === 'ready' && !first)
          emit(
            'ready',
            id,
            `${id} ready (${status!.role}, ${status!.zone}${status!.generation ? `, generation ${status!.generation}` : ''})`,
          );
        if (agentState === 'draining') emit('drain', id, `${id} draining: its peers stop routing to it`);
        k.agentState = agentState;
      } else if (agentState === undefined && record.state === 'running' && k.agentState === 'ready') {
        // After a notice, an agent that stops answering has drained and left (between two looks).
        if (k.noticed) emit('drain', id, `${id} drained and left the fleet`);
        else emit('unreachable', id, `${id}: agent not answering`);
        k.agentState = k.noticed ? 'stopped' : 'unreachable';
      }
      if (!isLiveInstance(record)) {
        k.ended = true;
        emitEnd(record, emit);
      }
    }
    // Gone from the listing altogether (a provider that forgets terminated instances).
    for (const [id, k] of this.known) {
      if (!seen.has(id) && !k.ended) {
        k.ended = true;
        emit('stopped', id, `${id} left the fleet`);
      }
    }
    if (first) emit('watch', '', `watching ${observations.filter((o) => isLiveInstance(o.record)).length} node(s)`);
    return events;
  }
}

/** A rollout's surge carries the generation it launches (`synkti deploy`): the timeline names it. */
function launchGeneration(record: InstanceRecord): string {
  const generation = record.tags[TAG_GENERATION];
  return generation ? `: rollout to generation ${generation}` : '';
}

function emitEnd(record: InstanceRecord, emit: (kind: TimelineKind, node: string, text: string) => void): void {
  if (record.stateReason === REASON_SPOT)
    emit('preemption', record.id, `${record.id} preempted: reclaimed by the cloud (spot interruption)`);
  else if (record.stateReason === REASON_CRASH) emit('crash', record.id, `${record.id} crashed (no notice)`);
  else if (record.stateReason === REASON_LEFT) emit('stopped', record.id, `${record.id} left the fleet`);
  else emit('stopped', record.id, `${record.id} ${record.state}${record.stateReason ? ` (${record.stateReason})` : ''}`);
}
