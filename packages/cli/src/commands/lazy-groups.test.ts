import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { buildProgram } from '../main.ts';
import { addCoreCommands, baseProgram } from '../program.ts';
import { completeWords } from './completion.ts';
import { LAZY_GROUPS } from './lazy-groups.ts';

test('the lazy command table matches what each group module really registers', async () => {
  for (const group of LAZY_GROUPS) {
    const program = new Command('synkti');
    (await group.load())(program);
    const registered = Object.fromEntries(program.commands.map((c) => [c.name(), c.description()]));
    assert.deepEqual(registered, group.commands, 'update LAZY_GROUPS in lazy-groups.ts to match the module');
  }
});

test('every group registered by groups.ts is in the lazy table (so `synkti --help` lists it)', () => {
  const core = new Set(addCoreCommands(baseProgram()).commands.map((c) => c.name()));
  const lazy = new Set(LAZY_GROUPS.flatMap((g) => Object.keys(g.commands)));
  const full = buildProgram()
    .commands.map((c) => c.name())
    .filter((name) => !core.has(name));
  assert.deepEqual(full.sort(), [...lazy].sort());
});

test('completion offers subcommands and options for the word being typed', () => {
  const program = buildProgram();
  assert.deepEqual(completeWords(program, ['wo']), ['worker']);
  assert.deepEqual(completeWords(program, ['worker', 'l']), ['launch', 'list']);
  assert.ok(completeWords(program, ['up', '--n']).includes('--nodes'));
});
