/**
 * The security suite's ledger: every attack a test replays is recorded with whether it
 * held, and the suite prints `# attacks N, held N` (issue 17's summary line).
 *
 * node:test runs each test file in its own process, so each file's results are appended
 * to one ledger per test run (keyed by the runner's pid, in the OS temp dir) and every
 * file prints the run's totals so far when it ends: the last line printed is the suite's.
 *
 *   import { recordAttack } from './attack-ledger.ts';
 *   recordAttack('ghost member: 0 launches', launches === 0);
 *   assert.equal(launches, 0);
 *
 * Record before asserting, so a failed attack is counted (held=false) and then fails the test.
 */
import { after } from 'node:test';
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Entry {
  file: string;
  name: string;
  held: boolean;
}

const file = process.argv[1] ?? 'unknown';
/** One ledger per `node --test` run: its files' processes share the runner as parent. */
export const ledgerPath = join(tmpdir(), `synkti-attack-ledger-${process.ppid}.jsonl`);
const mine: Entry[] = [];

/** Record one replayed attack and whether the system held against it. */
export function recordAttack(name: string, held: boolean): void {
  const entry: Entry = { file, name: name.slice(0, 200), held };
  mine.push(entry);
  appendFileSync(ledgerPath, `${JSON.stringify(entry)}\n`);
}

/** Every attack recorded in this run so far, all files. */
export function ledgerEntries(): Entry[] {
  let text = '';
  try {
    text = readFileSync(ledgerPath, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Entry);
}

/** The summary line for a list of entries. */
export function summaryLine(entries: readonly Entry[]): string {
  return `# attacks ${entries.length}, held ${entries.filter((e) => e.held).length}`;
}

after(() => {
  if (mine.length === 0) return;
  for (const e of mine) if (!e.held) process.stdout.write(`# attack NOT held: ${e.name}\n`);
  process.stdout.write(`# this file: ${summaryLine(mine).slice(2)}\n`);
  process.stdout.write(`${summaryLine(ledgerEntries())}\n`);
});
