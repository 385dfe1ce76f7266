import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_SLOT_CREDIT_MS,
  TAG_SLOT_CREDIT,
  canAffordMove,
  exitCostMs,
  initialSlotCreditMs,
  moveCostMs,
  newSlotTags,
  parseSlotCredit,
  readSlotCredit,
  replacementCredit,
  slotCreditMs,
  successorCreditMs,
} from './spot-ledger.ts';

test('a tag is hostile input: missing reads as a new slot, forged or garbage as zero, within the cap as written', () => {
  const o = { launchDelayMs: 183_000, priceRatio: 0.3 };
  assert.deepEqual(readSlotCredit(undefined, o), { creditMs: 150_900 });
  assert.deepEqual(readSlotCredit('-5000', o), { creditMs: -5000 });
  assert.deepEqual(readSlotCredit(String(MAX_SLOT_CREDIT_MS), o), { creditMs: MAX_SLOT_CREDIT_MS });
  assert.deepEqual(readSlotCredit(String(MAX_SLOT_CREDIT_MS + 1), o), { creditMs: 0, rejected: 'out-of-range' });
  assert.deepEqual(readSlotCredit('999999999999999', o), { creditMs: 0, rejected: 'out-of-range' });
  for (const garbage of ['1e99', 'Infinity', 'NaN', '', ' 5', '0x10', '9'.repeat(400), '1.5'])
    assert.deepEqual(readSlotCredit(garbage, o), { creditMs: 0, rejected: 'malformed' }, JSON.stringify(garbage.slice(0, 20)));
  // What an agent writes never exceeds the cap: a year on spot saturates at one day's credit.
  const year = 365 * 86_400_000;
  assert.equal(
    slotCreditMs({ tagCreditMs: MAX_SLOT_CREDIT_MS, lifecycle: 'spot', launchedAt: 0, readyAt: 0, now: year, ...o }),
    MAX_SLOT_CREDIT_MS,
  );
  assert.equal(readSlotCredit(String(successorCreditMs(MAX_SLOT_CREDIT_MS, o)), o).rejected, undefined);
  // New slots: a spot pool's first instances carry one move; an on-demand pool's nothing.
  assert.deepEqual(newSlotTags({ lifecycle: 'spot', spotHedge: o }), { [TAG_SLOT_CREDIT]: '150900' });
  assert.deepEqual(newSlotTags({ lifecycle: 'spot' }), { [TAG_SLOT_CREDIT]: String(initialSlotCreditMs()) });
  assert.deepEqual(newSlotTags({ lifecycle: 'on-demand', spotHedge: o }), {});
});

test('prices: a move at 183 s and r = 0.3 risks 150.9 s of one on-demand instance, a notice 36 s', () => {
  assert.equal(moveCostMs({ launchDelayMs: 183_000, priceRatio: 0.3 }), 150_900);
  assert.equal(exitCostMs({ priceRatio: 0.3 }), 36_000);
  assert.equal(initialSlotCreditMs({ launchDelayMs: 183_000, priceRatio: 0.3 }), 150_900);
  assert.equal(parseSlotCredit(undefined), undefined);
  assert.equal(parseSlotCredit('1e99'), undefined);
  assert.equal(parseSlotCredit('150900'), 150_900);
  assert.equal(parseSlotCredit('-999999999999999'), undefined, 'beyond the cap: no agent wrote it');
  // A spot holder saves (1 − r) per ms served; a slow boot's excess is charged.
  assert.equal(
    slotCreditMs({
      tagCreditMs: 0,
      lifecycle: 'spot',
      launchedAt: 0,
      readyAt: 183_000,
      now: 283_000,
      priceRatio: 0.3,
      launchDelayMs: 183_000,
    }),
    70_000 - 36_000,
  );
  assert.equal(
    slotCreditMs({
      tagCreditMs: 0,
      lifecycle: 'spot',
      launchedAt: 0,
      readyAt: 283_000,
      now: 283_000,
      priceRatio: 0.3,
      launchDelayMs: 183_000,
    }),
    -30_000 - 36_000,
  );
  assert.equal(replacementCredit({ creditMs: 35_999, lifecycle: 'spot', priceRatio: 0.3 }).lifecycle, 'on-demand');
  assert.deepEqual(replacementCredit({ creditMs: 36_000, lifecycle: 'spot', priceRatio: 0.3 }), { lifecycle: 'spot', tagCreditMs: 36_000 });
  assert.equal(
    slotCreditMs({ tagCreditMs: 5000, lifecycle: 'on-demand', launchedAt: 0, readyAt: 1000, now: 9000, movesLaunched: 0 }),
    5090,
    'an on-demand holder owes nothing and earns 1 % of its bill',
  );
});

