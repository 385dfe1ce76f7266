/**
 * Conformance suite for InstanceMetadata: every way an instance learns about itself
 * (the IMDS client against the local metadata server, against EC2's IMDS, ...) must pass it.
 * Call it at the top level of a test file; it registers node:test tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceIdentity, InstanceMetadata, InterruptionNotice, RebalanceRecommendation } from '../types.ts';

export interface MetadataConformanceFixture {
  metadata: InstanceMetadata;
  /** What `metadata` must report. */
  expected: { identity: InstanceIdentity; tags: Record<string, string>; userData?: string | undefined };
  /** Make the service report this interruption notice (null: none). */
  setNotice(notice: InterruptionNotice | null): Promise<void>;
  /** Make the service report this rebalance recommendation (null: none). */
  setRebalance(recommendation: RebalanceRecommendation | null): Promise<void>;
  cleanup(): Promise<void>;
}

/** A fresh fixture per test, so tests cannot leak notices into each other. */
export function runMetadataConformance(name: string, setup: () => Promise<MetadataConformanceFixture>): void {
  async function withFixture(body: (f: MetadataConformanceFixture) => Promise<void>): Promise<void> {
    const fixture = await setup();
    try {
      await body(fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`InstanceMetadata conformance: ${name}`, () => {
    it('reports the instance identity', () =>
      withFixture(async ({ metadata, expected }) => {
        assert.deepEqual(await metadata.identity(), expected.identity);
      }));

    it('reports the instance tags', () =>
      withFixture(async ({ metadata, expected }) => {
        assert.deepEqual(await metadata.tags(), expected.tags);
      }));

    it('reports the user data (undefined when there is none)', () =>
      withFixture(async ({ metadata, expected }) => {
        assert.equal(await metadata.userData(), expected.userData);
      }));

    it('reports no notice and no rebalance recommendation as null', () =>
      withFixture(async (f) => {
        await f.setNotice(null);
        await f.setRebalance(null);
        assert.equal(await f.metadata.interruptionNotice(), null);
        assert.equal(await f.metadata.rebalanceRecommendation(), null);
      }));

    it('shows an interruption notice with its action and time (second precision), and its withdrawal', () =>
      withFixture(async (f) => {
        const whole = Math.floor(Date.now() / 1000) * 1000 + 120_000;
        await f.setNotice({ action: 'terminate', time: whole });
        assert.deepEqual(await f.metadata.interruptionNotice(), { action: 'terminate', time: whole });
        // The same notice is reported on every poll.
        assert.deepEqual(await f.metadata.interruptionNotice(), { action: 'terminate', time: whole });

        const withMillis = whole + 60_000 + 789;
        await f.setNotice({ action: 'stop', time: withMillis });
        const seen = await f.metadata.interruptionNotice();
        assert.ok(seen, 'a notice must be visible');
        assert.equal(seen.action, 'stop');
        assert.ok(Math.abs(seen.time - withMillis) < 1000, `time ${seen.time} must be within a second of ${withMillis}`);

        await f.setNotice(null);
        assert.equal(await f.metadata.interruptionNotice(), null);
      }));

    it('shows a rebalance recommendation with its time (second precision)', () =>
      withFixture(async (f) => {
        const whole = Math.floor(Date.now() / 1000) * 1000 - 5_000;
        await f.setRebalance({ noticeTime: whole });
        assert.deepEqual(await f.metadata.rebalanceRecommendation(), { noticeTime: whole });
        // A rebalance recommendation does not imply an interruption notice.
        await f.setNotice(null);
        assert.equal(await f.metadata.interruptionNotice(), null);
        await f.setRebalance(null);
        assert.equal(await f.metadata.rebalanceRecommendation(), null);
      }));

    it('answers many concurrent reads consistently', () =>
      withFixture(async (f) => {
        const time = Math.floor(Date.now() / 1000) * 1000 + 120_000;
        await f.setNotice({ action: 'terminate', time });
        const results = await Promise.all([...Array.from({ length: 10 }, () => f.metadata.interruptionNotice()), f.metadata.identity()]);
        for (const r of results.slice(0, 10)) assert.deepEqual(r, { action: 'terminate', time });
        assert.deepEqual(results[10], f.expected.identity);
      }));
  });
}
