import type { SpotHedgeSpec } from './cluster-spec.ts';

/** Launch to serving (boot + model load) when a pool's spotHedge does not say: the spot hedge's default too. */
export const DEFAULT_HEDGE_LAUNCH_DELAY_MS = 183_000;
/** Spot price / on-demand price when a pool's spotHedge does not say: the spot hedge's default too. */
export const DEFAULT_PRICE_RATIO = 0.3;

/**
 * The slot ledger: cost never above on-demand's by more than one move per replica, by
 * construction. A pool of N is N slots, each a chain of instances (each replacement or
 * successor is tagged SynktiReplaces its predecessor). Against on-demand, a slot's bill runs
 * ahead only while two instances bill for it: a spot successor booting beside the on-demand
 * node it relieves, the hand-over grace, and a reclaimed spot instance's 2-minute notice beside
 * its replacement. Its savings come only from spot time. So each slot carries a credit, in
 * milliseconds of one on-demand instance: what it has saved so far, less what it has put at
 * risk; the credit travels with the chain as a launch tag (TAG_SLOT_CREDIT), and
 * - a move back to spot is made only when the credit covers its worst case (moveCostMs: a
 *   spot boot, the hand-over grace, the successor's notice beside the next replacement);
 * - a replacement goes spot only when the credit covers a spot instance's notice (exitCostMs),
 *   else on-demand (which bills exactly on-demand's rate: it cannot run the slot further ahead).
 * A new slot starts with one move's credit (INITIAL: what a spot start, or one move from an
 * on-demand start, may put at risk before anything was saved), and an on-demand holder earns
 * 1 % of its bill (DEFAULT_ON_DEMAND_CREDIT_RATE) so that a slot that lost its credit tries
 * again now and then. Hence, for N slots, at any time:
 *   cost ≤ on-demand's cost + N × moveCostMs × on-demand price + 1 % of the on-demand hours' bill.
 * No policy that uses spot at equal availability can promise less on every window: its first
 * spot launch bills beside a serving instance (or faces the notice) before it has saved
 * anything, and a reclaim right then is unrecoverable (docs/adr/0009-spot-hedge.md).
 * Pure, and in @synkti/core so that whatever launches a pool's first instances tags them the
 * same way: the agent's Replacer and SpotReturn, `synkti up`, infra's SpotServeFleet and the
 * simulator.
 */

export const TAG_SLOT_CREDIT = 'SynktiSlotCredit';
/** AWS's interruption notice: a reclaimed spot instance bills this long beside its replacement. */
export const NOTICE_MS = 120_000;
/** From a successor serving to its on-demand predecessor terminated (drain, in-flight requests). @default 60 s */
export const DEFAULT_HAND_OVER_MS = 60_000;
/**
 * The most credit a slot holds: one day of one on-demand instance (572 moves at 183 s and
 * r = 0.3; a slot saturates after about 1.4 days on spot). Savings beyond it cannot be
 * spent, so capping loses nothing a fleet needs, and it bounds what a forged tag can buy:
 * a tag outside ±this was not written by a synkti agent and reads as zero (readSlotCredit).
 */
export const MAX_SLOT_CREDIT_MS = 86_400_000;

/**
 * Credit an on-demand holder earns per ms, as a share of its own bill: without it a slot
 * whose one move was lost before saving anything (an outage at the start) stays on-demand
 * for good (measured: 4 flaky zones, 600 s launches, 45 days at 100.0 % of on-demand instead
 * of 65 %). It is the bound's only slack over on-demand: at 1 %, one 276 s move every 7.7 h.
 */
export const DEFAULT_ON_DEMAND_CREDIT_RATE = 0.01;

export interface SlotLedgerOptions extends SpotHedgeSpec {
  /** Credit an on-demand holder earns per ms of its bill (the bound's slack). @default 0.01 */
  onDemandCreditRate?: number | undefined;
  /** Successor serving → predecessor terminated. @default 60000 */
  handOverMs?: number | undefined;
}

function ratioOf(o: SlotLedgerOptions): number {
  return Math.min(0.99, Math.max(0, o.priceRatio ?? DEFAULT_PRICE_RATIO));
}

function delayOf(o: SlotLedgerOptions): number {
  return Math.max(0, o.launchDelayMs ?? DEFAULT_HEDGE_LAUNCH_DELAY_MS);
}

/**
 * The most one move back to spot can run a slot ahead of on-demand: the spot boot beside the
 * on-demand node (r × launch delay), the hand-over (the on-demand node's whole bill: the
 * successor already counts as saving), and the successor's notice beside its replacement
 * (r × 2 min). E.g. 183 s, r = 0.3: 151 s of one on-demand instance.
 */
export function moveCostMs(o: SlotLedgerOptions = {}): number {
  const r = ratioOf(o);
  return Math.ceil(r * delayOf(o) + (o.handOverMs ?? DEFAULT_HAND_OVER_MS) + r * NOTICE_MS);
}

/** What a spot instance's notice bills beside its replacement: r × 2 minutes. */
export function exitCostMs(o: SlotLedgerOptions = {}): number {
  return Math.ceil(ratioOf(o) * NOTICE_MS);
}

/** A new slot's credit (no tag: the initial fleet, or an instance launched before the ledger). */
export function initialSlotCreditMs(o: SlotLedgerOptions = {}): number {
  return moveCostMs(o);
}

