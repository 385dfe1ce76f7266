import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { parseDuration } from '@synkti/core';
import { buildProgram } from './main.ts';
import { describeDurationDefaults, durationText } from './output.ts';

test('durationText writes whole units, and parseDuration reads it back', () => {
  for (const [ms, text] of [
    [120_000, '2m'],
    [60_000, '1m'],
    [2000, '2s'],
    [10_000, '10s'],
    [500, '500ms'],
    [3_600_000, '1h'],
    [0, '0ms'],
    [1500, '1500ms'],
  ] as const) {
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

test('node progress: a line per state change on a pipe, no summary count before it is true; a live line on a terminal', async () => {
  const { createNodeProgress } = await import('./output.ts');
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return {
      chunks,
      stream: {
        isTTY,
        write: (text: string) => {
          chunks.push(text);
          return true;
        },
      } as unknown as NodeJS.WriteStream,
    };
  };
  const pipe = sink(false);
  const progress = createNodeProgress(pipe.stream);
  progress.observe(
    [
      { id: 'i-a', state: 'draining' },
      { id: 'i-b', state: 'draining' },
    ],
    '0/2 terminated',
  );
  progress.observe(
    [
      { id: 'i-a', state: 'draining' },
      { id: 'i-b', state: 'draining' },
    ],
    '0/2 terminated',
  );
  progress.observe(
    [
      { id: 'i-a', state: 'terminated' },
      { id: 'i-b', state: 'draining' },
    ],
    '1/2 terminated',
  );
  progress.done('2 terminated');
  assert.equal(pipe.chunks.join(''), 'i-a: draining\ni-b: draining\ni-a: draining → terminated\n2 terminated\n');

  const tty = sink(true);
  const live = createNodeProgress(tty.stream);
  live.observe([{ id: 'i-a', state: 'booting' }], '0/1 ready');
  live.observe([{ id: 'i-a', state: 'booting' }], '0/1 ready (2s)');
  live.observe([{ id: 'i-a', state: 'ready' }], '1/1 ready');
  live.done();
  const screen = tty.chunks.join('');
  assert.match(
    screen,
    // eslint-disable-next-line no-control-regex -- matches the ANSI escapes the output must not contain
    /i-a: booting\n\r\x1b\[2K0\/1 ready\r\x1b\[2K0\/1 ready \(2s\)\r\x1b\[2Ki-a: booting → ready\n\r\x1b\[2K1\/1 ready\r\x1b\[2K$/,
  );
});
