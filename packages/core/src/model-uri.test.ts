import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { parseModelUri } from './model-uri.ts';

const base = { name: 'mf', pools: { worker: { count: 1 } } };

function issuesOf(input: unknown): { path: string; message: string; hint: string }[] {
  try {
    validateCluster(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.issues.map((i) => ({ path: i.path, message: i.message, hint: i.hint ?? '' }));
  }
  assert.fail('expected a ConfigError');
}

describe('model.uri', () => {
  test('a valid URI resolves to bucket, prefix and the directory name, and survives user data', () => {
    const spec = validateCluster({
      ...base,
      model: { uri: 's3://acme-models/models/qwen2.5-7b/' },
      workload: { command: ['vllm', 'serve', '{modelPath}'] },
    });
    assert.deepEqual(spec.model, {
      uri: 's3://acme-models/models/qwen2.5-7b/',
      bucket: 'acme-models',
      prefix: 'models/qwen2.5-7b/',
      name: 'qwen2.5-7b',
    });
    assert.deepEqual(deserializeCluster(serializeCluster(spec)).model, spec.model);
    assert.equal('model' in validateCluster(base), false, 'no model: no key');
  });

  test('bad URIs are refused naming model.uri with an example', () => {
    const cases: [string, RegExp][] = [
      ['s3://acme-models/models/qwen', /must end with "\/"/],
      ['s3://Acme_Models/models/q/', /bucket name "Acme_Models"/],
      ['https://acme-models/models/q/', /not an s3:/],
      ['s3://acme-models/', /no prefix/],
      ['s3://acme-models/models/../etc/', /segment "\.\."/],
      ['s3://acme-models/models//q/', /segment ""/],
    ];
    for (const [uri, message] of cases) {
      const issues = issuesOf({ ...base, model: { uri } });
      assert.equal(issues.length, 1, uri);
      assert.equal(issues[0]!.path, 'model.uri');
      assert.match(issues[0]!.message, message, uri);
      assert.match(issues[0]!.hint, /s3:\/\/my-fleet-models\/models\/qwen2\.5-7b\//);
    }
    assert.throws(() => parseModelUri('s3://x/y/', 'SYNKTI_MODEL_URI'), /SYNKTI_MODEL_URI: bucket name "x"/);
    const typo = issuesOf({ ...base, model: { url: 's3://a/b/' } });
    assert.match(typo.find((i) => i.path === 'model.url')?.hint ?? '', /did you mean "uri"/);
  });

  test('{modelPath} in the command without a model is refused', () => {
    const issues = issuesOf({ ...base, workload: { command: 'vllm serve {modelPath} --port {port}' } });
    assert.deepEqual(
      issues.map((i) => i.path),
      ['workload.command'],
    );
    assert.match(issues[0]!.message, /\{modelPath\}/);
    assert.match(issues[0]!.hint, /model: \{ uri:/);
  });
});
