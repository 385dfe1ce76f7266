import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TagBatcher, mergeRun, type TagChange } from './tag-batcher.ts';

class NotFound extends Error {}

function recorder(unknown: Set<string> = new Set()) {
  const calls: TagChange[] = [];
  const batcher = new TagBatcher({
    async send(change) {
      if (change.ids.some((id) => unknown.has(id))) throw new NotFound(`unknown ${change.ids.filter((id) => unknown.has(id)).join(',')}`);
      calls.push(change);
    },
    isPerRequestError: (error) => error instanceof NotFound,
    maxIdsPerCall: 4,
  });
  return { calls, batcher };
}

describe('TagBatcher', () => {
  it('requests made together become one call per distinct tag set, chunked', async () => {
    const { calls, batcher } = recorder();
    const ids = Array.from({ length: 6 }, (_, i) => `i-${i}`);
    await Promise.all(ids.map((id, i) => batcher.tag([id], i % 2 === 0 ? { Color: 'red' } : { Color: 'blue', Size: 'l' })));
    assert.deepEqual(calls, [
      { kind: 'tag', ids: ['i-0', 'i-2', 'i-4'], tags: { Color: 'red' } },
      { kind: 'tag', ids: ['i-1', 'i-3', 'i-5'], tags: { Color: 'blue', Size: 'l' } },
    ]);
    calls.length = 0;
    await batcher.tag(
      Array.from({ length: 9 }, (_, i) => `i-${i}`),
      { Color: 'green' },
    );
    assert.deepEqual(
      calls.map((c) => c.ids.length),
      [4, 4, 1],
      'at most maxIdsPerCall ids per call',
    );
  });

  it('keeps the order of requests: later tags win, untag after tag removes, tag after untag sets', async () => {
    const { calls, batcher } = recorder();
    await Promise.all([
      batcher.tag(['i-1'], { Color: 'red', Shape: 'round' }),
      batcher.tag(['i-1'], { Color: 'blue' }),
      batcher.untag(['i-1'], ['Shape']),
      batcher.tag(['i-1'], { Shape: 'square' }),
    ]);
    assert.deepEqual(calls, [
      { kind: 'tag', ids: ['i-1'], tags: { Color: 'blue', Shape: 'round' } },
      { kind: 'untag', ids: ['i-1'], keys: ['Shape'] },
      { kind: 'tag', ids: ['i-1'], tags: { Shape: 'square' } },
    ]);
  });

  it('a request naming an unknown id fails alone; the others of its batch still apply', async () => {
    const { calls, batcher } = recorder(new Set(['i-bad']));
    const results = await Promise.allSettled([
      batcher.tag(['i-1'], { Color: 'red' }),
      batcher.tag(['i-2', 'i-bad'], { Color: 'red' }),
      batcher.tag(['i-3'], { Color: 'red' }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(
      calls.map((c) => c.ids),
      [['i-1'], ['i-3']],
      'i-2 was not tagged: its request failed whole',
    );
  });

  it("an error that is not one request's fault fails the whole batch without retrying each", async () => {
    let sends = 0;
    const batcher = new TagBatcher({
      async send() {
        sends += 1;
        throw new Error('denied');
      },
      isPerRequestError: () => false,
    });
    const results = await Promise.allSettled([batcher.tag(['i-1'], { A: '1' }), batcher.tag(['i-2'], { A: '1' })]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(sends, 1);
  });

  it('mergeRun groups untag key sets like tag sets', () => {
    assert.deepEqual(
      mergeRun([
        { kind: 'untag', ids: ['a', 'b'], keys: ['X'] },
        { kind: 'untag', ids: ['b'], keys: ['Y'] },
        { kind: 'untag', ids: ['c'], keys: ['Y', 'X'] },
      ]),
      [
        { kind: 'untag', ids: ['a'], keys: ['X'] },
        { kind: 'untag', ids: ['b', 'c'], keys: ['X', 'Y'] },
      ],
    );
  });
});
