/**
 * Issue 17, replayed over the network against a real local fleet of 3 serving nodes, by an
 * attacker who holds the cluster secret (it can POST /v1/gossip to every agent) and runs
 * its own server on loopback that answers like an agent and like a model server:
 * - ghost members: two members that were never launched → 0 launches, 0 requests routed;
 * - impersonation: a live member's id, incarnation + 1, the attacker's workload port →
 *   0 requests to the attacker, the member's entry unchanged in every view;
 * - forged death at incarnation 2^53−1 → ignored: the victim stays in every view; a
 *   believable one (its own incarnation) → the victim refutes within one failure timeout;
 * - speaking as the receiving node, and a ping-req aimed at an address outside the fleet.
 * Each attack is recorded in the attack ledger (`# attacks N, held N`).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateKeyPairSync, sign } from 'node:crypto';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_REPLACES } from '@synkti/core';
import { createLocalCloud, listAllInstances, type InstanceRecord } from '@synkti/cloud';
import { STAND_IN_MAIN } from '../../packages/cli/src/demo/demo.ts';
import { ensureClusterSecret } from '../../packages/cli/src/local-fleet.ts';
import { signedPayload } from '../../packages/agent/src/identity/node-key.ts';
import type { Member } from '../../packages/agent/src/membership-view.ts';
import { makeProject, runCli, uniqueName, waitFor } from '../helpers/cli.ts';
import { recordAttack } from './attack-ledger.ts';

const FAILURE_TIMEOUT_MS = 2000;
const name = uniqueName('e2e-trust');
const project = makeProject({
  name,
  pools: { worker: { count: 3 } },
  workload: {
    command: [process.execPath, '--import', import.meta.resolve('tsx'), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '1ms'],
    healthPath: '/health',
    startupTimeout: '30s',
  },
  timeouts: { gossipInterval: '500ms', failureTimeout: '2s', listInterval: '5s' },
});
const stateDir = join(project.dir, '.synkti', name);
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

/** The attacker's own key: it can sign, but only as itself. */
const attackerKey = generateKeyPairSync('ed25519');
const attackerRaw = attackerKey.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64');
function attackerSigned(member: Member): Member {
  const keyed = { ...member, key: attackerRaw };
  delete keyed.sig;
  return { ...keyed, sig: sign(null, signedPayload(keyed), attackerKey.privateKey).toString('base64') };
}

interface Node {
  id: string;
  agent: string;
  router: string;
  record: InstanceRecord;
}
function nodeOf(record: InstanceRecord): Node {
  return {
    id: record.id,
    record,
    agent: `http://${record.privateIp}:${record.tags[TAG_PORT_AGENT]}`,
    router: `http://${record.privateIp}:${record.tags[TAG_PORT_ROUTER]}`,
  };
}

