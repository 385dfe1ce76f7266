import net from 'node:net';
import { SynktiError } from '@synkti/core';
import { ResponseParser, type ResponseSink } from './upstream-response-parser.ts';

/**
 * Keep-alive HTTP/1.1 connections to one peer, one request per connection at a time: the
 * router's upstream side. Written for the router's streaming path rather than taken from an
 * HTTP client library: a token stream is one small chunk per read, and a general client's
 * per-chunk work (its parser's callbacks, body streams, timers) was most of the router's CPU
 * per event. Here a read is parsed in place and, for a chunked body, handed on as the
 * upstream framed it (see ResponseSink.raw).
 *
 * Error codes match undici's for the same events (the router's observers and tests know
 * them): UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT,
 * UND_ERR_SOCKET (the peer closed the connection under a request), UND_ERR_DESTROYED;
 * socket errors (ECONNREFUSED, ECONNRESET, ...) pass through as node raises them; a
 * malformed response fails with E_UPSTREAM_PROTOCOL.
 */

export interface UpstreamPoolOptions {
  /** Most connections open to the peer at once; more requests wait in order. @default 64 */
  connections?: number;
  /** Longest wait for the TCP connection; 0: no limit. @default 2000 */
  connectTimeoutMs?: number;
  /** Longest wait for the response head once the request is written; 0: no limit. @default 120000 */
  headersTimeoutMs?: number;
  /** Longest silence between two reads of the body, cut within 1.25 times this (not counted while the client holds us back); 0: no limit. @default 60000 */
  bodyTimeoutMs?: number;
  /** An idle connection is closed after this long (or 1 s before the peer's own keep-alive timeout, if shorter). @default 30000 */
  keepAliveTimeoutMs?: number;
}

/** One request to send: the head fields and a whole body (the router buffers bodies to retry). */
export interface UpstreamRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  /** Flat [name, value, ...] list; `host` included. content-length is added for the body. */
  headers: readonly string[];
  body: Buffer | null;
}

/** How a request's handler steers it. */
export interface UpstreamControl {
  /** Stops the request; its connection is closed. The handler then gets onError(error) if it had not ended. */
  abort(error: Error): void;
  /** Reads again after onData asked to pause. */
  resume(): void;
}

/** Receives one request's events: onStart first, then exactly one of onComplete / onError. */
export interface UpstreamHandler extends ResponseSink {
  onStart(control: UpstreamControl): void;
  /** False pauses reading from the peer until control.resume(). */
  readonly wantsPause: boolean;
  onComplete(): void;
  onError(error: Error): void;
}

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

// Bytes a request line or header may not carry: they would split or end the request.
const UNSAFE_FIELD = /[\r\n\0]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what a request target must not hold
const UNSAFE_PATH = /[\x00-\x20\x7f]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Methods a client sends a body with: an empty one still gets content-length: 0 (some servers wait otherwise). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** The request as bytes; throws a SynktiError when a field would break the framing. */
function requestHead(request: UpstreamRequest): string {
  if (!TOKEN.test(request.method))
    throw new SynktiError('E_UPSTREAM_REQUEST', `request method ${JSON.stringify(request.method.slice(0, 20))} is not a token`, {
      hint: 'send a standard HTTP method',
    });
  if (request.path.length === 0 || UNSAFE_PATH.test(request.path))
    throw new SynktiError('E_UPSTREAM_REQUEST', 'request path is empty or holds spaces or control characters', {
      hint: 'percent-encode the path',
    });
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  const h = request.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const value = h[i + 1]!;
    if (UNSAFE_FIELD.test(name) || UNSAFE_FIELD.test(value))
      throw new SynktiError('E_UPSTREAM_REQUEST', `request header ${JSON.stringify(name.slice(0, 40))} holds CR, LF or NUL`, {
        hint: 'remove line breaks from header values',
      });
    head += `${name}: ${value}\r\n`;
  }
  const body = request.body;
  if (body !== null) head += `content-length: ${body.length}\r\n`;
  else if (BODY_METHODS.has(request.method)) head += 'content-length: 0\r\n';
  return `${head}\r\n`;
}

/**
 * The one buffer every upstream connection reads into (node's `onread`): no 64 KiB allocation
 * and no stream 'data' event per read. A read is handled at once and whatever is kept or
 * passed on is copied out first (socket.write may hold on to its buffer).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** One keep-alive connection and the request on it, if any. */
class Connection implements ResponseSink, UpstreamControl {
  readonly #pool: UpstreamPool;
  readonly socket: net.Socket;
  readonly #parser: ResponseParser;
  #handler: UpstreamHandler | undefined;
  #connected = false;
  #closed = false;
  #paused = false;
  /** Connect, head or body timer: whichever phase the connection is in. */
  #timer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Reads so far, and as the body timer last saw them (it ticks at a quarter of the timeout, see #armBody). */
  #reads = 0;
  #readsSeen = 0;
  #quietTicks = 0;
  /** The request written on this connection before any response byte came back (a reuse may find it stale). */
  #pending: { head: string; body: Buffer | null } | undefined;

