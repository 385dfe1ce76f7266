import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { POLICY_NAMES } from '@synkti/sim';
import { buildProgram } from '../main.ts';
import { runSimCommand, type SimCommandOptions } from './sim-run.ts';

const BIN = fileURLToPath(new URL('../../bin/synkti.mjs', import.meta.url));
const base: SimCommandOptions = {
  replicas: 4,
  policy: 'all',
  days: 2,
  seed: 1,
  rps: 0.05,
  arrivals: 'poisson',
  workload: 'serve',
  json: true,
  progress: false,
};

describe('synkti sim', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('--json prints one line per policy with exactly the documented keys', async () => {
    const { text, results } = await runSimCommand(base);
    const lines = text.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => l.policy),
      [...POLICY_NAMES],
    );
    for (const line of lines) {
      assert.deepEqual(Object.keys(line), [
        'policy',
        'cost_usd',
        'cost_vs_on_demand',
        'availability',
        'failed_request_fraction',
        'preemptions',
      ]);
      assert.equal(typeof line.cost_usd, 'number');
      assert.ok((line.availability as number) >= 0 && (line.availability as number) <= 1);
    }
    assert.equal(lines[0]!.cost_vs_on_demand, 1);
    assert.equal(results.length, POLICY_NAMES.length);
  });

  it('prints a table with every policy and writes an SVG chart with a panel per policy', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-sim-'));
    dirs.push(dir);
    const chart = join(dir, 'replicas.svg');
    const { text } = await runSimCommand({ ...base, json: false, policy: 'on-demand,skyserve,synkti', chart });
    assert.match(text, /policy\s+cost\s+vs on-demand\s+availability\s+failed requests\s+preemptions\s+replacements/);
    for (const name of ['on-demand', 'skyserve', 'synkti']) assert.match(text, new RegExp(`^${name}\\s+\\$\\d+\\.\\d\\d`, 'm'));
    const svg = await readFile(chart, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<path /g) ?? []).length, 3 * 3);
    for (const name of ['on-demand', 'skyserve', 'synkti']) assert.ok(svg.includes(`>${name}</text>`));
  });

  it('batch: reports lost work and the deadline', async () => {
    const { text } = await runSimCommand({ ...base, json: false, policy: 'spot-single-zone,deadline', workload: 'batch', days: 3 });
    assert.match(text, /job: \d+ tasks of 15 min, deadline 57\.6 h/);
    assert.match(text, /^deadline\s.*\bmet$/m);
  });

  it('rejects a zone without a trace and more days than the traces hold, naming them', async () => {
    await assert.rejects(runSimCommand({ ...base, zone: 'mars-1a' }), /--zone mars-1a has no trace/);
    await assert.rejects(runSimCommand({ ...base, days: 90 }), {
      code: 'E_SIM_DURATION',
      message: /requested 90\.00 days but the traces .* cover 45\.50 days/,
    });
  });

  it('runs from the command line', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [BIN, 'sim', '--days', '1', '--policy', 'on-demand,synkti', '--json', '--seed', '7'],
      { timeout: 60_000 },
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { policy: string });
    assert.deepEqual(
      lines.map((l) => l.policy),
      ['on-demand', 'synkti'],
    );
  });

  it('--zones, limits and price history reach the run; --sweep prints the table and writes its SVG', async () => {
    const zones = ['us-east-2a', 'us-west-2a', 'us-west-2b'];
    const spotPrices = fileURLToPath(new URL('../../../sim/data/spot-prices-p3.2xlarge-sample.json', import.meta.url));
    const { text, results } = await runSimCommand({
      ...base,
      json: false,
      policy: 'synkti',
      days: 1,
      zones,
      capacityCap: 1,
      onDemandCapacity: 3,
      spotPrices,
      launchDelay: { kind: 'uniform', minMs: 60_000, maxMs: 300_000 },
    });
    assert.match(text, /^3 zones \(us-east-2a, us-west-2a, us-west-2b\).*launch delay uniform 60-300 s$/m);
    assert.match(text, /^limits: at most 1 spot per zone, at most 3 on-demand at once$/m);
    assert.match(text, /prices: spot from .*spot-prices-p3\.2xlarge-sample\.json \(mean us-east-2a \$0\.\d{3}/);
    assert.deepEqual(
      [...new Set(results[0]!.instances.map((i) => i.zone))].every((z) => zones.includes(z)),
      true,
    );
    await assert.rejects(runSimCommand({ ...base, zones: ['us-east-2a', 'mars-1a'] }), {
      code: 'E_SIM_ZONE',
      message: /--zones: mars-1a has no trace/,
    });
    const dir = await mkdtemp(join(tmpdir(), 'synkti-sweep-'));
    dirs.push(dir);
    const chart = join(dir, 'sweep.svg');
    const sweep = await runSimCommand({ ...base, json: false, sweep: true, days: 1, zones, chart });
    assert.match(sweep.text, /^sweep: 1 zone sets × replicas 2\/4\/8 × launch delay 60\/183\/600 s/m);
    // 3 replica counts × 3 delays × 2 policies, each with a cost at 5 price ratios.
    const rows = sweep.text.split('\n').filter((l) => l.startsWith('| us-east-2a'));
    assert.equal(rows.length, 18);
    for (const row of rows) assert.equal((row.match(/ \d+\.\d %/g) ?? []).length, 5, row);
    const svg = await readFile(chart, 'utf8');
    assert.match(svg, /^<svg xmlns/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 18);
  });

  it('rejects an unknown policy before running anything', async () => {
    const program = buildProgram();
    let stderr = '';
    program.configureOutput({
      writeErr: (text) => {
        stderr += text;
      },
      writeOut: () => {},
    });
    for (const command of program.commands)
      command.configureOutput({
        writeErr: (text) => {
          stderr += text;
        },
        writeOut: () => {},
      });
    await assert.rejects(program.parseAsync(['node', 'synkti', 'sim', '--policy', 'cheapest']), { code: 'commander.invalidArgument' });
    assert.match(stderr, /unknown policy "cheapest"/);
  });
});
