/**
 * Just enough CMS (PKCS #7, RFC 5652) to verify EC2's signed instance identity document
 * (`/latest/dynamic/instance-identity/pkcs7`) with node:crypto and nothing else: a BER
 * reader (EC2 writes indefinite lengths and a chunked content), SignedData with the
 * content embedded and one SignerInfo, signed attributes (contentType, messageDigest)
 * checked against the content, the signature verified against a trusted certificate.
 * Anything it does not understand is refused, never skipped.
 */
import { X509Certificate, createHash, verify as verifySignature } from 'node:crypto';
import { SynktiError } from '@synkti/core';

interface Node {
  tag: number;
  constructed: boolean;
  /** Offset of the identifier byte. */
  start: number;
  contentStart: number;
  contentEnd: number;
  /** Offset after the element (after the end-of-contents octets for an indefinite length). */
  end: number;
  definite: boolean;
  children: Node[];
}

/** Bounds against hostile input: an identity document is ~1.5 KB; its structure is shallow. */
const MAX_INPUT_BYTES = 64 * 1024;
const MAX_DEPTH = 24;

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
} as const;
const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** Signature algorithms accepted (the key's type must agree: node:crypto checks it). */
const SIGNATURES = new Set([
  '1.2.840.10040.4.1',
  '1.2.840.10040.4.3', // DSA, DSA with SHA-1 (EC2's pkcs7)
  '1.2.840.113549.1.1.1',
  '1.2.840.113549.1.1.5',
  '1.2.840.113549.1.1.11', // RSA (EC2's rsa2048)
  '2.16.840.1.101.3.4.3.2', // DSA with SHA-256
]);

function bad(what: string): SynktiError {
  return new SynktiError('E_IDENTITY_PKCS7', `the PKCS7 identity signature is malformed: ${what}`, {
    hint: 'pass the body of /latest/dynamic/instance-identity/pkcs7 (base64, with or without PEM armour) as it came from the instance metadata',
  });
}

function parse(buf: Buffer, offset: number, limit: number, depth: number): Node {
  if (depth > MAX_DEPTH) throw bad('nested too deeply');
  if (offset + 2 > limit) throw bad('truncated element');
  const start = offset;
  const id = buf[offset++]!;
  if ((id & 0x1f) === 0x1f) throw bad('high tag numbers are not used by CMS SignedData');
  const constructed = (id & 0x20) !== 0;
  const lengthByte = buf[offset++]!;
  let length = -1;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count > 4) throw bad('length too long');
    if (count > 0) {
      if (offset + count > limit) throw bad('truncated length');
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + buf[offset++]!;
    }
  } else {
    length = lengthByte;
  }
  const children: Node[] = [];
  if (length < 0) {
    if (!constructed) throw bad('indefinite length on a primitive element');
    let at = offset;
    for (;;) {
      if (at + 2 > limit) throw bad('missing end-of-contents');
      if (buf[at] === 0 && buf[at + 1] === 0) break;
      const child = parse(buf, at, limit, depth + 1);
      children.push(child);
      at = child.end;
    }
    return { tag: id, constructed, start, contentStart: offset, contentEnd: at, end: at + 2, definite: false, children };
  }
  const contentEnd = offset + length;
  if (contentEnd > limit) throw bad('element longer than its container');
  if (constructed) {
    for (let at = offset; at < contentEnd;) {
      const child = parse(buf, at, contentEnd, depth + 1);
      children.push(child);
      at = child.end;
    }
  }
  return { tag: id, constructed, start, contentStart: offset, contentEnd, end: contentEnd, definite: true, children };
}

function expect(node: Node | undefined, tag: number, what: string): Node {
  if (!node || node.tag !== tag) throw bad(`expected ${what}`);
  return node;
}