  constructor(pool: UpstreamPool) {
    this.#pool = pool;
    this.#parser = new ResponseParser(this);
    const socket = net.connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.#onData(Buffer.from(buf.buffer, buf.byteOffset, n)) },
    });
    this.socket = socket;
    if (pool.connectTimeoutMs > 0) {
      this.#timer = setTimeout(
        () =>
          this.#fail(
            codedError('UND_ERR_CONNECT_TIMEOUT', `connect to ${pool.host}:${pool.port} timed out after ${pool.connectTimeoutMs} ms`),
          ),
        pool.connectTimeoutMs,
      );
    }
    socket.once('connect', () => {
      this.#connected = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const pending = this.#pending;
      if (pending !== undefined) this.#write(pending.head, pending.body);
    });
    socket.on('end', () => this.#onEnd());
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(codedError('UND_ERR_SOCKET', `peer ${pool.host}:${pool.port} closed the connection`)));
  }

  get busy(): boolean {
    return this.#handler !== undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `request` on this (idle or connecting) connection. */
  send(request: UpstreamRequest, head: string, handler: UpstreamHandler): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#handler = handler;
    this.#paused = false;
    this.#parser.reset(request.method === 'HEAD');
    handler.onStart(this);
    if (this.#handler !== handler) return; // aborted in onStart
    if (this.#connected) this.#write(head, request.body);
    else this.#pending = { head, body: request.body };
  }

  #write(head: string, body: Buffer | null): void {
    this.#pending = undefined;
    const socket = this.socket;
    if (body === null || body.length === 0) {
      socket.write(head, 'latin1');
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
    const ms = this.#pool.headersTimeoutMs;
    if (ms > 0)
      this.#timer = setTimeout(
        () =>
          this.#fail(
            codedError('UND_ERR_HEADERS_TIMEOUT', `peer ${this.#pool.host}:${this.#pool.port} sent no response head within ${ms} ms`),
          ),
        ms,
      );
  }

  /** A read (in READ_BUFFER); false pauses the socket. */
  #onData(buf: Buffer): boolean {
    const handler = this.#handler;
    if (handler === undefined) {
      // Bytes with no request outstanding: the peer is out of step; this connection is not reusable.
      this.#close();
      return false;
    }
    this.#reads++;
    const headBefore = this.#parser.headDone;
    let used: number;
    try {
      used = this.#parser.execute(buf);
    } catch (error) {
      // The connection stops here; the handler hears of it a turn later, so body bytes it
      // already wrote from this read (the client's first chunk goes out on the next tick)
      // reach its client before the cut.
      this.#handler = undefined;
      this.#close();
      setImmediate(() => handler.onError(error as Error));
      return false;
    }
    if (this.#handler !== handler) return !this.#closed; // aborted from a callback
    const parser = this.#parser;
    if (parser.done) {
      this.#complete(used === buf.length);
      return !this.#closed;
    }
    if (parser.headDone && !headBefore) {
      clearTimeout(this.#timer);
      this.#armBody();
    }
    if (handler.wantsPause && !this.#paused) {
      this.#paused = true;
      // The client is slow, not the peer: the silence timer waits for the client.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return false;
    }
    return true;
  }

  /**
   * The body's silence timer. Re-arming a timer on every read (a token event) costs more than
   * a tick that counts reads: it fires every quarter of the timeout and fails the response
   * after four ticks with no read, so the silence is cut between 1 and 1.25 timeouts.
   */
  #armBody(): void {
    const ms = this.#pool.bodyTimeoutMs;
    this.#timer = undefined;
    if (ms <= 0) return;
    this.#readsSeen = this.#reads;
    this.#quietTicks = 0;
    this.#timer = setTimeout(() => this.#bodyTick(), Math.max(1, Math.ceil(ms / 4)));
  }

  #bodyTick(): void {
    if (this.#handler === undefined || this.#timer === undefined) return;
    if (this.#reads !== this.#readsSeen) {
      this.#readsSeen = this.#reads;
      this.#quietTicks = 0;
    } else if (++this.#quietTicks >= 4) {
      this.#fail(
        codedError(
          'UND_ERR_BODY_TIMEOUT',
          `peer ${this.#pool.host}:${this.#pool.port} sent nothing for ${this.#pool.bodyTimeoutMs} ms mid-response`,
        ),
      );
      return;
    }
    this.#timer.refresh();
  }

  // ResponseSink: forwarded to the current handler.
  get raw(): boolean {
    return this.#handler?.raw ?? false;
  }

  onHead(status: number, statusText: string, headers: string[]): void {
    this.#handler?.onHead(status, statusText, headers);
  }

  // Copied out of READ_BUFFER: the handler may keep them (node's write queue does).
  onData(data: Buffer): void {
    this.#handler?.onData(Buffer.from(data));
  }

  onRaw(framed: Buffer): void {
    this.#handler?.onRaw(Buffer.from(framed));
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    if (this.#handler !== undefined) this.#armBody();
    this.socket.resume();
  }

  abort(error: Error): void {
    if (this.#handler === undefined) return;
    this.#fail(error);
  }

  #complete(whole: boolean): void {
    const handler = this.#handler!;
    this.#handler = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    const parser = this.#parser;
    // Extra bytes after the response, or a peer that said close: do not reuse.
    if (!whole || !parser.keepAlive) this.#close();
    else this.#pool.idle(this, parser.keepAliveMs);
    handler.onComplete();
  }

  #onEnd(): void {
    const handler = this.#handler;
    if (handler !== undefined && this.#parser.finish()) {
      this.#complete(false);
      return;
    }
    this.#fail(
      codedError(
        'UND_ERR_SOCKET',
        `peer ${this.#pool.host}:${this.#pool.port} closed the connection${handler === undefined ? '' : ' mid-response'}`,
      ),
    );
  }

  /** Idle: closes after `ms` unless reused. */
  armIdle(ms: number): void {
    this.#idleTimer = setTimeout(() => this.#close(), ms);
    this.#idleTimer.unref();
  }

  #fail(error: Error): void {
    const handler = this.#handler;
    this.#handler = undefined;
    this.#close();
    handler?.onError(error);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#idleTimer);
    this.#timer = undefined;
    this.socket.destroy();
    this.#pool.gone(this);
  }

  destroy(error: Error): void {
    this.#fail(error);
  }
}

