/**
 * Conformance suite for InstanceProvider: every provider (local, aws) must pass it.
 * Call it at the top level of a test file; it registers node:test tests.
 *
 * One fixture serves the whole suite; each test launches with its own SynktiRole so
 * tests never see each other's instances. Changes that a real cloud makes visible only
 * eventually (termination) are polled for with a bounded deadline.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TAG_CLUSTER, TAG_ROLE, isSynktiError } from '@synkti/core';
import type { InstanceProvider, InstanceRecord, InstanceState, LaunchSpec } from '../types.ts';
import { listAllInstances } from '../types.ts';

export interface InstanceConformanceFixture {
  provider: InstanceProvider;
  /** Value of SynktiCluster for every instance the suite launches. */
  cluster: string;
  /** Runs after the suite has terminated what it launched. */
  cleanup(): Promise<void>;
  /**
   * Launch fields besides tags used by every launch.
   * @default { instanceType: 't3.micro', lifecycle: 'spot' }
   */
  launchDefaults?: Omit<LaunchSpec, 'tags' | 'clientToken'> | undefined;
  /**
   * Bound on waiting for a change to show (termination reaching `terminated`).
   * @default 60000
   */
  settleTimeoutMs?: number | undefined;
  /**
   * Interval between polls while waiting.
   * @default 250
   */
  pollIntervalMs?: number | undefined;
}

const ALL_STATES: InstanceState[] = ['pending', 'running', 'shutting-down', 'terminated'];
/** Well-formed, never issued. */
const UNKNOWN_ID = 'i-0000000000000000f';

