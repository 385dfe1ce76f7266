/** cloud-init-style checks on user data: handler detection, shebang, CRLF, size, UTF-8. */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { isSynktiError, validateCluster } from '@synkti/core';
import { MAX_USER_DATA_BYTES, checkShellUserData, userDataKind } from './user-data-format.ts';
import { renderWorkerUserData } from './worker-user-data.ts';

function rejects(script: string, message: RegExp): void {
  assert.throws(
    () => checkShellUserData(script),
    (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_USER_DATA_FORMAT'), String(error));
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('user data format', () => {
  it('classifies documents the way cloud-init picks a handler', () => {
    assert.equal(userDataKind('#!/bin/bash\necho hi\n'), 'shell-script');
    assert.equal(userDataKind('#cloud-config\nruncmd: []\n'), 'cloud-config');
    assert.equal(userDataKind('#include\nhttps://example.invalid/x\n'), 'include');
    assert.equal(userDataKind('#cloud-boothook\n#!/bin/sh\n'), 'boothook');
    assert.equal(userDataKind('Content-Type: multipart/mixed; boundary="x"\n'), 'mime-multipart');
    assert.equal(userDataKind(gzipSync('#!/bin/bash\n')), 'gzip');
    assert.equal(userDataKind('{"format":"synkti-cluster/v1"}'), 'unknown');
  });

  it('accepts the rendered worker user data', () => {
    const spec = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
    const script = renderWorkerUserData({
      spec,
      bucket: 'acme',
      version: '1.0.0',
      sha256: 'a'.repeat(64),
      node: { version: '20.18.1', sha256: 'b'.repeat(64) },
    });
    checkShellUserData(script);
    assert.equal(userDataKind(script), 'shell-script');
  });

  it('refuses what cloud-init or bash would not run as meant', () => {
    rejects('echo no shebang\n', /as unknown, not as a shell script/);
    rejects('#cloud-config\nruncmd: []\n', /as cloud-config/);
    rejects('#!bash\necho\n', /does not name an absolute interpreter/);
    rejects('#!/bin/bash\r\necho hi\r\n', /CRLF/);
    rejects('#!/bin/bash\necho hi', /does not end with a newline/);
    rejects(`#!/bin/bash\n# ${'x'.repeat(MAX_USER_DATA_BYTES)}\n`, /at most 16384/);
    rejects('#!/bin/bash\necho \ud800\n', /not valid UTF-8/);
  });
});
