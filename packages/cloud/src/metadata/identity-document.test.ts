import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSynktiError } from '@synkti/core';
import { awsIdentityCertificates } from './aws-identity-certificates.ts';
import { cloudIdentitySigner, verifyIdentityProof } from './identity-document.ts';
import { decodePkcs7, verifyPkcs7 } from './pkcs7-signed-data.ts';

/**
 * A real EC2 instance identity document's pkcs7 signature (us-east-1, 2016), as published
 * in the test suite of the Go pkcs7 library (github.com/fullsailor/pkcs7) for the same
 * purpose: it is signed by AWS's DSA key, so it checks the verifier against AWS itself.
 */
const EC2_PKCS7 = `MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCA
JIAEggGmewogICJwcml2YXRlSXAiIDogIjE3Mi4zMC4wLjI1MiIsCiAgImRldnBh
eVByb2R1Y3RDb2RlcyIgOiBudWxsLAogICJhdmFpbGFiaWxpdHlab25lIiA6ICJ1
cy1lYXN0LTFhIiwKICAidmVyc2lvbiIgOiAiMjAxMC0wOC0zMSIsCiAgImluc3Rh
bmNlSWQiIDogImktZjc5ZmU1NmMiLAogICJiaWxsaW5nUHJvZHVjdHMiIDogbnVs
bCwKICAiaW5zdGFuY2VUeXBlIiA6ICJ0Mi5taWNybyIsCiAgImFjY291bnRJZCIg
OiAiMTIxNjU5MDE0MzM0IiwKICAiaW1hZ2VJZCIgOiAiYW1pLWZjZTNjNjk2IiwK
ICAicGVuZGluZ1RpbWUiIDogIjIwMTYtMDQtMDhUMDM6MDE6MzhaIiwKICAiYXJj
aGl0ZWN0dXJlIiA6ICJ4ODZfNjQiLAogICJrZXJuZWxJZCIgOiBudWxsLAogICJy
YW1kaXNrSWQiIDogbnVsbCwKICAicmVnaW9uIiA6ICJ1cy1lYXN0LTEiCn0AAAAA
AAAxggEYMIIBFAIBATBpMFwxCzAJBgNVBAYTAlVTMRkwFwYDVQQIExBXYXNoaW5n
dG9uIFN0YXRlMRAwDgYDVQQHEwdTZWF0dGxlMSAwHgYDVQQKExdBbWF6b24gV2Vi
IFNlcnZpY2VzIExMQwIJAJa6SNnlXhpnMAkGBSsOAwIaBQCgXTAYBgkqhkiG9w0B
CQMxCwYJKoZIhvcNAQcBMBwGCSqGSIb3DQEJBTEPFw0xNjA0MDgwMzAxNDRaMCMG
CSqGSIb3DQEJBDEWBBTuUc28eBXmImAautC+wOjqcFCBVjAJBgcqhkjOOAQDBC8w
LQIVAKA54NxGHWWCz5InboDmY/GHs33nAhQ6O/ZI86NwjA9Vz3RNMUJrUPU5tAAA
AAAAAA==`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isSynktiError(error) ? error.code : 'not a SynktiError';
  }
}

test('a real EC2 pkcs7 identity verifies against the shipped AWS certificate and yields its document', () => {
  const doc = verifyIdentityProof(
    { kind: 'aws-pkcs7', pkcs7: EC2_PKCS7 },
    { certificates: awsIdentityCertificates('us-east-1'), cloudKeys: [] },
  );
  assert.equal(doc.instanceId, 'i-f79fe56c');
  assert.equal(doc.privateIp, '172.30.0.252');
  assert.equal(doc.accountId, '121659014334');
  // PEM armour (as the AWS docs write the file) is accepted too.
  assert.equal(
    verifyPkcs7(`-----BEGIN PKCS7-----\n${EC2_PKCS7}\n-----END PKCS7-----\n`, awsIdentityCertificates('eu-west-1')).content.length > 0,
    true,
  );
});

test('a pkcs7 whose document was changed, or checked against another key, is refused', () => {
  const der = decodePkcs7(EC2_PKCS7);
  // Change the instance id inside the signed content ("i-f79fe56c" -> "i-f79fe56d").
  const at = der.indexOf(Buffer.from('i-f79fe56c'));
  assert.ok(at > 0);
  const tampered = Buffer.from(der);
  tampered[at + 9] = 'd'.charCodeAt(0);
  assert.equal(
    code(() => verifyPkcs7(tampered, awsIdentityCertificates('us-east-1'))),
    'E_IDENTITY_SIGNATURE',
  );
  // A self-made certificate with another key: the signature is not its.
  const other = generateKeyPairSync('ed25519');
  assert.equal(
    code(() =>
      verifyIdentityProof({ kind: 'cloud-ed25519', document: '{}', signature: 'AAAA' }, { certificates: [], cloudKeys: [other.publicKey] }),
    ),
    'E_IDENTITY_SIGNATURE',
  );
  // A region whose certificate is not shipped trusts nothing (fails closed).
  assert.deepEqual(awsIdentityCertificates('cn-north-1'), []);
  assert.equal(
    code(() => verifyIdentityProof({ kind: 'aws-pkcs7', pkcs7: EC2_PKCS7 }, { certificates: [], cloudKeys: [] })),
    'E_IDENTITY_INVALID',
  );
  // Garbage and truncation are malformed, never a crash or a pass.
  assert.equal(
    code(() => verifyPkcs7('not base64 !!', [])),
    'E_IDENTITY_PKCS7',
  );
  assert.equal(
    code(() => verifyPkcs7(der.subarray(0, 200), awsIdentityCertificates('us-east-1'))),
    'E_IDENTITY_PKCS7',
  );
  assert.ok(new X509Certificate(awsIdentityCertificates('us-east-1')[0]!.raw).subject.includes('Amazon Web Services LLC'));
});

test("a local cloud signs documents with one 0600 key; another cloud's key does not verify them", () => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-identity-'));
  try {
    const signer = cloudIdentitySigner(join(dir, 'cloud-identity-key.pem'));
    assert.equal(statSync(join(dir, 'cloud-identity-key.pem')).mode & 0o777, 0o600);
    const again = cloudIdentitySigner(join(dir, 'cloud-identity-key.pem'));
    assert.equal(again.publicKeyPem, signer.publicKeyPem, 'the key is kept, not regenerated');
    const { document, signature } = signer.sign({
      instanceId: 'i-1',
      privateIp: '127.0.0.1',
      region: 'local',
      availabilityZone: 'local-a',
      synkti: { cluster: 'c', ports: { agent: 7001 } },
    });
    const trust = { certificates: [], cloudKeys: [createPublicKey(signer.publicKeyPem)] };
    const doc = verifyIdentityProof({ kind: 'cloud-ed25519', document, signature }, trust);
    assert.equal(doc.instanceId, 'i-1');
    assert.equal(doc.synkti?.ports.agent, 7001);
    assert.equal(
      code(() => verifyIdentityProof({ kind: 'cloud-ed25519', document: document.replace('i-1', 'i-2'), signature }, trust)),
      'E_IDENTITY_SIGNATURE',
    );
    const foreign = cloudIdentitySigner(join(dir, 'other', 'key.pem'));
    const forged = foreign.sign({ instanceId: 'i-1', privateIp: '127.0.0.1', region: 'local', availabilityZone: 'local-a' });
    assert.equal(
      code(() => verifyIdentityProof({ kind: 'cloud-ed25519', ...forged }, trust)),
      'E_IDENTITY_SIGNATURE',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
