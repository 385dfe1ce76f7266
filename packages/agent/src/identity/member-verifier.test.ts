import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudIdentitySigner, verifyIdentityProof, type IdentityProof } from '@synkti/cloud';
import { MembershipView, MAX_VERSION_JUMP, type Member } from '../membership-view.ts';
import type { PeerClient } from '../peer-client.ts';
import { createLogger } from '../logger.ts';
import { MemberVerifier } from './member-verifier.ts';
import { generateNodeKey, memberSignatureValid } from './node-key.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-verifier-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const cloud = cloudIdentitySigner(join(dir, 'cloud-identity-key.pem'));
const trust = { certificates: [], cloudKeys: [createPublicKey(cloud.publicKeyPem)] };
const PORTS = { agent: 7001, router: 8001, workload: 9001 };

function proofOf(id: string, ports = PORTS): IdentityProof {
  return {
    kind: 'cloud-ed25519',
    ...cloud.sign({
      instanceId: id,
      privateIp: '127.0.0.1',
      region: 'local',
      availabilityZone: 'local-a',
      synkti: { cluster: 'c', ports },
    }),
  };
}
function entry(id: string, ports = PORTS, extra: Partial<Member> = {}): Member {
  return {
    id,
    role: 'worker',
    zone: 'local-a',
    address: '127.0.0.1',
    agentPort: ports.agent,
    routerPort: ports.router,
    workloadPort: ports.workload,
    state: 'ready',
    incarnation: 1000,
    version: 1,
    load: 0,
    ...extra,
  };
}

/** A network where whoever listens at address:agentPort answers GET /v1/identity. */
function network(listeners: Map<string, { proof: IdentityProof; key: string }>): { peers: PeerClient; fetches: string[] } {
  const fetches: string[] = [];
  const peers = {
    async request(peer: { address: string; agentPort: number }) {
      fetches.push(`${peer.address}:${peer.agentPort}`);
      const answer = listeners.get(`${peer.address}:${peer.agentPort}`);
      if (!answer) throw new Error('ECONNREFUSED');
      return answer;
    },
  } as unknown as PeerClient;
  return { peers, fetches };
}

function verifierFor(peers: PeerClient, verified: Member[]): MemberVerifier {
  return new MemberVerifier({
    selfId: 'i-self',
    cluster: 'c',
    selfDocument: verifyIdentityProof(proofOf('i-self', { agent: 7000, router: 8000, workload: 9000 }), trust),
    trust,
    defaultPorts: { agent: 7946, router: 8080, workload: 8000 },
    peers,
    logger: createLogger({ component: 'test', level: 'silent' }),
    onVerified: (m) => verified.push(m),
  });
}

async function settle(verifier: MemberVerifier): Promise<void> {
  for (let i = 0; i < 50 && verifier.stats.fetches > verifier.stats.verified + verifier.stats.refused; i++)
    await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 5));
}

test('a member is taken once the node at its signed address proves the key its entry is signed with', async () => {
  const b = generateNodeKey();
  const { peers, fetches } = network(new Map([['127.0.0.1:7001', { proof: proofOf('i-b'), key: b.publicKey }]]));
  const verified: Member[] = [];
  const verifier = verifierFor(peers, verified);
  const signed = b.signMember(entry('i-b'));
  assert.ok(memberSignatureValid(signed));
  assert.equal(verifier.check(signed), 'pending');
  await settle(verifier);
  assert.deepEqual(
    verified.map((m) => m.id),
    ['i-b'],
    'the held entry is handed over once verified',
  );
  assert.equal(
    verifier.check(b.signMember(entry('i-b', PORTS, { version: 2, state: 'draining' }))),
    'ok',
    'its later entries pass without another fetch',
  );
  assert.equal(fetches.length, 1);
});

