import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from './duration.ts';
import { SynktiError } from './errors.ts';

test('durations parse from text and numbers into milliseconds', () => {
  assert.equal(parseDuration('30 seconds'), 30_000);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2 minutes'), 120_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration(1200), 1200);
});

test('bad durations name the field and show the expected form', () => {
  assert.throws(
    () => parseDuration('soon', 'timeouts.drain'),
    (e: unknown) => e instanceof SynktiError && e.message.includes('timeouts.drain') && (e.hint ?? '').includes('30 seconds'),
  );
  assert.throws(() => parseDuration(-1), SynktiError);
  assert.throws(() => parseDuration('5 parsecs'), SynktiError);
});

test('durations format for people', () => {
  assert.equal(formatDuration(950), '950ms');
  assert.equal(formatDuration(12_300), '12.3s');
  assert.equal(formatDuration(245_000), '4m05s');
});