/**
 * The tags a new slot's first instance carries (`synkti up`, `synkti scale`, scale-outs): a
 * spot pool's one move of credit, as the simulator tags its initial launches; none for an
 * on-demand pool (it never moves to spot).
 */
export function newSlotTags(pool: { lifecycle: 'spot' | 'on-demand'; spotHedge?: SlotLedgerOptions | undefined }): Record<string, string> {
  return pool.lifecycle === 'spot' ? { [TAG_SLOT_CREDIT]: String(initialSlotCreditMs(pool.spotHedge)) } : {};
}

/**
 * The credit a launch tag carries; undefined when missing, malformed (not an integer of at
 * most 15 digits) or outside ±MAX_SLOT_CREDIT_MS (no agent writes that: slotCreditMs caps).
 */
export function parseSlotCredit(tag: string | undefined): number | undefined {
  if (tag === undefined || !/^-?\d{1,15}$/.test(tag)) return undefined;
  const value = Number(tag);
  return Math.abs(value) > MAX_SLOT_CREDIT_MS ? undefined : value;
}

/**
 * A slot's credit from its tag, as the agent and the simulator read it. The tag is hostile
 * input (anyone allowed ec2:CreateTags can write it):
 * - missing: a new slot (an initial launch by a tool that does not tag, or a fleet from
 *   before the ledger): initialSlotCreditMs, what `synkti up` tags, so removing a tag buys
 *   at most one move;
 * - malformed or beyond ±MAX_SLOT_CREDIT_MS: zero (`rejected` says why, for the caller to
 *   log once): a forged huge credit buys no move the ledger did not earn.
 */
export function readSlotCredit(
  tag: string | undefined,
  o: SlotLedgerOptions = {},
): { creditMs: number; rejected?: 'malformed' | 'out-of-range' | undefined } {
  if (tag === undefined) return { creditMs: initialSlotCreditMs(o) };
  const value = parseSlotCredit(tag);
  if (value !== undefined) return { creditMs: value };
  return { creditMs: 0, rejected: /^-?\d{1,15}$/.test(tag) ? 'out-of-range' : 'malformed' };
}

/**
 * A slot's credit now, held by `instance`: its tag (the credit at its launch, its own risk
 * already taken out), plus what it saved as a serving spot instance, (1 − r) per ms since it
 * was ready, less what a boot slower than the launch delay billed beyond the move's
 * reservation. An on-demand holder saves nothing (it bills on-demand's rate). `movesLaunched`:
 * successors this on-demand node launched (each took moveCostMs out when it was tagged).
 */
export function slotCreditMs(
  input: {
    tagCreditMs: number;
    lifecycle: 'spot' | 'on-demand';
    launchedAt: number;
    /** When it served first; undefined while booting. */
    readyAt: number | undefined;
    now: number;
    movesLaunched?: number | undefined;
  } & SlotLedgerOptions,
): number {
  let credit = input.tagCreditMs - (input.movesLaunched ?? 0) * moveCostMs(input);
  // A spot holder owes its notice beside its replacement (an on-demand one, e.g. a spot
  // launch that fell back, owes nothing: the tag is the same either way).
  if (input.lifecycle === 'spot') credit -= exitCostMs(input);
  else
    credit +=
      Math.min(0.1, Math.max(0, input.onDemandCreditRate ?? DEFAULT_ON_DEMAND_CREDIT_RATE)) * Math.max(0, input.now - input.launchedAt);
  if (input.lifecycle === 'spot' && input.readyAt !== undefined) {
    const r = ratioOf(input);
    credit += (1 - r) * Math.max(0, input.now - input.readyAt);
    credit -= r * Math.max(0, input.readyAt - input.launchedAt - delayOf(input));
  }
  // Capped: every tag an agent writes is within parseSlotCredit's bounds.
  return Math.max(-MAX_SLOT_CREDIT_MS, Math.min(MAX_SLOT_CREDIT_MS, Math.floor(credit)));
}

/** Whether an on-demand node may launch a spot successor: its slot's credit covers the worst case. */
export function canAffordMove(creditMs: number, o: SlotLedgerOptions = {}): boolean {
  return creditMs >= moveCostMs(o);
}

/**
 * The successor's tag: the slot's credit less the move's boot and hand-over (its notice it
 * owes as a spot holder, slotCreditMs). The node itself counts the whole move as spent
 * (`movesLaunched`), whether the successor serves or is lost.
 */
export function successorCreditMs(creditMs: number, o: SlotLedgerOptions = {}): number {
  return creditMs - (moveCostMs(o) - exitCostMs(o));
}

/**
 * A replacement's lifecycle and tag: spot (as the hedge wants) only when the slot's credit
 * covers the replacement's own notice; otherwise on-demand, which cannot run the slot ahead.
 */
export function replacementCredit(input: { creditMs: number; lifecycle: 'spot' | 'on-demand' } & SlotLedgerOptions): {
  lifecycle: 'spot' | 'on-demand';
  tagCreditMs: number;
} {
  // The tag is the credit either way: a spot holder's notice is owed in slotCreditMs, so a
  // spot launch that falls back to on-demand (no room anywhere) keeps its whole credit.
  return {
    lifecycle: input.lifecycle === 'spot' && input.creditMs >= exitCostMs(input) ? 'spot' : 'on-demand',
    tagCreditMs: input.creditMs,
  };
}