test('ghosts, impersonators, moved ports, unsigned entries and our own id are refused', async () => {
  const b = generateNodeKey();
  const attacker = generateNodeKey();
  const attackerPorts = { agent: 7100, router: 7100, workload: 7100 };
  // The attacker replays B's real document at its own port, with its own key.
  const { peers } = network(
    new Map([
      ['127.0.0.1:7001', { proof: proofOf('i-b'), key: b.publicKey }],
      ['127.0.0.1:7100', { proof: proofOf('i-b'), key: attacker.publicKey }],
    ]),
  );
  const verified: Member[] = [];
  const verifier = verifierFor(peers, verified);
  verifier.check(b.signMember(entry('i-b')));
  await settle(verifier);
  const cases: [string, Member][] = [
    ["impersonation at the attacker's ports", attacker.signMember(entry('i-b', attackerPorts, { incarnation: 1001 }))],
    ["impersonation at B's address with the attacker's key", attacker.signMember(entry('i-b', PORTS, { incarnation: 1001 }))],
    ["B's key, the attacker's workload port (signature no longer matches)", { ...b.signMember(entry('i-b')), workloadPort: 7100 }],
    ['a ghost', attacker.signMember(entry('i-ghost1', attackerPorts))],
    ['unsigned', entry('i-c')],
    ['a host name to resolve instead of an IP', attacker.signMember(entry('i-d', PORTS, { address: 'metadata.internal' }))],
    ['speaking as us', attacker.signMember(entry('i-self'))],
  ];
  // One verification per member id at a time: entries for the same id are verified in turn.
  let verdicts = cases.map(([, m]) => verifier.check(m));
  for (let round = 0; round < 5 && verdicts.includes('pending'); round++) {
    await settle(verifier);
    verdicts = cases.map(([, m]) => verifier.check(m));
  }
  for (const [i, [what]] of cases.entries()) assert.equal(verdicts[i], 'refused', what);
  assert.deepEqual(
    verified.map((m) => m.id),
    ['i-b'],
    'nothing but the real B was ever taken',
  );
  assert.equal(verifier.check(b.signMember(entry('i-b', PORTS, { version: 3 }))), 'ok', 'the real B is not locked out by the attempts');
});

test('claims about others are bounded; news of our own death is always refuted, above the version it names', () => {
  const view = new MembershipView({ self: entry('i-a', PORTS, { incarnation: 5000, version: 3 }), clock: () => 10_000 });
  view.applyAlive(entry('i-b', PORTS, { incarnation: 5000, version: 7 }));
  const huge = Number.MAX_SAFE_INTEGER;
  assert.equal(
    view.applyDead({ id: 'i-b', incarnation: huge, version: huge }).changed,
    false,
    'a newer incarnation is learned only from the member itself',
  );
  assert.equal(view.applyDead({ id: 'i-b', incarnation: 5000, version: 7 + MAX_VERSION_JUMP + 1 }).changed, false, 'too far ahead');
  assert.equal(view.applySuspect({ id: 'i-b', incarnation: huge, version: 0 }, 0).changed, false);
  assert.equal(
    view.applyDead({ id: 'i-unknown', incarnation: 10_000 + 3_600_000, version: 0 }).changed,
    false,
    'an incarnation from the future',
  );
  assert.equal(view.has('i-b'), true);
  // A believable death does bury; the member's refutation above the named version brings it back.
  assert.equal(view.applyDead({ id: 'i-b', incarnation: 5000, version: 12 }).changed, true);
  assert.equal(view.has('i-b'), false);
  assert.equal(view.applyAlive(entry('i-b', PORTS, { incarnation: 5000, version: 13 })).joined?.id, 'i-b');
  // About ourselves: refuted whatever it names; above it when it is about this incarnation and in bounds.
  const forged = view.applyDead({ id: 'i-a', incarnation: huge, version: huge });
  assert.equal(forged.refute, true);
  assert.equal(forged.refuteAbove, 0);
  const near = view.applyDead({ id: 'i-a', incarnation: 5000, version: 40 });
  assert.equal(near.refuteAbove, 40);
  assert.equal(view.updateSelf({}, near.refuteAbove).version, 41);
});