interface Queued {
  request: UpstreamRequest;
  head: string;
  handler: UpstreamHandler;
}

export class UpstreamPool {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly #max: number;
  readonly #keepAliveMs: number;
  /** Idle connections, most recently used last (reused first: its peer is least likely to have closed it). */
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  readonly #queue: Queued[] = [];
  #destroyed = false;

  constructor(host: string, port: number, options: UpstreamPoolOptions = {}) {
    this.host = host;
    this.port = port;
    this.#max = options.connections ?? 64;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 120_000;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? 60_000;
    this.#keepAliveMs = options.keepAliveTimeoutMs ?? 30_000;
  }

  /** Connections open now (busy or idle). */
  get size(): number {
    return this.#all.size;
  }

  /**
   * Sends `request`; its events go to `handler`. Throws a SynktiError (E_UPSTREAM_REQUEST)
   * when the request cannot be written as HTTP/1.1 (nothing was sent).
   */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const head = requestHead(request);
    if (this.#destroyed) {
      handler.onStart({ abort: () => undefined, resume: () => undefined });
      queueMicrotask(() => handler.onError(codedError('UND_ERR_DESTROYED', `the connection pool to ${this.host}:${this.port} is closed`)));
      return;
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.send(request, head, handler);
    } else if (this.#all.size < this.#max) {
      const conn = new Connection(this);
      this.#all.add(conn);
      conn.send(request, head, handler);
    } else {
      this.#queue.push({ request, head, handler });
    }
  }

  /** A connection finished its response and may be reused. */
  idle(conn: Connection, peerKeepAliveMs: number | undefined): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      conn.send(next.request, next.head, next.handler);
      return;
    }
    // Close before the peer would: a request sent just as the peer closes fails (it is retried, but costs a round trip).
    const ms = peerKeepAliveMs === undefined ? this.#keepAliveMs : Math.min(this.#keepAliveMs, Math.max(0, peerKeepAliveMs - 1000));
    if (ms === 0) {
      conn.destroy(codedError('UND_ERR_SOCKET', 'idle'));
      return;
    }
    this.#idle.push(conn);
    conn.armIdle(ms);
  }

  /** A connection closed (any reason). */
  gone(conn: Connection): void {
    this.#all.delete(conn);
    const at = this.#idle.indexOf(conn);
    if (at !== -1) this.#idle.splice(at, 1);
    // A queued request takes the freed place.
    if (this.#destroyed) return;
    const next = this.#queue.shift();
    if (next !== undefined) queueMicrotask(() => this.dispatchQueued(next));
  }

  private dispatchQueued(next: Queued): void {
    if (this.#destroyed) {
      next.handler.onStart({ abort: () => undefined, resume: () => undefined });
      next.handler.onError(codedError('UND_ERR_DESTROYED', `the connection pool to ${this.host}:${this.port} is closed`));
      return;
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.send(next.request, next.head, next.handler);
    } else if (this.#all.size < this.#max) {
      const conn = new Connection(this);
      this.#all.add(conn);
      conn.send(next.request, next.head, next.handler);
    } else {
      this.#queue.unshift(next);
    }
  }

  /** Closes every connection; requests in flight or queued fail with UND_ERR_DESTROYED. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const error = codedError('UND_ERR_DESTROYED', `the connection pool to ${this.host}:${this.port} is closed`);
    const queued = this.#queue.splice(0);
    for (const conn of [...this.#all]) conn.destroy(error);
    this.#idle.length = 0;
    for (const q of queued) {
      q.handler.onStart({ abort: () => undefined, resume: () => undefined });
      q.handler.onError(error);
    }
  }
}
