import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceRecord } from '@synkti/cloud';
import type { AgentStatus, NodeReport } from './agent-status.ts';
import { renderNodeTable, reportsToJson } from './commands/status.ts';
import type { AgentModelStatus } from './model-status.ts';

function report(id: string, state: string, model: AgentModelStatus | undefined): NodeReport {
  const record: InstanceRecord = {
    id,
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: 0,
    tags: {},
  };
  const status: AgentStatus = {
    id,
    role: 'worker',
    zone: 'local-a',
    state,
    address: '127.0.0.1',
    ports: { agent: 7946, router: 8080, workload: 8000 },
    uptimeMs: 1000,
    load: 0,
    members: [],
    ...(model ? { model } : {}),
  };
  return { record, status };
}

test('synkti status shows model progress beside the state and a failed fetch with its file and hint', () => {
  const uri = 's3://acme-models/models/qwen/';
  const reports = [
    report('i-1', 'joining', { uri, state: 'fetching', files: 5, filesDone: 2, bytes: 1000, bytesDone: 420 }),
    report('i-2', 'joining', {
      uri,
      state: 'failed',
      files: 5,
      filesDone: 4,
      bytes: 1000,
      bytesDone: 900,
      error: {
        code: 'E_MODEL_CORRUPT',
        message: 'model file tokenizer.json does not match its SHA-256 in the manifest',
        hint: 'upload the model again',
        file: 'tokenizer.json',
      },
    }),
    report('i-3', 'ready', { uri, state: 'ready', files: 5, filesDone: 5, bytes: 1000, bytesDone: 1000 }),
    report('i-4', 'ready', undefined),
  ];
  const table = renderNodeTable(reports);
  assert.match(table, /i-1\s+worker\s+joining \(model 42% \(2\/5 files\)\)/);
  assert.match(table, /i-2\s+worker\s+joining \(model failed: tokenizer\.json\)/);
  assert.match(table, /i-3\s+worker\s+ready\s/);
  assert.match(
    table,
    /\n\ni-2: model s3:\/\/acme-models\/models\/qwen\/ not ready \(E_MODEL_CORRUPT\): model file tokenizer\.json does not match its SHA-256 in the manifest\n {2}hint: upload the model again$/,
  );
  const json = reportsToJson(reports) as { id: string; model?: AgentModelStatus }[];
  assert.equal(json[1]!.model?.error?.file, 'tokenizer.json');
  assert.equal(json[3]!.model, undefined);
});
