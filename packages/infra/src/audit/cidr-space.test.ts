import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrSpace, opensWorld, parseCidr } from './cidr-space.ts';

test('one address space, any spelling', () => {
  const all6 = parseCidr('::/0');
  for (const spelling of ['::0/0', '0:0::/0', '0000:0000:0000:0000:0000:0000:0000:0000/0', '::0:0/0', 'ffff::/0']) {
    assert.deepEqual(parseCidr(spelling), all6, spelling);
  }
  assert.deepEqual(parseCidr('1.2.3.4/0'), parseCidr('0.0.0.0/0'), 'host bits are cleared');
  assert.deepEqual(parseCidr('::ffff:10.0.0.1/128'), parseCidr('::ffff:a00:1/128'), 'embedded IPv4');
  for (const bad of ['0.0.0.0/33', '256.0.0.0/8', '1.2.3/8', '::/129', '1::2::3/64', 'world', '', '0.0.0.0/-1', 'x'.repeat(100)]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('the world threshold: a /8 of public IPv4, a /16 of public IPv6, together across blocks', () => {
  assert.equal(cidrSpace(['0.0.0.0/1', '128.0.0.0/1']).world, true);
  assert.equal(cidrSpace(['128.0.0.0/1']).world, true, 'a /1 alone');
  assert.equal(cidrSpace(['11.0.0.0/8']).world, true, 'a public /8');
  assert.equal(cidrSpace(['11.0.0.0/9']).world, false, 'a public /9');
  assert.equal(cidrSpace(['11.0.0.0/9', '11.128.0.0/9']).world, true, 'two /9s make a /8');
  assert.equal(cidrSpace(['11.0.0.0/9', '11.0.0.0/9']).world, false, 'the same block twice is counted once');
  assert.equal(
    cidrSpace(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8']).world,
    false,
    'private space is not the world',
  );
  assert.equal(cidrSpace(['2000::/16']).world, true);
  assert.equal(cidrSpace(['2000::/17']).world, false);
  assert.equal(cidrSpace(['fc00::/7']).world, false, 'unique local addresses');
  assert.equal(cidrSpace(['::ffff:0:0/96']).world, true, 'all of IPv4, written as IPv6');
  assert.equal(opensWorld(['203.0.113.0/24', 'nonsense']), true, 'an unparsable block fails closed');
  assert.equal(opensWorld(['203.0.113.0/24']), false);
});