/**
 * The invariant, on one slot driven only by the ledger's rules (a spot pool's replica on a
 * random capacity history): at every moment its bill is at most on-demand's plus the new
 * slot's credit. Instances: the holder, a booting successor of an on-demand holder, and the
 * instances in their notice or hand-over. Bills accrue per ms at r (spot) or 1 (on-demand).
 */
test('invariant over random capacity histories: a slot never bills more than on-demand plus one move', () => {
  let seed = 16;
  const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const STEP = 10_000;
  let worst = -Infinity;
  for (let run = 0; run < 60; run++) {
    const o = { launchDelayMs: 60_000 + Math.floor(random() * 900_000), priceRatio: 0.2 + random() * 0.6, handOverMs: 60_000 };
    const flip = 0.002 + random() * 0.05;
    type Inst = { lifecycle: 'spot' | 'on-demand'; launchedAt: number; readyAt?: number; endsAt?: number; tag: number; moves: number };
    const price = (i: Inst): number => (i.lifecycle === 'spot' ? o.priceRatio : 1);
    let spot = random() < 0.5;
    const start = replacementCredit({ creditMs: initialSlotCreditMs(o), lifecycle: spot ? 'spot' : 'on-demand', ...o });
    let holder: Inst = { lifecycle: start.lifecycle, launchedAt: 0, tag: start.tagCreditMs, moves: 0 };
    let successor: Inst | undefined;
    const instances: Inst[] = [holder];
    let bill = 0;
    let onDemandMs = 0;
    const credit = (i: Inst, now: number): number =>
      slotCreditMs({
        tagCreditMs: i.tag,
        lifecycle: i.lifecycle,
        launchedAt: i.launchedAt,
        readyAt: i.readyAt !== undefined && i.readyAt <= now ? i.readyAt : undefined,
        now,
        movesLaunched: i.moves,
        ...o,
      });
    for (let now = 0; now < 86_400_000; now += STEP) {
      for (const i of instances) if (i.endsAt === undefined || i.endsAt > now) bill += price(i) * STEP;
      if (holder.lifecycle === 'on-demand') onDemandMs += STEP;
      // The bound: on-demand's bill, one move, and 1 % of the on-demand holders' time.
      const excess = bill - (now + STEP) - initialSlotCreditMs(o) - 0.01 * onDemandMs;
      worst = Math.max(worst, excess);
      assert.ok(
        excess <= 0,
        `run ${run}: billed ${bill} ms-equivalents by ${now + STEP}, over on-demand + one move (${JSON.stringify(o)})`,
      );
      if (random() < flip) spot = !spot;
      const boot = (i: Inst): void => {
        if (i.readyAt === undefined && now - i.launchedAt >= o.launchDelayMs) i.readyAt = now;
      };
      boot(holder);
      if (successor) boot(successor);
      if (!spot && holder.lifecycle === 'spot') {
        // The notice: 2 more minutes of bill; the replacement, spot only if the credit allows (no room now: on-demand, tagged as planned).
        holder.endsAt = now + 120_000;
        const plan = replacementCredit({ creditMs: credit(holder, now), lifecycle: 'spot', ...o });
        holder = { lifecycle: 'on-demand', launchedAt: now, tag: plan.tagCreditMs, moves: 0 };
        instances.push(holder);
      }
      if (successor && !spot && successor.readyAt === undefined) {
        // Lost while booting: it bills through its notice and hands the duty back.
        successor.endsAt = now + 120_000;
        successor = undefined;
      }
      if (successor?.readyAt !== undefined) {
        holder.endsAt = now + o.handOverMs;
        holder = successor;
        successor = undefined;
      }
      if (!successor && holder.lifecycle === 'on-demand' && spot && now % 60_000 === 0 && canAffordMove(credit(holder, now), o)) {
        successor = { lifecycle: 'spot', launchedAt: now, tag: successorCreditMs(credit(holder, now), o), moves: 0 };
        holder.moves += 1;
        instances.push(successor);
      }
    }
  }
  assert.ok(worst > -Infinity);
});
