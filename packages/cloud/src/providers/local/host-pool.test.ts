import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pickHost, validateHostPool } from './host-pool.ts';

const pool = [
  { namespace: 'snf7n0', privateIp: '10.231.7.10' },
  { namespace: 'snf7n1', privateIp: '10.231.7.11' },
  { namespace: 'snf7n2', privateIp: '10.231.7.12' },
];

describe('host pool (host-per-namespace mode)', () => {
  it("takes a host no live instance is on, a never-used one before a dead instance's", () => {
    assert.equal(pickHost(pool, [])?.namespace, 'snf7n0');
    assert.equal(pickHost(pool, [{ privateIp: '10.231.7.10', state: 'running' }])?.namespace, 'snf7n1');
    // n0's instance was reclaimed: its replacement goes to a fresh host, not straight back.
    assert.equal(
      pickHost(pool, [
        { privateIp: '10.231.7.10', state: 'terminated' },
        { privateIp: '10.231.7.11', state: 'running' },
      ])?.namespace,
      'snf7n2',
    );
    // Every host used once, one free again: that one.
    assert.equal(
      pickHost(pool, [
        { privateIp: '10.231.7.10', state: 'terminated' },
        { privateIp: '10.231.7.11', state: 'shutting-down' },
        { privateIp: '10.231.7.12', state: 'pending' },
      ])?.namespace,
      'snf7n0',
    );
    assert.equal(
      pickHost(
        pool,
        pool.map((h) => ({ privateIp: h.privateIp, state: 'running' as const })),
      ),
      undefined,
      'every host taken',
    );
  });

  it('refuses pools that name the field and the fix', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /hosts must be an array of 1 to 1000/],
      [[{ namespace: '-x', privateIp: '10.0.0.1' }], /hosts\[0\]\.namespace must be a network namespace name/],
      [[{ namespace: 'a/../b', privateIp: '10.0.0.1' }], /hosts\[0\]\.namespace/],
      [[{ namespace: 'a', privateIp: '127.0.0.1' }], /hosts\[0\]\.privateIp must be the namespace's own IPv4 address/],
      [
        [
          { namespace: 'a', privateIp: '10.0.0.1' },
          { namespace: 'b', privateIp: '10.0.0.1' },
        ],
        /hosts\[1\] repeats/,
      ],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => validateHostPool(value),
        (e: Error & { code?: string; hint?: string }) =>
          e.code === 'E_LOCAL_CLOUD_OPTIONS' && message.test(e.message) && typeof e.hint === 'string' && e.hint.length > 0,
      );
    }
    assert.deepEqual(validateHostPool(pool), pool);
  });
});
