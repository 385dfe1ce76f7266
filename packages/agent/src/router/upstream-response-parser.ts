import { SynktiError } from '@synkti/core';

/**
 * A bounded HTTP/1.1 response parser for the router's upstream connections. A peer is
 * untrusted: every size it announces is checked before use, the head and each chunk-size
 * line are bounded, and anything outside the grammar fails the response (the router then
 * answers 502 or cuts the client's stream) instead of being passed on.
 *
 * Bodies are framed by Content-Length, chunked transfer coding, or the connection's end.
 * For a chunked body the parser can hand on the upstream's own framed bytes (`raw` on the
 * sink): a proxy whose client also gets a chunked body then forwards each read as is, with
 * no decode and re-frame per token event. The last chunk and trailers are never handed on
 * that way: the client's terminating chunk is written by whoever ends the client response.
 */

/** Largest response head (status line and headers) accepted from a peer: node's and undici's default. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Longest chunk-size line (size, extensions) accepted from a peer. */
export const MAX_CHUNK_LINE_BYTES = 1024;
/** Most hex digits in a chunk size: 12 digits is 256 TiB, far below where a Number loses integers. */
const MAX_CHUNK_SIZE_DIGITS = 12;

/** What a parser reports to; one response at a time. */
export interface ResponseSink {
  /** A final response head (1xx heads are skipped). `headers` is the flat [name, value, ...] list. */
  onHead(status: number, statusText: string, headers: string[]): void;
  /** A piece of the decoded body. */
  onData(data: Buffer): void;
  /**
   * Read at the start of every chunk: true hands the chunk on framed, as the upstream sent
   * it, through onRaw (size line, data, CRLF) instead of onData. It may turn true mid-body
   * (after the client's head went out), never back.
   */
  readonly raw: boolean;
  onRaw(framed: Buffer): void;
}

function malformed(what: string): SynktiError {
  return new SynktiError('E_UPSTREAM_PROTOCOL', `peer sent a malformed HTTP response: ${what}`, {
    hint: 'the peer is not an HTTP/1.1 server or is misbehaving; the router answered 502 (or cut the stream) instead of passing it on',
  });
}

