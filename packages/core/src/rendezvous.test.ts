import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rendezvousPick, rendezvousRank } from './rendezvous.ts';

test('every node computes the same winner from the same membership, in any order', () => {
  const members = ['i-a', 'i-b', 'i-c', 'i-d', 'i-e'];
  const shuffled = [...members].reverse();
  assert.deepEqual(rendezvousRank('replace:i-x', members), rendezvousRank('replace:i-x', shuffled));
});

test('removing a non-winner does not move the winner', () => {
  const members = ['i-a', 'i-b', 'i-c', 'i-d', 'i-e', 'i-f'];
  const winner = rendezvousPick('job-42', members)[0]!;
  const without = members
    .filter((m) => m !== winner)
    .slice(1)
    .concat(winner);
  assert.equal(rendezvousPick('job-42', without)[0], winner);
});

test('keys spread across candidates', () => {
  const members = ['i-a', 'i-b', 'i-c', 'i-d'];
  const wins = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const w = rendezvousPick(`key-${i}`, members)[0]!;
    wins.set(w, (wins.get(w) ?? 0) + 1);
  }
  for (const m of members) assert.ok((wins.get(m) ?? 0) > 800, `${m} won ${wins.get(m)} of 4000`);
});
