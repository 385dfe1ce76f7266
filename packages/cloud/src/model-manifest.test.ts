import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MODEL_MANIFEST_FORMAT, parseModelManifest, serializeModelManifest, type ModelManifest } from './model-manifest.ts';

const SHA = 'a'.repeat(64);
const good: ModelManifest = {
  format: MODEL_MANIFEST_FORMAT,
  prefix: 'models/m/',
  totalBytes: 30,
  files: [
    { path: 'config.json', bytes: 10, sha256: SHA },
    { path: 'sub/w.safetensors', bytes: 20, sha256: SHA },
  ],
};

function manifestWith(files: unknown[], extra: Record<string, unknown> = {}): string {
  const total = files.reduce(
    (sum: number, f) => sum + (typeof (f as { bytes?: unknown }).bytes === 'number' ? (f as { bytes: number }).bytes : 0),
    0,
  );
  return JSON.stringify({ format: MODEL_MANIFEST_FORMAT, prefix: 'models/m/', files, totalBytes: total, ...extra });
}

describe('model manifest', () => {
  test('what the uploader writes parses back unchanged', () => {
    assert.deepEqual(parseModelManifest(serializeModelManifest(good), 'm'), good);
  });

  test('hostile manifests are refused naming the source and the problem', () => {
    const file = (path: string, bytes = 1) => ({ path, bytes, sha256: SHA });
    const cases: [string, string | Uint8Array, RegExp][] = [
      ['absolute path', manifestWith([file('/etc/passwd')]), /"\/etc\/passwd" is absolute/],
      ['parent segment', manifestWith([file('a/../../x')]), /"\." or "\.\." segment/],
      ['dot segment', manifestWith([file('./x')]), /"\." or "\.\." segment/],
      ['backslash', manifestWith([file('..\\x')]), /backslash/],
      ['control character', manifestWith([file('a\nb')]), /control character/],
      ['empty segment', manifestWith([file('a//b')]), /empty segment/],
      ['duplicate', manifestWith([file('a'), file('a')]), /"a" is listed twice/],
      ['file and directory', manifestWith([file('a'), file('a/b')]), /"a" is listed as a file and as the directory of "a\/b"/],
      ['the manifest itself', manifestWith([file('synkti-manifest.json')]), /manifest's own name/],
      ['negative size', manifestWith([file('a', -1)]), /whole number/],
      ['absurd size', manifestWith([file('a', 6 * 1024 ** 4)]), /more than the 5497558138880 one file may have/],
      ['bad sha', manifestWith([{ path: 'a', bytes: 1, sha256: 'xyz' }]), /64 lowercase hex/],
      ['total mismatch', manifestWith([file('a')], { totalBytes: 7 }), /not the sum of its files \(1\)/],
      ['no files', manifestWith([]), /lists no files/],
      ['wrong format', JSON.stringify({ ...good, format: 'other/9' }), /expected "synkti-model\/1"/],
      ['not JSON', '{', /is not JSON/],
      ['not an object', '[]', /not a JSON object/],
      ['too large', new Uint8Array(9 * 1024 * 1024), /more than the 8388608 a manifest may have/],
    ];
    for (const [name, text, message] of cases) {
      assert.throws(
        () => parseModelManifest(text, 's3://b/models/m/synkti-manifest.json'),
        (error: Error & { code?: string; hint?: string }) => {
          assert.equal(error.code, 'E_MODEL_MANIFEST', name);
          assert.match(error.message, /^s3:\/\/b\/models\/m\/synkti-manifest\.json: /, name);
          assert.match(error.message, message, name);
          assert.ok(error.hint, name);
          return true;
        },
        name,
      );
    }
    const many = Array.from({ length: 11 }, (_, i) => file(`f${i}`));
    assert.throws(() => parseModelManifest(manifestWith(many), 'm', { maxFiles: 10 }), /lists 11 files, more than the 10 allowed/);
    assert.throws(
      () => parseModelManifest(manifestWith([file('a', 50), file('b', 60)]), 'm', { maxTotalBytes: 100 }),
      /110 bytes in all, more than the 100 allowed/,
    );
  });
});
