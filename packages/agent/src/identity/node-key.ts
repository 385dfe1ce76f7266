/**
 * A node's own signing key: Ed25519, generated in memory at every start (never written,
 * never sent), bound to the node's cloud identity by its peers (member-verifier.ts). A
 * node signs its own membership entry; a peer's entry relayed by anyone is checked
 * against that peer's key, so the cluster secret alone cannot speak for another node.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { Member } from '../membership-view.ts';

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** What a signature covers: every versioned field of the entry (not `load`, which changes per message). */
export function signedPayload(member: Member): Buffer {
  return Buffer.from(
    JSON.stringify([
      member.id,
      member.role,
      member.zone,
      member.address,
      member.agentPort,
      member.routerPort,
      member.workloadPort,
      member.state,
      member.incarnation,
      member.version,
      member.noticeDeadline ?? null,
      member.replaces ?? null,
      member.key ?? null,
      // Autoscale records are signed (a relay cannot forge a pool's desired count), field by field in a fixed order, only when set.
      ...(member.autoscale === undefined
        ? []
        : [member.autoscale.map((r) => [r.pool, r.epoch, r.desired, r.at, r.action, r.from, r.by, r.reason])]),
      // The generation is signed too (so a relay cannot relabel a node), appended only when set.
      ...(member.generation === undefined ? [] : [member.generation]),
    ]),
    'utf8',
  );
}

export interface NodeKey {
  /** base64 of the raw 32-byte public key: what the member entry carries as `key`. */
  publicKey: string;
  /** The entry with `key` set and signed (`sig`). */
  signMember(member: Member): Member;
}

export function generateNodeKey(): NodeKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const raw = der.subarray(ED25519_SPKI_PREFIX.length).toString('base64');
  return {
    publicKey: raw,
    signMember(member) {
      const keyed = { ...member, key: raw };
      delete keyed.sig;
      return { ...keyed, sig: sign(null, signedPayload(keyed), privateKey).toString('base64') };
    },
  };
}

const keyCache = new Map<string, KeyObject>();

function keyObject(raw: string): KeyObject | undefined {
  let key = keyCache.get(raw);
  if (key) return key;
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) return undefined;
  try {
    key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
  if (keyCache.size > 10_000) keyCache.clear();
  keyCache.set(raw, key);
  return key;
}

/** Is the entry signed by the key it carries? (Whether that key is the node's is member-verifier's question.) */
export function memberSignatureValid(member: Member): boolean {
  if (!member.key || !member.sig) return false;
  const key = keyObject(member.key);
  if (!key) return false;
  try {
    return verify(null, signedPayload(member), key, Buffer.from(member.sig, 'base64'));
  } catch {
    return false;
  }
}