const enum State {
  Head,
  Length,
  Close,
  ChunkSize,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailers,
  Done,
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What node's http module accepts in a header value (it throws on anything else): never pass it on.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/** How the body of the current response is framed, as its head says. */
export interface ResponseFraming {
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
  /** The peer's keep-alive timeout in ms (`keep-alive: timeout=N`), or undefined. */
  keepAliveMs: number | undefined;
}

export class ResponseParser implements ResponseFraming {
  readonly #sink: ResponseSink;
  #state: State = State.Head;
  /** Bytes of an unfinished head, chunk-size line or trailer section carried to the next read. */
  #carry: Buffer = EMPTY;
  #remaining = 0;
  #rawChunk = false;
  #noBody = false;
  keepAlive = true;
  keepAliveMs: number | undefined;

  constructor(sink: ResponseSink) {
    this.#sink = sink;
  }

  /** Readies the parser for the next response on the connection. `noBody`: the request was HEAD. */
  reset(noBody: boolean): void {
    this.#state = State.Head;
    this.#carry = EMPTY;
    this.#remaining = 0;
    this.#rawChunk = false;
    this.#noBody = noBody;
    this.keepAlive = true;
    this.keepAliveMs = undefined;
  }

  /** The whole response was read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /** The final head was read (the body may still be under way). */
  get headDone(): boolean {
    return this.#state !== State.Head;
  }

  /**
   * Parses `buf`; returns how many bytes belonged to this response (less than `buf.length`
   * only when the response ended inside it). Throws a SynktiError (E_UPSTREAM_PROTOCOL) on
   * anything malformed or over a bound.
   */
  execute(buf: Buffer): number {
    let i = 0;
    const len = buf.length;
    // A framed chunk handed on raw that the last read left unfinished continues here.
    let rawFrom =
      this.#rawChunk && (this.#state === State.ChunkData || this.#state === State.ChunkDataCr || this.#state === State.ChunkDataLf)
        ? 0
        : -1;
    try {
      while (i < len && this.#state !== State.Done) {
        switch (this.#state) {
          case State.Head:
            i = this.#head(buf, i);
            break;
          case State.Length: {
            const n = Math.min(this.#remaining, len - i);
            this.#sink.onData(i === 0 && n === len ? buf : buf.subarray(i, i + n));
            this.#remaining -= n;
            i += n;
            if (this.#remaining === 0) this.#state = State.Done;
            break;
          }
          case State.Close:
            this.#sink.onData(i === 0 ? buf : buf.subarray(i));
            i = len;
            break;
          case State.ChunkSize: {
            const lf = buf.indexOf(10, i);
            const end = lf === -1 ? len : lf + 1;
            if (this.#carry.length + (end - i) > MAX_CHUNK_LINE_BYTES)
              throw malformed(`chunk-size line longer than ${MAX_CHUNK_LINE_BYTES} bytes`);
            if (lf === -1) {
              // An unfinished size line: it is handed on (or not) once it is whole.
              if (rawFrom !== -1) this.#sink.onRaw(buf.subarray(rawFrom, i));
              rawFrom = -1;
              this.#carry = this.#carry.length === 0 ? Buffer.from(buf.subarray(i)) : Buffer.concat([this.#carry, buf.subarray(i)]);
              i = len;
              break;
            }
            const carried = this.#carry;
            const size =
              carried.length === 0
                ? chunkSize(buf, i, lf)
                : chunkSize(Buffer.concat([carried, buf.subarray(i, end)]), 0, carried.length + lf - i);
            this.#carry = EMPTY;
            if (size === 0) {
              if (rawFrom !== -1) this.#sink.onRaw(buf.subarray(rawFrom, i));
              rawFrom = -1;
              this.#state = State.Trailers;
              this.#remaining = 0;
              i = end;
              break;
            }
            this.#rawChunk = this.#sink.raw;
            if (this.#rawChunk) {
              if (carried.length > 0) {
                // The start of this line came in the last read: hand it on whole, then continue here.
                this.#sink.onRaw(Buffer.concat([carried, buf.subarray(0, end)]));
                rawFrom = end;
              } else if (rawFrom === -1) {
                rawFrom = i;
              }
            }
            this.#remaining = size;
            this.#state = State.ChunkData;
            i = end;
            break;
          }
          case State.ChunkData: {
            const n = Math.min(this.#remaining, len - i);
            if (!this.#rawChunk) this.#sink.onData(buf.subarray(i, i + n));
            this.#remaining -= n;
            i += n;
            if (this.#remaining === 0) this.#state = State.ChunkDataCr;
            break;
          }
          case State.ChunkDataCr:
            if (buf[i] !== 13) throw malformed('chunk data not followed by CRLF');
            i++;
            this.#state = State.ChunkDataLf;
            break;
          case State.ChunkDataLf:
            if (buf[i] !== 10) throw malformed('chunk data not followed by CRLF');
            i++;
            this.#state = State.ChunkSize;
            break;
          case State.Trailers:
            i = this.#trailers(buf, i);
            break;
          default:
            i = len;
        }
      }
    } catch (error) {
      // Whole chunks before the fault were checked: they go on, then the caller cuts the stream.
      if (rawFrom !== -1 && rawFrom < i) this.#sink.onRaw(buf.subarray(rawFrom, i));
      throw error;
    }
    if (rawFrom !== -1 && rawFrom < i) this.#sink.onRaw(rawFrom === 0 && i === len ? buf : buf.subarray(rawFrom, i));
    return i;
  }

  /**
   * The peer closed the connection. A body framed by the close ends here; anything else
   * was cut short (the caller reports the connection's loss).
   */
  finish(): boolean {
    if (this.#state === State.Close) {
      this.#state = State.Done;
      return true;
    }
    return this.#state === State.Done;
  }

  /** Accumulates the head (bounded) and parses it once whole. */
  #head(buf: Buffer, i: number): number {
    const carried = this.#carry.length;
    const from = Math.max(0, carried - 3);
    const joined = carried === 0 ? (i === 0 ? buf : buf.subarray(i)) : Buffer.concat([this.#carry, buf.subarray(i)]);
    const at = joined.indexOf(CRLFCRLF, from);
    if (at === -1 || at + 4 > MAX_HEAD_BYTES) {
      if (joined.length >= MAX_HEAD_BYTES) throw malformed(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      this.#carry = Buffer.from(joined);
      return buf.length;
    }
    this.#carry = EMPTY;
    const used = at + 4 - carried; // bytes of buf (from i) that were head
    this.#parseHead(joined.toString('latin1', 0, at));
    return i + used;
  }

  #parseHead(text: string): void {
    const lines = text.split('\r\n');
    const status = lines[0]!;
    // HTTP/1.x SSS reason
    if (
      status.length < 12 ||
      !status.startsWith('HTTP/1.') ||
      (status[7] !== '1' && status[7] !== '0') ||
      status[8] !== ' ' ||
      (status.length > 12 && status[12] !== ' ')
    ) {
      throw malformed(`bad status line ${JSON.stringify(status.slice(0, 40))}`);
    }
    const code = Number(status.slice(9, 12));
    if (!/^[1-5][0-9][0-9]$/.test(status.slice(9, 12))) throw malformed(`bad status code ${JSON.stringify(status.slice(9, 12))}`);
    const reason = status.length > 13 ? status.slice(13) : '';
    if (BAD_VALUE.test(reason)) throw malformed('control character in the reason phrase');
    const http10 = status[7] === '0';
    const headers: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let keepAliveMs: number | undefined;
    for (let l = 1; l < lines.length; l++) {
      const line = lines[l]!;
      const colon = line.indexOf(':');
      if (colon <= 0)
        throw malformed(line.length > 0 && (line[0] === ' ' || line[0] === '\t') ? 'folded header line' : 'header line without a name');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) throw malformed(`bad header name ${JSON.stringify(name.slice(0, 40))}`);
      const value = line.slice(colon + 1).trim();
      if (BAD_VALUE.test(value)) throw malformed(`control character in header ${name}`);
      headers.push(name, value);
      if (name.length < 10 || name.length > 17) continue;
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (!/^[0-9]{1,15}$/.test(value)) throw malformed(`bad content-length ${JSON.stringify(value.slice(0, 40))}`);
        const n = Number(value);
        if (contentLength !== -1 && contentLength !== n) throw malformed('conflicting content-length headers');
        contentLength = n;
      } else if (lower === 'transfer-encoding') {
        transferEncoding = true;
        const codings = value.toLowerCase().split(',');
        chunked = codings[codings.length - 1]!.trim() === 'chunked';
      } else if (lower === 'connection') {
        const tokens = value
          .toLowerCase()
          .split(',')
          .map((t) => t.trim());
        if (tokens.includes('close')) close = true;
        else if (http10 && tokens.includes('keep-alive')) close = false;
      } else if (lower === 'keep-alive') {
        const m = /(?:^|[,\s])timeout\s*=\s*([0-9]{1,6})/i.exec(value);
        if (m !== null) keepAliveMs = Number(m[1]) * 1000;
      }
    }
    // Both framings at once is how responses are smuggled: refuse rather than pick one.
    if (transferEncoding && contentLength !== -1) throw malformed('both transfer-encoding and content-length');
    if (code < 200) {
      // 101 would switch protocols, which the router does not proxy; other 1xx precede the real head.
      if (code === 101) throw malformed('101 switching protocols is not supported');
      return;
    }
    this.keepAlive = !close;
    this.keepAliveMs = keepAliveMs;
    if (this.#noBody || code === 204 || code === 304) {
      this.#state = State.Done;
    } else if (transferEncoding) {
      this.#state = chunked ? State.ChunkSize : State.Close;
    } else if (contentLength >= 0) {
      this.#remaining = contentLength;
      this.#state = contentLength === 0 ? State.Done : State.Length;
    } else {
      this.#state = State.Close;
    }
    if (this.#state === State.Close) this.keepAlive = false;
    this.#sink.onHead(code, reason, headers);
  }

  /** Skips the trailer section (bounded), up to the empty line that ends the body. */
  #trailers(buf: Buffer, i: number): number {
    // #remaining counts the trailer bytes seen, for the bound.
    const len = buf.length;
    while (i < len) {
      const lf = buf.indexOf(10, i);
      const end = lf === -1 ? len : lf + 1;
      this.#remaining += end - i;
      if (this.#remaining > MAX_HEAD_BYTES) throw malformed(`trailers larger than ${MAX_HEAD_BYTES} bytes`);
      if (lf === -1) {
        this.#carry = Buffer.concat([this.#carry, buf.subarray(i)]);
        return len;
      }
      const line = this.#carry.length === 0 ? buf.subarray(i, lf) : Buffer.concat([this.#carry, buf.subarray(i, lf)]);
      this.#carry = EMPTY;
      i = end;
      if (line.length === 0 || (line.length === 1 && line[0] === 13)) {
        this.#state = State.Done;
        return i;
      }
    }
    return i;
  }
}

/** Parses the chunk size in buf[from, lf) (a line ending in CR LF); throws when malformed. */
function chunkSize(buf: Buffer, from: number, lf: number): number {
  if (lf === from || buf[lf - 1] !== 13) throw malformed('chunk-size line not ended by CRLF');
  const end = lf - 1;
  let size = 0;
  let i = from;
  for (; i < end; i++) {
    const c = buf[i]!;
    let v: number;
    if (c >= 48 && c <= 57) v = c - 48;
    else if (c >= 97 && c <= 102) v = c - 87;
    else if (c >= 65 && c <= 70) v = c - 55;
    else break;
    if (i - from >= MAX_CHUNK_SIZE_DIGITS) throw malformed(`chunk size of more than ${MAX_CHUNK_SIZE_DIGITS} hex digits`);
    size = size * 16 + v;
  }
  if (i === from) throw malformed('chunk-size line without a size');
  // What may follow the size: whitespace, then extensions (;name=value), all visible characters.
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 59) break;
    if (c !== 32 && c !== 9) throw malformed('bad character in a chunk-size line');
  }
  for (; i < end; i++) {
    const c = buf[i]!;
    if ((c < 32 && c !== 9) || c === 127) throw malformed('control character in a chunk extension');
  }
  return size;
}