export function runInstanceProviderConformance(name: string, setup: () => Promise<InstanceConformanceFixture>): void {
  let fixture: InstanceConformanceFixture;
  const launched = new Set<string>();

  function uniqueRole(label: string): string {
    return `conf-${label}-${randomBytes(4).toString('hex')}`;
  }

  function provider(): InstanceProvider {
    return fixture.provider;
  }

  async function launch(role: string, extra: Partial<LaunchSpec> & { extraTags?: Record<string, string> } = {}): Promise<InstanceRecord> {
    const { extraTags, ...rest } = extra;
    const record = await provider().launch({
      ...(fixture.launchDefaults ?? { instanceType: 't3.micro', lifecycle: 'spot' }),
      ...rest,
      tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: role, ...extraTags },
    });
    launched.add(record.id);
    return record;
  }

  async function byIds(ids: string[], states: InstanceState[] = ALL_STATES): Promise<InstanceRecord[]> {
    return listAllInstances(provider(), { ids, states });
  }

  /** Polls until every id is terminated; returns their records. */
  async function waitTerminated(ids: string[]): Promise<InstanceRecord[]> {
    const timeout = fixture.settleTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeout;
    for (;;) {
      const records = await byIds(ids);
      if (records.length === ids.length && records.every((r) => r.state === 'terminated')) return records;
      if (Date.now() > deadline) {
        assert.fail(`not terminated within ${timeout} ms: ${records.map((r) => `${r.id}=${r.state}`).join(', ')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, fixture.pollIntervalMs ?? 250));
    }
  }

  /** Starts termination of what a test launched; the suite's `after` waits for nothing. */
  async function release(records: InstanceRecord[]): Promise<void> {
    await provider().terminate(records.map((r) => r.id));
  }

  async function assertCode(promise: Promise<unknown>, code: string, mentions?: string): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(isSynktiError(error, code), `expected ${code}, got ${String(error)}`);
      if (mentions !== undefined) assert.ok(error.message.includes(mentions), `"${error.message}" should name ${mentions}`);
      return true;
    });
  }

  describe(`InstanceProvider conformance: ${name}`, () => {
    before(async () => {
      fixture = await setup();
    });

    after(async () => {
      if (!fixture) return;
      try {
        const live = (await byIds([...launched], ['pending', 'running', 'shutting-down'])).map((r) => r.id);
        if (live.length > 0) await provider().terminate(live);
      } finally {
        await fixture.cleanup();
      }
    });

    it('launch returns an EC2-style id, pending or running, with the launch tags', async () => {
      const role = uniqueRole('launch');
      const record = await launch(role, { extraTags: { SynktiConformance: 'yes' } });
      assert.match(record.id, /^i-[0-9a-f]{8,17}$/);
      assert.ok(record.state === 'pending' || record.state === 'running', `state ${record.state}`);
      assert.equal(record.tags[TAG_CLUSTER], fixture.cluster);
      assert.equal(record.tags[TAG_ROLE], role);
      assert.equal(record.tags.SynktiConformance, 'yes');
      assert.equal(typeof record.privateIp, 'string');
      assert.ok(record.privateIp.length > 0);
      assert.ok(
        Number.isFinite(record.launchedAt) && Math.abs(record.launchedAt - Date.now()) < 10 * 60_000,
        'launchedAt is epoch ms of about now',
      );
      const [listed] = await byIds([record.id]);
      assert.ok(listed, 'the launched instance is listed');
      assert.equal(listed.tags.SynktiConformance, 'yes');
      assert.equal(listed.instanceType, record.instanceType);
      assert.equal(listed.lifecycle, record.lifecycle);
      await release([record]);
    });

    it('tags are set at launch: the very first list by tag finds the instance with all of them', async () => {
      const role = uniqueRole('first-list');
      const record = await launch(role, { extraTags: { SynktiColor: 'green' } });
      const page = await provider().list({ tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: role } });
      assert.deepEqual(
        page.items.map((r) => r.id),
        [record.id],
      );
      assert.equal(page.items[0]!.tags.SynktiColor, 'green');
      assert.equal(page.items[0]!.tags[TAG_CLUSTER], fixture.cluster);
      await release([record]);
    });

    it('launch without SynktiCluster or SynktiRole is refused with E_LAUNCH_SPEC naming the tag', async () => {
      const role = uniqueRole('required');
      const base = fixture.launchDefaults ?? { instanceType: 't3.micro', lifecycle: 'spot' as const };
      await assertCode(provider().launch({ ...base, tags: { [TAG_ROLE]: role } }), 'E_LAUNCH_SPEC', TAG_CLUSTER);
      await assertCode(
        provider().launch({ ...base, tags: { [TAG_CLUSTER]: fixture.cluster, SynktiMarker: role } }),
        'E_LAUNCH_SPEC',
        TAG_ROLE,
      );
      assert.deepEqual((await provider().list({ tags: { [TAG_ROLE]: role } })).items, [], 'nothing was launched');
      assert.deepEqual((await provider().list({ tags: { SynktiMarker: role } })).items, [], 'nothing was launched');
    });

    it('launching twice with one clientToken gives one instance', async () => {
      const role = uniqueRole('token');
      const clientToken = `conf-${randomBytes(8).toString('hex')}`;
      const [a, b] = await Promise.all([launch(role, { clientToken }), launch(role, { clientToken })]);
      const c = await launch(role, { clientToken });
      assert.equal(a.id, b.id);
      assert.equal(a.id, c.id);
      const listed = await listAllInstances(provider(), { tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: role } });
      assert.deepEqual(
        listed.map((r) => r.id),
        [a.id],
      );
      await release([a]);
    });

    it('list filters by tag, role, state and ids', async () => {
      const roleA = uniqueRole('filter-a');
      const roleB = uniqueRole('filter-b');
      const red = await launch(roleA, { extraTags: { SynktiColor: 'red' } });
      const blue = await launch(roleA, { extraTags: { SynktiColor: 'blue' } });
      const other = await launch(roleB, { extraTags: { SynktiColor: 'red' } });
      const all = [red.id, blue.id, other.id];
      const sorted = (records: InstanceRecord[]) => records.map((r) => r.id).sort();

      assert.deepEqual(
        sorted(await listAllInstances(provider(), { tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: roleA } })),
        [red.id, blue.id].sort(),
      );
      assert.deepEqual(sorted(await listAllInstances(provider(), { tags: { [TAG_ROLE]: roleA, SynktiColor: 'red' } })), [red.id]);
      assert.deepEqual(sorted(await listAllInstances(provider(), { tags: { [TAG_ROLE]: roleB } })), [other.id]);
      assert.deepEqual(sorted(await listAllInstances(provider(), { ids: [red.id, other.id] })), [red.id, other.id].sort());
      assert.deepEqual(sorted(await listAllInstances(provider(), { ids: [red.id, other.id], tags: { [TAG_ROLE]: roleA } })), [red.id]);

      await provider().terminate([blue.id]);
      await waitTerminated([blue.id]);
      assert.deepEqual(
        sorted(await listAllInstances(provider(), { ids: all })),
        [red.id, other.id].sort(),
        'terminated is excluded by default',
      );
      assert.deepEqual(sorted(await listAllInstances(provider(), { ids: all, states: ['terminated'] })), [blue.id]);
      assert.deepEqual(sorted(await listAllInstances(provider(), { ids: all, states: ['pending', 'running'] })), [red.id, other.id].sort());
      assert.deepEqual(sorted(await listAllInstances(provider(), { ids: all, states: ALL_STATES })), [...all].sort());
      await release([red, other]);
    });

    it('pages through 5 instances 2 at a time: 3 pages, all 5, no duplicates, in launch order', async () => {
      const role = uniqueRole('pages');
      const records: InstanceRecord[] = [];
      for (let i = 0; i < 5; i += 1) records.push(await launch(role));
      const filter = { tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: role } };
      const pages: InstanceRecord[][] = [];
      let nextToken: string | undefined;
      do {
        const page = await provider().list(filter, { maxResults: 2, nextToken });
        assert.ok(page.items.length <= 2, `page of ${page.items.length}`);
        pages.push(page.items);
        nextToken = page.nextToken;
        assert.ok(pages.length <= 5, 'pagination must end');
      } while (nextToken);
      assert.equal(pages.length, 3);
      const ids = pages.flat().map((r) => r.id);
      assert.equal(new Set(ids).size, 5, 'no duplicates');
      assert.deepEqual([...ids].sort(), records.map((r) => r.id).sort());
      const order = pages.flat();
      for (let i = 1; i < order.length; i += 1) {
        const [a, b] = [order[i - 1]!, order[i]!];
        assert.ok(a.launchedAt < b.launchedAt || (a.launchedAt === b.launchedAt && a.id < b.id), 'ordered by launch time, then id');
      }
      await release(records);
    });

    it('terminate reaches terminated (user-initiated), leaves the default list, and may be repeated', async () => {
      const role = uniqueRole('terminate');
      const record = await launch(role);
      await provider().terminate([record.id]);
      const [done] = await waitTerminated([record.id]);
      assert.equal(done!.stateReason, 'Client.UserInitiatedShutdown');
      assert.deepEqual((await provider().list({ ids: [record.id] })).items, []);
      assert.deepEqual((await provider().list({ tags: { [TAG_CLUSTER]: fixture.cluster, [TAG_ROLE]: role } })).items, []);
      await provider().terminate([record.id]);
    });

    it('tag adds and overwrites tags; untag removes keys and ignores missing ones', async () => {
      const role = uniqueRole('tag');
      const record = await launch(role, { extraTags: { SynktiColor: 'red' } });
      await provider().tag([record.id], { SynktiColor: 'blue', SynktiShape: 'round' });
      let [listed] = await byIds([record.id]);
      assert.equal(listed!.tags.SynktiColor, 'blue');
      assert.equal(listed!.tags.SynktiShape, 'round');
      assert.equal(listed!.tags[TAG_ROLE], role);
      assert.deepEqual(
        (await provider().list({ tags: { [TAG_ROLE]: role, SynktiShape: 'round' } })).items.map((r) => r.id),
        [record.id],
      );
      await provider().untag([record.id], ['SynktiShape', 'SynktiNeverSet']);
      [listed] = await byIds([record.id]);
      assert.equal(listed!.tags.SynktiShape, undefined);
      assert.equal(listed!.tags.SynktiColor, 'blue');
      assert.equal(listed!.tags[TAG_CLUSTER], fixture.cluster);
      await release([record]);
    });

    it('unknown instance ids raise E_INSTANCE_NOT_FOUND and change nothing', async () => {
      const role = uniqueRole('unknown');
      const record = await launch(role);
      await assertCode(provider().terminate([UNKNOWN_ID]), 'E_INSTANCE_NOT_FOUND', UNKNOWN_ID);
      await assertCode(provider().terminate([record.id, UNKNOWN_ID]), 'E_INSTANCE_NOT_FOUND', UNKNOWN_ID);
      await assertCode(provider().tag([UNKNOWN_ID], { SynktiColor: 'red' }), 'E_INSTANCE_NOT_FOUND', UNKNOWN_ID);
      await assertCode(provider().tag([record.id, UNKNOWN_ID], { SynktiColor: 'red' }), 'E_INSTANCE_NOT_FOUND', UNKNOWN_ID);
      await assertCode(provider().untag([UNKNOWN_ID], [TAG_ROLE]), 'E_INSTANCE_NOT_FOUND', UNKNOWN_ID);
      const [listed] = await byIds([record.id]);
      assert.ok(
        listed && listed.state !== 'terminated' && listed.state !== 'shutting-down',
        'a call that failed on one id did not terminate the others',
      );
      assert.equal(listed.tags.SynktiColor, undefined, 'a call that failed on one id did not tag the others');
      assert.deepEqual((await provider().list({ ids: [UNKNOWN_ID] })).items, []);
      await release([record]);
    });
  });
}
