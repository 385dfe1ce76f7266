import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { chaosRateOption, durationOption, nonNegativeNumber, positiveNumber, repeatable, wholeNumberOption } from './option-parsers.ts';

function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('the value was accepted');
}

test('whole numbers: bounds, fractions, signs and junk are refused with the range', () => {
  const port = wholeNumberOption(0, 65535);
  assert.equal(port('8080'), 8080);
  assert.equal(port(' 0 '), 0);
  for (const bad of ['65536', '1.5', '-1', '1e3', '', 'ten'])
    assert.match(
      refusal(() => port(bad)),
      /whole number from 0 to 65535/,
      bad,
    );
  assert.equal(wholeNumberOption(-5, 5)('-3'), -3);
});

test('numbers: positive refuses 0, non-negative accepts it', () => {
  assert.equal(positiveNumber('0.5'), 0.5);
  assert.match(
    refusal(() => positiveNumber('0')),
    /positive number/,
  );
  assert.equal(nonNegativeNumber('0'), 0);
  assert.match(
    refusal(() => nonNegativeNumber('-0.1')),
    /≥ 0/,
  );
  assert.match(
    refusal(() => nonNegativeNumber(' ')),
    /≥ 0/,
  );
});

test('durations: words and units in ms; positive refuses zero; the examples are shown', () => {
  const any = durationOption();
  assert.equal(any('2 minutes'), 120_000);
  assert.equal(any('500ms'), 500);
  assert.equal(any('0s'), 0);
  const positive = durationOption({ positive: true, examples: '"2s"' });
  assert.equal(
    refusal(() => positive('0s')),
    'expected a positive duration such as "2s"',
  );
  assert.equal(
    refusal(() => positive('soon')),
    'expected a positive duration such as "2s"',
  );
});

test('chaos rate: per hour or per minute', () => {
  assert.equal(chaosRateOption('6/h'), 6);
  assert.equal(chaosRateOption('1/min'), 60);
  assert.match(
    refusal(() => chaosRateOption('often')),
    /6\/h or 1\/min/,
  );
});

test('repeatable options keep every occurrence in order, with or without a [] default', () => {
  assert.deepEqual(repeatable('b', repeatable('a', undefined)), ['a', 'b']);
  const start: string[] = [];
  assert.deepEqual(repeatable('x', start), ['x']);
  assert.deepEqual(start, [], 'the default array is not mutated (commander reuses it)');
});
