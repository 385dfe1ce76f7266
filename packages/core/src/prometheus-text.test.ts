import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText } from './prometheus-text.ts';

const PAGE = [
  '# HELP vllm:num_requests_running Number of requests in the batch.',
  '# TYPE vllm:num_requests_running gauge',
  'vllm:num_requests_running{model_name="m"} 3',
  'vllm:num_requests_waiting{model_name="m"} 2 1733568000000',
  'synkti_router_requests_total{status="200",path="a\\"b\\nc"} 17',
  'synkti_router_request_duration_seconds_bucket{le="+Inf"} 17',
  'broken_sample NaN',
  '',
].join('\n');

test('samples with labels (escapes undone), timestamps dropped, NaN skipped', () => {
  const samples = parsePrometheusText(PAGE);
  assert.deepEqual(
    samples.map((s) => [s.name, s.value]),
    [
      ['vllm:num_requests_running', 3],
      ['vllm:num_requests_waiting', 2],
      ['synkti_router_requests_total', 17],
      ['synkti_router_request_duration_seconds_bucket', 17],
    ],
  );
  assert.equal(samples[2]!.labels.path, 'a"b\nc');
  assert.equal(samples[3]!.labels.le, '+Inf');
});

test('a name filter keeps only the metrics asked for', () => {
  assert.deepEqual(
    parsePrometheusText(PAGE, { names: (n) => n.startsWith('vllm:') }).map((s) => s.value),
    [3, 2],
  );
});