function oid(buf: Buffer, node: Node | undefined): string {
  const n = expect(node, 0x06, 'an object identifier');
  const bytes = buf.subarray(n.contentStart, n.contentEnd);
  if (bytes.length === 0 || bytes.length > 64) throw bad('object identifier length');
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The bytes of an OCTET STRING, primitive or constructed (chunked). */
function octets(buf: Buffer, node: Node): Buffer {
  if (node.tag === 0x04) return buf.subarray(node.contentStart, node.contentEnd);
  if (node.tag === 0x24) return Buffer.concat(node.children.map((c) => octets(buf, c)));
  throw bad('expected an octet string');
}

/** base64 with or without `-----BEGIN PKCS7-----` armour and line breaks. */
export function decodePkcs7(text: string): Buffer {
  const body = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/\s+/g, '');
  if (body.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw bad('not base64');
  const der = Buffer.from(body, 'base64');
  if (der.length > MAX_INPUT_BYTES) throw bad(`larger than ${MAX_INPUT_BYTES} bytes`);
  return der;
}

export interface Pkcs7Verified {
  /** The signed content (the identity document's JSON text). */
  content: Buffer;
  /** The certificate whose key verified the signature. */
  certificate: X509Certificate;
}

/**
 * Verify a CMS SignedData with embedded content against `trusted` certificates (any one
 * may have signed it). Throws E_IDENTITY_PKCS7 for malformed input and
 * E_IDENTITY_SIGNATURE when no trusted certificate's key verifies it.
 */
export function verifyPkcs7(input: string | Buffer, trusted: readonly X509Certificate[]): Pkcs7Verified {
  const der = typeof input === 'string' ? decodePkcs7(input) : input;
  if (der.length > MAX_INPUT_BYTES) throw bad(`larger than ${MAX_INPUT_BYTES} bytes`);
  const root = parse(der, 0, der.length, 0);
  const contentInfo = expect(root, 0x30, 'ContentInfo');
  if (oid(der, contentInfo.children[0]) !== OID.signedData) throw bad('not SignedData');
  const signedData = expect(expect(contentInfo.children[1], 0xa0, '[0] content').children[0], 0x30, 'SignedData');
  const [, , encap, ...rest] = signedData.children;
  const encapInfo = expect(encap, 0x30, 'EncapsulatedContentInfo');
  if (oid(der, encapInfo.children[0]) !== OID.data) throw bad('content type is not data');
  const explicit = expect(encapInfo.children[1], 0xa0, 'embedded content (a detached signature carries no document)');
  const contentNode = explicit.children[0];
  if (!contentNode) throw bad('no content');
  const content = octets(der, contentNode);
  const signerInfos = expect(rest[rest.length - 1], 0x31, 'SignerInfos');
  if (signerInfos.children.length !== 1) throw bad(`expected one signer, found ${signerInfos.children.length}`);
  const signer = expect(signerInfos.children[0], 0x30, 'SignerInfo');
  const fields = signer.children;
  const digestName = DIGESTS[oid(der, expect(fields[2], 0x30, 'digest algorithm').children[0])];
  if (!digestName) throw bad('unsupported digest algorithm');
  let index = 3;
  let signedBytes: Buffer = content;
  const attrs = fields[index];
  if (attrs && attrs.tag === 0xa0) {
    if (!attrs.definite) throw bad('signed attributes must be DER');
    // The signature covers the attributes as a SET (tag 0x31), not as the [0] they are stored as.
    signedBytes = Buffer.concat([Buffer.from([0x31]), der.subarray(attrs.start + 1, attrs.end)]);
    let digestOk = false;
    let typeOk = false;
    for (const attr of attrs.children) {
      const type = oid(der, expect(attr, 0x30, 'attribute').children[0]);
      const values = expect(attr.children[1], 0x31, 'attribute values').children;
      if (type === OID.messageDigest) {
        if (values.length !== 1) throw bad('messageDigest must have one value');
        digestOk = octets(der, values[0]!).equals(createHash(digestName).update(content).digest());
        if (!digestOk)
          throw new SynktiError(
            'E_IDENTITY_SIGNATURE',
            'the PKCS7 identity signature does not match its document (message digest differs)',
          );
      } else if (type === OID.contentType) {
        typeOk = values.length === 1 && oid(der, values[0]) === OID.data;
      }
    }
    if (!digestOk || !typeOk) throw bad('signed attributes lack messageDigest or contentType');
    index += 1;
  }
  const sigAlg = oid(der, expect(fields[index], 0x30, 'signature algorithm').children[0]);
  if (!SIGNATURES.has(sigAlg)) throw bad(`unsupported signature algorithm ${sigAlg}`);
  const signature = octets(der, expect(fields[index + 1], 0x04, 'signature'));
  for (const certificate of trusted) {
    let ok = false;
    try {
      ok = verifySignature(digestName, signedBytes, certificate.publicKey, signature);
    } catch {
      ok = false; // a key of another type (an RSA certificate for a DSA signature)
    }
    if (ok) return { content, certificate };
  }
  throw new SynktiError('E_IDENTITY_SIGNATURE', 'the PKCS7 identity signature is not from a trusted certificate', {
    hint: "on EC2 the document is signed by AWS's certificate for the region (packages/cloud/src/metadata/aws-identity-certificates.ts); a different region partition (China, GovCloud, Hong Kong, Bahrain) needs its own",
  });
}
