import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { parseDuration } from '@synkti/core';
import { buildProgram } from './main.ts';
import { describeDurationDefaults, durationText } from './output.ts';

test('durationText writes whole units, and parseDuration reads it back', () => {
  for (const [ms, text] of [[120_000, '2m'], [60_000, '1m'], [2000, '2s'], [10_000, '10s'], [500, '500ms'], [3_600_000, '1h'], [0, '0ms'], [1500, '1500ms']] as const) {
    assert.equal(durationText(ms), text);
    assert.equal(parseDuration(text), ms);
  }
});

test('every <duration> option of every command shows its default as a duration in --help', () => {
  const program = buildProgram();
  describeDurationDefaults(program);
  const seen: string[] = [];
  const walk = (command: Command, path: string): void => {
    for (const option of command.options) {
      if (!option.flags.includes('<duration>') || option.defaultValue === undefined) continue;
      seen.push(`${path} ${option.long}`);
      assert.equal(option.defaultValueDescription, durationText(Number(option.defaultValue)), `${path} ${option.long}`);
    }
    for (const sub of command.commands) walk(sub, `${path} ${sub.name()}`);
  };
  walk(program, 'synkti');
  const preempt = program.commands.find((c) => c.name() === 'preempt')!;
  assert.match(preempt.helpInformation().replace(/\s+/g, ' '), /--in <duration> .*\(default: 2m\)/);
  assert.ok(seen.includes('synkti preempt --in'), seen.join(', '));
  assert.ok(seen.length >= 10, `${seen.length} duration options`);
});
