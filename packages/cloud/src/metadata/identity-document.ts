/**
 * A node's identity as its cloud vouches for it: the instance identity document and the
 * cloud's signature of it.
 * - On EC2: `/latest/dynamic/instance-identity/pkcs7`, signed by AWS (verified against the
 *   certificate shipped in aws-identity-certificates.ts; the document is inside).
 * - On the local cloud and the emulated AWS: the same document at
 *   `/latest/dynamic/instance-identity/document`, signed with Ed25519 by that cloud's key
 *   (`.../synkti-ed25519`), whose public key the instance's own metadata serves
 *   (`.../synkti-cloud-key`). These clouds also sign the instance's cluster and ports in.
 * A node trusts what its own metadata service trusts: the AWS certificate for its region,
 * or its local cloud's key. Nothing here is secret; everything read from peers is hostile.
 */
import { KeyObject, createPublicKey, generateKeyPairSync, sign, verify, type X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { SynktiError } from '@synkti/core';
import { awsIdentityCertificates } from './aws-identity-certificates.ts';
import { verifyPkcs7 } from './pkcs7-signed-data.ts';

export const IDENTITY_PATHS = {
  document: '/latest/dynamic/instance-identity/document',
  pkcs7: '/latest/dynamic/instance-identity/pkcs7',
  ed25519: '/latest/dynamic/instance-identity/synkti-ed25519',
  cloudKey: '/latest/dynamic/instance-identity/synkti-cloud-key',
} as const;

const portsSchema = z.object({
  agent: z.number().int().min(1).max(65535),
  router: z.number().int().min(1).max(65535),
  workload: z.number().int().min(1).max(65535),
});

/** The fields Synkti relies on (EC2 writes more; unknown fields are ignored). */
export const identityDocumentSchema = z
  .object({
    instanceId: z.string().min(1).max(64),
    privateIp: z.string().min(1).max(64),
    region: z.string().min(1).max(64),
    availabilityZone: z.string().max(64),
    accountId: z.string().max(64).optional(),
    instanceType: z.string().max(64).optional(),
    pendingTime: z.string().max(64).optional(),
    /** Local and emulated clouds only: the instance's cluster tag and ports, signed in. */
    synkti: z.object({ cluster: z.string().max(255), ports: portsSchema.partial() }).optional(),
  })
  .passthrough();
export type IdentityDocument = z.infer<typeof identityDocumentSchema>;

/** What a node publishes to prove which instance it is (bounded: hostile peers send it). */
export const identityProofSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('aws-pkcs7'), pkcs7: z.string().min(1).max(16_384) }),
  z.object({ kind: z.literal('cloud-ed25519'), document: z.string().min(1).max(8192), signature: z.string().min(1).max(256) }),
]);
export type IdentityProof = z.infer<typeof identityProofSchema>;

/** Whom a node believes about identities: AWS's certificate for its region, and/or its local cloud's key. */
export interface IdentityTrust {
  certificates: X509Certificate[];
  cloudKeys: KeyObject[];
}

function refused(message: string, hint?: string): SynktiError {
  return new SynktiError('E_IDENTITY_INVALID', message, {
    hint: hint ?? 'only an instance of this cloud can prove its identity; check the peer is one of ours',
  });
}

function parseDocument(text: string): IdentityDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw refused('the identity document is not JSON');
  }
  const parsed = identityDocumentSchema.safeParse(json);
  if (!parsed.success) throw refused(`the identity document lacks ${parsed.error.issues[0]?.path.join('.') ?? 'a field'}`);
  return parsed.data;
}

/** Verify a proof against `trust`; returns the document it vouches for. Throws E_IDENTITY_INVALID / E_IDENTITY_SIGNATURE. */
export function verifyIdentityProof(proof: IdentityProof, trust: IdentityTrust): IdentityDocument {
  if (proof.kind === 'aws-pkcs7') {
    if (trust.certificates.length === 0)
      throw refused(
        'an AWS-signed identity was offered but this node trusts no AWS certificate',
        'every node of a fleet runs in the same cloud',
      );
    return parseDocument(verifyPkcs7(proof.pkcs7, trust.certificates).content.toString('utf8'));
  }
  if (trust.cloudKeys.length === 0)
    throw refused(
      'a local-cloud identity was offered but this node trusts no local cloud key',
      'every node of a fleet runs in the same cloud',
    );
  const signature = Buffer.from(proof.signature, 'base64');
  const document = Buffer.from(proof.document, 'utf8');
  if (!trust.cloudKeys.some((key) => verify(null, document, key, signature))) {
    throw new SynktiError('E_IDENTITY_SIGNATURE', 'the identity document is not signed by this cloud', {
      hint: 'a document signed by another local cloud (another state directory) is not ours',
    });
  }
  return parseDocument(proof.document);
}

/** Reads the instance's own identity proof and the trust its metadata implies. */
export async function readIdentityProof(
  get: (path: string) => Promise<string | undefined>,
  region: string,
): Promise<{ proof: IdentityProof; trust: IdentityTrust }> {
  const cloudKey = await get(IDENTITY_PATHS.cloudKey);
  if (cloudKey !== undefined) {
    const [document, signature] = await Promise.all([get(IDENTITY_PATHS.document), get(IDENTITY_PATHS.ed25519)]);
    if (document === undefined || signature === undefined)
      throw refused('the metadata serves a cloud key but no signed identity document', 'the local cloud serves both; restart it');
    let key: KeyObject;
    try {
      key = createPublicKey(cloudKey);
    } catch {
      throw refused("the metadata's cloud key is not a public key");
    }
    return { proof: { kind: 'cloud-ed25519', document, signature: signature.trim() }, trust: { certificates: [], cloudKeys: [key] } };
  }
  const pkcs7 = await get(IDENTITY_PATHS.pkcs7);
  if (pkcs7 === undefined) {
    throw new SynktiError('E_IDENTITY_UNAVAILABLE', 'the instance metadata serves no signed identity document (pkcs7)', {
      hint: 'on EC2 /latest/dynamic/instance-identity/pkcs7 is always served; check the metadata endpoint',
    });
  }
  return { proof: { kind: 'aws-pkcs7', pkcs7: pkcs7.trim() }, trust: { certificates: awsIdentityCertificates(region), cloudKeys: [] } };
}

/** A cloud's identity-signing key (local and emulated clouds): created once, kept 0600 beside the cloud's state. */
export interface CloudIdentitySigner {
  publicKeyPem: string;
  /** The document as served (JSON text) and its base64 Ed25519 signature. */
  sign(document: Record<string, unknown>): { document: string; signature: string };
  /** The base64 Ed25519 signature of a document already written as text (the emulated EC2's). */
  signText(document: string): string;
}

export function cloudIdentitySigner(keyFile: string): CloudIdentitySigner {
  let privateKeyPem: string;
  if (existsSync(keyFile)) {
    privateKeyPem = readFileSync(keyFile, 'utf8');
  } else {
    mkdirSync(dirname(keyFile), { recursive: true });
    const pair = generateKeyPairSync('ed25519');
    privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      writeFileSync(keyFile, privateKeyPem, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another instance host created it first: use theirs, so the cloud has one key.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      privateKeyPem = readFileSync(keyFile, 'utf8');
    }
    chmodSync(keyFile, 0o600);
  }
  const privateKey = privateKeyPem;
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    publicKeyPem,
    sign(document) {
      const text = JSON.stringify(document, null, 2);
      return { document: text, signature: this.signText(text) };
    },
    signText(text) {
      return sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64');
    },
  };
}
