import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimEngine } from './engine.ts';
import { createRandom } from './random.ts';

describe('SimEngine', () => {
  it('fires events by time, then in the order they were scheduled', () => {
    const engine = new SimEngine();
    const fired: string[] = [];
    engine.at(20, 'x', () => fired.push('b@20'));
    engine.at(10, 'x', () => fired.push('a@10'));
    engine.at(20, 'x', () => fired.push('c@20'));
    engine.at(5, 'x', () => engine.after(15, 'x', () => fired.push('d@20 (scheduled last)')));
    engine.run(100);
    assert.deepEqual(fired, ['a@10', 'b@20', 'c@20', 'd@20 (scheduled last)']);
    assert.equal(engine.now, 100);
  });

  it('a cancelled event never fires, even when cancelled by an event at the same instant', () => {
    const engine = new SimEngine();
    const fired: string[] = [];
    const later = engine.at(50, 'later', () => fired.push('later'));
    const sameInstant = engine.at(10, 'same', () => fired.push('same'));
    engine.at(10, 'canceller', () => {
      fired.push('canceller');
      later.cancel();
    });
    // Scheduled before the canceller at the same time: it fires first, cancelling it afterwards does nothing.
    engine.at(10, 'late-cancel', () => sameInstant.cancel());
    const never = engine.at(30, 'never', () => fired.push('never'));
    never.cancel();
    never.cancel();
    engine.run(100);
    assert.deepEqual(fired, ['same', 'canceller']);
    assert.equal(later.cancelled, true);
    assert.equal(engine.pending, 0);
    assert.equal(engine.stats().byKind.never, undefined);
  });

  it('refuses events in the past', () => {
    const engine = new SimEngine();
    engine.run(10);
    assert.throws(() => engine.at(5, 'past', () => {}), { code: 'E_SIM_TIME' });
  });

  it('stops early when asked and does not fire events beyond the horizon', () => {
    const engine = new SimEngine();
    let n = 0;
    const tick = (): void => {
      n++;
      engine.after(10, 'tick', tick);
    };
    engine.at(0, 'tick', tick);
    engine.run(1000, () => n >= 7);
    assert.equal(n, 7);
    const other = new SimEngine();
    let m = 0;
    other.at(0, 'tick', function again() {
      m++;
      other.after(10, 'tick', again);
    });
    other.run(95);
    assert.equal(m, 10); // 0, 10, ..., 90
  });
});

describe('createRandom', () => {
  it('is a function of its seed, and forks are independent streams', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const seqA = Array.from({ length: 5 }, () => a.next());
    assert.deepEqual(
      seqA,
      Array.from({ length: 5 }, () => b.next()),
    );
    assert.notDeepEqual(
      seqA,
      Array.from({ length: 5 }, () => c.next()),
    );
    assert.deepEqual(
      Array.from({ length: 3 }, () => createRandom(7).fork('x').next()),
      Array.from({ length: 3 }, () => createRandom(7).fork('x').next()),
    );
    assert.notEqual(createRandom(7).fork('x').next(), createRandom(7).fork('y').next());
    const r = createRandom(1);
    const mean = Array.from({ length: 20_000 }, () => r.exponential(5)).reduce((s, v) => s + v, 0) / 20_000;
    assert.ok(Math.abs(mean - 5) < 0.2, `exponential mean ${mean}`);
  });
});
