import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { MAX_CHUNK_LINE_BYTES, MAX_HEAD_BYTES, ResponseParser, type ResponseSink } from './upstream-response-parser.ts';

interface Seen {
  heads: Array<{ status: number; statusText: string; headers: string[] }>;
  data: Buffer[];
  raw: Buffer[];
}

/** A sink that records everything; `rawAfter`: pieces of decoded data before it asks for raw chunks (-1: never). */
function recorder(rawAfter = -1): { sink: ResponseSink; seen: Seen } {
  const seen: Seen = { heads: [], data: [], raw: [] };
  const sink = {
    raw: rawAfter === 0,
    onHead(status: number, statusText: string, headers: string[]) {
      seen.heads.push({ status, statusText, headers });
    },
    onData(data: Buffer) {
      seen.data.push(Buffer.from(data));
      if (rawAfter > 0 && seen.data.length >= rawAfter) sink.raw = true;
    },
    onRaw(framed: Buffer) {
      seen.raw.push(Buffer.from(framed));
    },
  };
  return { sink, seen };
}

/** Feeds `bytes` in pieces cut at `cuts` (sorted offsets); returns the bytes the parser took. */
function feed(parser: ResponseParser, bytes: Buffer, cuts: readonly number[]): number {
  let used = 0;
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (to <= from) continue;
    used += parser.execute(bytes.subarray(from, to));
    from = to;
    if (parser.done) break;
  }
  return used;
}

/** Decodes framed chunks (size line, data, CRLF)* as the client would. */
function unframe(framed: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < framed.length) {
    const lf = framed.indexOf('\r\n', at);
    const size = Number.parseInt(framed.subarray(at, lf).toString('latin1').split(';')[0]!, 16);
    assert.ok(size > 0, 'no last chunk is handed on raw');
    at = lf + 2;
    out.push(framed.subarray(at, at + size));
    at += size;
    assert.equal(framed.subarray(at, at + 2).toString('latin1'), '\r\n');
    at += 2;
  }
  return Buffer.concat(out);
}

