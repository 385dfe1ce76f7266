import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSynktiError } from '@synkti/core';
import { capacityAt, loadTraceDir } from './trace-loader.ts';

const SHIPPED = fileURLToPath(new URL('../data/availability-aws-v100-2023-02', import.meta.url));

describe('loadTraceDir', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-traces-'));
    dirs.push(dir);
    return dir;
  };

  it('loads the shipped 6-zone V100 availability traces (45 days, 195 s ticks)', async () => {
    const set = await loadTraceDir(SHIPPED);
    assert.deepEqual(
      set.zones.map((z) => z.zone),
      ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-2a', 'us-west-2a', 'us-west-2b'],
    );
    assert.equal(set.kind, 'availability');
    assert.equal(set.gapMs, 195_000);
    assert.ok(set.durationMs / 86_400_000 > 45 && set.durationMs / 86_400_000 < 46);
    const zone = set.zones[0]!;
    assert.equal(capacityAt(zone, 0), zone.values[0]! > 0 ? Infinity : 0);
  });

  it('names the file and line of a bad value', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'zone-a.json'), '{"metadata": {"gap_seconds": 60},\n "data": [1, 0,\n 1, -1, 0]}\n');
    await assert.rejects(loadTraceDir(dir), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_SIM_TRACE_FORMAT'));
      assert.match(error.message, /zone-a\.json:3: data\[3\] must be a whole number/);
      return true;
    });
  });

  it('names the file of broken JSON, a missing gap and mismatched gaps', async () => {
    const broken = await tempDir();
    await writeFile(join(broken, 'z.json'), '{"metadata": {"gap_seconds": 60},\n "data": [1, 0,, 1]}');
    await assert.rejects(loadTraceDir(broken), /z\.json.*not valid JSON/);
    const noGap = await tempDir();
    await writeFile(join(noGap, 'z.json'), '{"metadata": {}, "data": [1]}');
    await assert.rejects(loadTraceDir(noGap), /z\.json:1: metadata\.gap_seconds must be a positive number/);
    const mixed = await tempDir();
    await writeFile(join(mixed, 'a.json'), '{"metadata": {"gap_seconds": 60}, "data": [1]}');
    await writeFile(join(mixed, 'b.json'), '{"metadata": {"gap_seconds": 300}, "data": [1]}');
    await assert.rejects(loadTraceDir(mixed), /b\.json: gap_seconds 300 differs/);
    await assert.rejects(loadTraceDir(join(mixed, 'missing')), { code: 'E_SIM_TRACES' });
    const empty = await tempDir();
    await mkdir(join(empty, 'sub'));
    await assert.rejects(loadTraceDir(empty), /no <zone>\.json trace files/);
  });

  it('reads preemption traces as capacity counts', async () => {
    const dir = join(await tempDir(), 'preemption-test');
    await mkdir(dir);
    await writeFile(join(dir, 'z.json'), '{"metadata": {"gap_seconds": 300}, "data": [4, 2, 0]}');
    const set = await loadTraceDir(dir);
    assert.equal(set.kind, 'preemption');
    assert.deepEqual(
      [0, 300_000, 600_000].map((t) => capacityAt(set.zones[0]!, t)),
      [4, 2, 0],
    );
  });
});