test('members prove who they are; the cloud decides membership', { timeout: 120_000 }, async (t) => {
  const up = await runCli(['up', '--timeout', '40s'], { cwd: project.dir });
  assert.equal(up.code, 0, up.stderr);
  const { secret } = ensureClusterSecret(stateDir);
  const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const cloud = createLocalCloud({ stateDir });
  t.after(() => cloud.close());
  const records = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.equal(records.length, 3);
  const nodes = records.map(nodeOf);
  const [a, b] = nodes as [Node, Node, Node];

  const status = async (node: Node): Promise<{ members: Member[] }> => {
    const res = await fetch(`${node.agent}/status`, { headers: auth, signal: AbortSignal.timeout(3000) });
    return (await res.json()) as { members: Member[] };
  };
  const gossip = async (node: Node, message: unknown): Promise<number> => {
    const res = await fetch(`${node.agent}/v1/gossip`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(3000),
    });
    const text = await res.text();
    // Every forged message is well-formed and authenticated: it is the identity checks that must refuse it.
    assert.equal(res.status, 200, `the agent took the message: ${text.slice(0, 300)}`);
    return res.status;
  };
  /** Full entries (versions, workload ports), as any holder of the secret learns them from a sync reply. */
  const fullEntries = async (node: Node, from: Member): Promise<Member[]> => {
    const res = await fetch(`${node.agent}/v1/gossip`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ kind: 'sync', from, reply: true, members: [], dead: [] }),
    });
    const body = (await res.json()) as { messages?: { members?: Member[] }[] };
    return body.messages?.[0]?.members ?? [];
  };
  const entryOf = async (viewer: Node, id: string): Promise<Member | undefined> => (await status(viewer)).members.find((m) => m.id === id);
  await waitFor(
    'every node sees 3 ready members',
    async () => {
      for (const node of nodes) if ((await status(node)).members.filter((m) => m.state === 'ready').length !== 3) return undefined;
      return true;
    },
    30_000,
  );

  // The attacker's server: answers gossip like an agent, /v1/identity with a replayed real
  // proof and its own key, and counts every model request it is sent.
  let modelRequests = 0;
  let probesToAttacker = 0;
  const realIdentity = (await (await fetch(`${b.agent}/v1/identity`, { headers: auth })).json()) as { proof: unknown };
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith('/v1/identity')) {
      res.end(JSON.stringify({ proof: realIdentity.proof, key: attackerRaw }));
      return;
    }
    if (req.url?.startsWith('/v1/gossip')) {
      probesToAttacker += 1;
      res.end(JSON.stringify({ messages: [] }));
      return;
    }
    if (req.url?.startsWith('/health')) {
      res.end('ok');
      return;
    }
    modelRequests += 1;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        id: 'x',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'stolen' }, finish_reason: 'stop' }],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const attackerPort = (server.address() as AddressInfo).port;

  const statuses: number[] = [];
  const route20 = async (): Promise<number> => {
    let ok = 0;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${a.router}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'synkti-stand-in', messages: [{ role: 'user', content: 'secret prompt' }], max_tokens: 3 }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 200) ok += 1;
    }
    return ok;
  };

  // 1. Ghost members: two never-launched instances announced with a valid secret.
  const ghost = (id: string): Member =>
    attackerSigned({
      id,
      role: 'worker',
      zone: 'local-a',
      address: '127.0.0.1',
      agentPort: attackerPort,
      routerPort: attackerPort,
      workloadPort: attackerPort,
      state: 'ready',
      incarnation: Date.now(),
      version: 1,
      load: 0,
    });
  const ghosts = [ghost('i-ghost1'), ghost('i-ghost2')];
  for (const node of nodes) {
    await gossip(node, { kind: 'gossip', from: ghosts[0], updates: ghosts.map((member) => ({ type: 'alive', member })) });
    await gossip(node, { kind: 'sync', from: ghosts[1], reply: true, members: ghosts, dead: [] });
  }
  // Then tell everyone they died, as a lost member would be: a real fleet would replace them.
  for (const node of nodes) {
    await gossip(node, {
      kind: 'gossip',
      from: ghosts[0],
      updates: ghosts.map((g) => ({ type: 'dead', id: g.id, incarnation: g.incarnation, version: g.version })),
    });
  }
  const servedDuringGhosts = await route20();
  // Every replacement decision is made within a re-check or two of a loss (failureTimeout each).
  await new Promise((r) => setTimeout(r, 2 * FAILURE_TIMEOUT_MS + 1000));
  const launched = (await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] })).filter(
    (r) => r.tags[TAG_REPLACES]?.startsWith('i-ghost'),
  );
  const ghostsInViews = (await Promise.all(nodes.map(status))).flatMap((s) => s.members).filter((m) => m.id.startsWith('i-ghost')).length;
  recordAttack('ghost members: 0 launches', launched.length === 0);
  recordAttack('ghost members: 0 requests routed to them', modelRequests === 0 && servedDuringGhosts === 20);
  recordAttack('ghost members: in no view', ghostsInViews === 0);
  assert.equal(launched.length, 0, 'no instance launched for a ghost');
  assert.equal(modelRequests, 0, 'no request routed to a ghost');
  assert.equal(servedDuringGhosts, 20, `every request served by the real fleet: ${statuses.join(',')}`);
  assert.equal(ghostsInViews, 0, 'ghosts are in no view');

  // 2. Impersonation: B's id, incarnation + 1, the attacker's workload port.
  const bEntry = (await fullEntries(a, ghosts[0]!)).find((m) => m.id === b.id)!;
  assert.ok(bEntry, "the attacker learned B's entry");
  const forgedB = attackerSigned({
    ...bEntry,
    incarnation: bEntry.incarnation + 1,
    version: 0,
    workloadPort: attackerPort,
    routerPort: attackerPort,
    agentPort: attackerPort,
  });
  const forgedBSameKey = { ...bEntry, incarnation: bEntry.incarnation + 1, workloadPort: attackerPort }; // B's key and old signature
  for (const node of nodes) {
    await gossip(node, {
      kind: 'gossip',
      from: forgedB,
      updates: [
        { type: 'alive', member: forgedB },
        { type: 'alive', member: forgedBSameKey },
      ],
    });
    await gossip(node, { kind: 'sync', from: forgedB, reply: false, members: [forgedB, forgedBSameKey], dead: [] });
  }
  const servedDuringImpersonation = await route20();
  const bSeen = await Promise.all(nodes.filter((n) => n !== b).map((n) => entryOf(n, b.id)));
  // GET /status shows a member's agent and router ports (the forgery changed both, and its workload port).
  const bIntact = bSeen.every(
    (m) =>
      m !== undefined &&
      m.state === 'ready' &&
      m.agentPort === Number(b.record.tags[TAG_PORT_AGENT]) &&
      m.routerPort === Number(b.record.tags[TAG_PORT_ROUTER]),
  );
  recordAttack("impersonation: 0 requests to the attacker's port", modelRequests === 0 && servedDuringImpersonation === 20);
  recordAttack("impersonation: the member's entry unchanged in every view", bIntact);
  assert.equal(modelRequests, 0, 'no request reached the attacker');
  assert.equal(servedDuringImpersonation, 20);
  assert.ok(bIntact, `B's entry as seen by its peers: ${JSON.stringify(bSeen)}`);

  // 3. Forged death at 2^53-1, to every node (the victim included): ignored by all.
  const huge = Number.MAX_SAFE_INTEGER;
  for (const node of nodes)
    await gossip(node, { kind: 'gossip', from: forgedB, updates: [{ type: 'dead', id: b.id, incarnation: huge, version: huge }] });
  let missing = 0;
  const until = Date.now() + FAILURE_TIMEOUT_MS;
  while (Date.now() < until) {
    for (const node of nodes) if (node !== b && !(await entryOf(node, b.id))) missing += 1;
    await new Promise((r) => setTimeout(r, 100));
  }
  recordAttack('forged death at incarnation 2^53-1: the victim stays in every view', missing === 0);
  assert.equal(missing, 0, 'B was never missing from a view');

  // 4. A believable death (B's own incarnation, a version ahead), from a sender that is not a
  // member: no peer takes it (claims about others need a proven sender). Told to B itself, B
  // refutes: its new version reaches A within one failure timeout.
  const current = (await fullEntries(a, ghosts[0]!)).find((m) => m.id === b.id)!;
  const believable = { type: 'dead', id: b.id, incarnation: current.incarnation, version: current.version + 5 };
  await gossip(a, { kind: 'gossip', from: forgedB, updates: [believable] });
  const buriedByA = !(await entryOf(a, b.id));
  await gossip(b, { kind: 'gossip', from: ghosts[0], updates: [believable] });
  const toldAt = Date.now();
  const refutedAt = await waitFor(
    "B's refutation in A's view",
    async () => {
      const seen = (await fullEntries(a, ghosts[0]!)).find((m) => m.id === b.id);
      return seen && seen.version > current.version + 5 ? Date.now() : undefined;
    },
    3 * FAILURE_TIMEOUT_MS,
    50,
  ).catch(() => undefined);
  t.diagnostic(
    `believable forged death: B's refutation in A's view after ${refutedAt === undefined ? 'never' : `${refutedAt - toldAt} ms`}`,
  );
  recordAttack('forged death from a non-member: no peer buries the victim', !buriedByA);
  recordAttack(
    'forged death: the victim refutes within one failure timeout',
    refutedAt !== undefined && refutedAt - toldAt <= FAILURE_TIMEOUT_MS,
  );
  assert.equal(buriedByA, false, 'A did not take a death claim from a non-member');
  assert.ok(
    refutedAt !== undefined && refutedAt - toldAt <= FAILURE_TIMEOUT_MS,
    `B refuted after ${refutedAt === undefined ? 'never' : `${refutedAt - toldAt} ms`}`,
  );

  // 5. Speaking as the receiving node itself: its own state cannot be set by anyone else.
  const aSelf = (await fullEntries(b, ghosts[0]!)).find((m) => m.id === a.id)!;
  await gossip(a, { kind: 'gossip', from: attackerSigned({ ...aSelf, state: 'draining', version: aSelf.version + 1 }), updates: [] });
  const aAfter = await entryOf(b, a.id);
  recordAttack('speaking as the receiver: its state unchanged', aAfter?.state === 'ready');
  assert.equal(aAfter?.state, 'ready');

  // 6. A ping-req aimed outside the fleet: never relayed (the agent would carry the secret there).
  const before = probesToAttacker;
  await gossip(a, {
    kind: 'ping-req',
    seq: 1,
    target: { id: b.id, address: '127.0.0.1', agentPort: attackerPort },
    from: forgedB,
    updates: [],
  });
  await gossip(a, {
    kind: 'ping-req',
    seq: 2,
    target: { id: 'i-elsewhere', address: '127.0.0.1', agentPort: attackerPort },
    from: bEntry,
    updates: [],
  });
  await new Promise((r) => setTimeout(r, 500));
  recordAttack('ping-req to an address outside the fleet: not relayed', probesToAttacker === before);
  assert.equal(probesToAttacker, before);

  // Held attacks still hold: no secret, no API.
  const noSecret = await fetch(`${a.agent}/v1/gossip`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'gossip', from: forgedB, updates: [] }),
  });
  await noSecret.arrayBuffer();
  recordAttack('agent API without the cluster secret: 401', noSecret.status === 401);
  assert.equal(noSecret.status, 401);
});