/** A small deterministic PRNG (mulberry32): the same cases on every run. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

test('content-length body, split anywhere: head once, body byte for byte, keep-alive, bytes after it left alone', () => {
  const response = Buffer.from(
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 11\r\nkeep-alive: timeout=5\r\n\r\n{"ok":true}NEXT',
  );
  for (let cut = 1; cut < response.length; cut += 7) {
    const { sink, seen } = recorder();
    const parser = new ResponseParser(sink);
    parser.reset(false);
    const used = feed(parser, response, [cut]);
    assert.equal(used, response.length - 4, `cut at ${cut}: the parser stops at the end of the response`);
    assert.ok(parser.done);
    assert.deepEqual(seen.heads, [
      { status: 200, statusText: 'OK', headers: ['Content-Type', 'application/json', 'content-length', '11', 'keep-alive', 'timeout=5'] },
    ]);
    assert.equal(Buffer.concat(seen.data).toString(), '{"ok":true}');
    assert.equal(parser.keepAlive, true);
    assert.equal(parser.keepAliveMs, 5000);
  }
});

test('chunked bodies, cut at random places, decoded or handed on raw from any chunk: the same bytes, no last chunk passed on', () => {
  const rand = prng(21);
  for (let round = 0; round < 400; round++) {
    const chunks = Array.from({ length: 1 + rand(6) }, () => Buffer.from(Array.from({ length: 1 + rand(300) }, () => rand(256))));
    const framed = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'),
      ...chunks.map((c) =>
        Buffer.concat([Buffer.from(`${c.length.toString(16)}${rand(3) === 0 ? ';ext=1' : ''}\r\n`), c, Buffer.from('\r\n')]),
      ),
      Buffer.from(`0\r\n${rand(2) === 0 ? 'x-trailer: 1\r\n' : ''}\r\n`),
    ]);
    const cuts = Array.from({ length: rand(12) }, () => rand(framed.length)).sort((a, b) => a - b);
    const { sink, seen } = recorder(rand(chunks.length + 1) - 1);
    const parser = new ResponseParser(sink);
    parser.reset(false);
    assert.equal(feed(parser, framed, cuts), framed.length, `round ${round}`);
    assert.ok(parser.done, `round ${round}: done`);
    const got = Buffer.concat([...seen.data, unframe(Buffer.concat(seen.raw))]);
    assert.ok(got.equals(Buffer.concat(chunks)), `round ${round}: body intact`);
  }
});

test('1xx heads are skipped; HEAD, 204 and 304 have no body; no framing means the body runs to the close', () => {
  const { sink, seen } = recorder();
  const parser = new ResponseParser(sink);
  parser.reset(false);
  parser.execute(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
  assert.ok(parser.done);
  assert.deepEqual(
    seen.heads.map((h) => h.status),
    [204],
  );

  parser.reset(true);
  const headOnly = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n');
  assert.equal(parser.execute(headOnly), headOnly.length);
  assert.ok(parser.done, 'a HEAD response has no body whatever it announces');

  parser.reset(false);
  parser.execute(Buffer.from('HTTP/1.0 200 OK\r\n\r\nsome'));
  parser.execute(Buffer.from(' body'));
  assert.equal(parser.done, false);
  assert.equal(parser.keepAlive, false);
  assert.equal(parser.finish(), true, 'the close ends a body framed by it');
  assert.equal(Buffer.concat(seen.data).toString(), 'some body');

  parser.reset(false);
  parser.execute(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort'));
  assert.equal(parser.finish(), false, 'a close inside a content-length body cuts it short');
});

test('a hostile peer: oversized or malformed heads and chunk framing fail with E_UPSTREAM_PROTOCOL; nothing from the fault on is passed on', () => {
  const cases: Array<[string, Buffer[]]> = [
    [
      'head over the bound, in small reads',
      Array.from({ length: MAX_HEAD_BYTES / 64 + 2 }, (_, i) =>
        Buffer.from(i === 0 ? 'HTTP/1.1 200 OK\r\n' : `x-pad-${String(i).padStart(4, '0')}: ${'a'.repeat(50)}\r\n`),
      ),
    ],
    [
      'chunk-size line over the bound',
      [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'), Buffer.from(`1;${'e'.repeat(MAX_CHUNK_LINE_BYTES)}`)],
    ],
    ['chunk size of 13 hex digits', [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1000000000000\r\n')]],
    ['chunk size that is not hex', [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n')]],
    ['negative chunk size', [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n')]],
    ['chunk data longer than its size', [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n')]],
    ['content-length and transfer-encoding', [Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n')]],
    ['conflicting content-lengths', [Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n')]],
    ['content-length that is not a number', [Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 3x\r\n\r\n')]],
    ['content-length of 16 digits', [Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 1000000000000000\r\n\r\n')]],
    ['a control byte in a header value', [Buffer.from('HTTP/1.1 200 OK\r\nx-a: 1\x00\r\n\r\n')]],
    ['a bare CR in a header value', [Buffer.from('HTTP/1.1 200 OK\r\nx-a: 1\rset-cookie: x\r\n\r\n')]],
    ['a header name with a space', [Buffer.from('HTTP/1.1 200 OK\r\nx a: 1\r\n\r\n')]],
    ['a folded header line', [Buffer.from('HTTP/1.1 200 OK\r\nx-a: 1\r\n  more\r\n\r\n')]],
    ['a status line that is not HTTP/1.x', [Buffer.from('HTTP/2 200\r\n\r\n')]],
    ['a status code out of range', [Buffer.from('HTTP/1.1 999 Nope\r\n\r\n')]],
    ['101 switching protocols', [Buffer.from('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n')]],
  ];
  for (const [name, reads] of cases) {
    const { sink, seen } = recorder(0);
    const parser = new ResponseParser(sink);
    parser.reset(false);
    assert.throws(
      () => {
        for (const r of reads) parser.execute(r);
      },
      (e: unknown) => isSynktiError(e, 'E_UPSTREAM_PROTOCOL'),
      name,
    );
    // Checked bytes before a fault in a chunk's framing go on (the caller then cuts the stream); nothing else does.
    const before = name === 'chunk data longer than its size' ? '2\r\nab' : '';
    assert.equal(Buffer.concat(seen.raw).toString('latin1'), before, `${name}: what was handed on`);
  }
});
