import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { directSocket, writeChunk } from './chunk-writer.ts';
import type { DeadlineList, DeadlineNode } from './deadline-list.ts';
import type { PeerSlot, PeerTable } from './peer-table.ts';
import { prepareRequestHeaders, prepareResponseHeaders, type PreparedRequest } from './proxy-headers.ts';
import type { UpstreamControl, UpstreamHandler } from './upstream-pool.ts';
import type { RouterErrorReason, RouterMetrics } from './router-metrics.ts';
import type { WaitQueue, Waiter } from './wait-queue.ts';

/** Largest request body the router buffers (it must keep the body to retry elsewhere). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** What every exchange shares with its router. */
export interface ExchangeContext {
  readonly table: PeerTable;
  readonly queue: WaitQueue;
  readonly metrics: RouterMetrics;
  /** Requests in flight, oldest first, with their timeouts. */
  readonly deadlines: DeadlineList;
  readonly requestTimeoutMs: number;
  readonly maxQueue: number;
  readonly retries: number;
  readonly onUpstreamFailure: ((peerId: string, error: unknown) => void) | undefined;
  /** A peer timed out (connect, first byte, stream idle): it gets no new request for a while. */
  holdPeer(peerId: string): void;
  /** How quiet a stream from a lost peer must be before it is cut (RouterOptions.lostPeerQuietMs). */
  readonly lostPeerQuietMs: number;
  /** True once drain() or stop() began: every response then closes its connection, so clients reconnect elsewhere. */
  closeConnections: boolean;
  /** Called once per exchange when its client response is over, however it ended. */
  done(exchange: Exchange): void;
}

const JSON_HEADERS = ['content-type', 'application/json'];

function errorBody(status: number, message: string, reason: string): string {
  // The OpenAI error shape, so OpenAI clients show the message instead of a parse error.
  return JSON.stringify({ error: { message, type: 'synkti_router_error', code: reason, status } });
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

/** The upstream closed the connection under a request before answering (a kept-alive one it timed out). */
function isStaleConnection(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

/** The upstream pool's timeouts (undici's codes): the peer's address went silent (or the peer is stuck), not a refusal. */
function isSilence(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

const REQUEST_ABORTED = new Error('request cancelled by the router');
/** What an exchange on a peer that membership lost fails with. */
const PEER_LOST = Object.assign(new Error('membership lost the peer (it stopped answering)'), { code: 'SYNKTI_PEER_LOST' });

/**
 * One try of a request on one peer: the upstream pool's handler. It forwards events to its
 * exchange only while it is the exchange's current attempt, so a retried, cancelled or
 * discarded attempt can never touch the client response.
 */
class Attempt implements UpstreamHandler {
  readonly exchange: Exchange;
  readonly slot: PeerSlot;
  status = 502;
  statusText = '';
  /** The response headers prepared for the client, once the upstream's head arrived. */
  headers: string[] | undefined;
  /** Body chunks passed on, and when the first was (the peer's streaming speed, measured per response). */
  chunks = 0;
  firstChunkAt = 0;
  lastChunkAt = 0;
  /** Set by the exchange: the client's socket cannot take more now (read again on resume()). */
  wantsPause = false;
  /** Set by the exchange once the client gets the upstream's chunks as framed (see ResponseSink.raw). */
  raw = false;
  #control: UpstreamControl | undefined;
  #cancelled = false;
  #discarded = false;
  #over = false;

  constructor(exchange: Exchange, slot: PeerSlot) {
    this.exchange = exchange;
    this.slot = slot;
  }

  #live(): boolean {
    return !this.#over && !this.#discarded && !this.#cancelled;
  }

  onStart(control: UpstreamControl): void {
    this.#control = control;
    // Cancelled while it waited for a connection: stop it now.
    if (this.#cancelled) control.abort(REQUEST_ABORTED);
  }

  onHead(statusCode: number, statusText: string, headers: string[]): void {
    if (this.#live()) this.exchange.onAttemptHeaders(this, statusCode, headers, statusText);
  }

  onData(chunk: Buffer): void {
    if (this.#live()) this.exchange.onAttemptData(this, chunk);
  }

  onRaw(framed: Buffer): void {
    if (this.#live()) this.exchange.onAttemptRaw(this, framed);
  }

  onComplete(): void {
    if (!this.#live()) {
      this.#over = true;
      return;
    }
    this.#over = true;
    this.exchange.onAttemptComplete(this);
  }

  onError(error: Error): void {
    if (!this.#live()) {
      this.#over = true;
      return;
    }
    this.#over = true;
    this.exchange.onAttemptError(this, error);
  }

  /** Lets a paused upstream send again (the client drained). */
  resume(): void {
    this.wantsPause = false;
    this.#control?.resume();
  }

  /** The exchange no longer wants this answer but its connection is healthy: read it to the end, unseen. */
  discard(): void {
    this.#discarded = true;
    this.raw = false;
    this.resume();
  }

  /** Stops the upstream request (client gone, deadline, router stopping): its connection is closed. */
  cancel(): void {
    if (this.#over || this.#cancelled) return;
    this.#cancelled = true;
    this.#control?.abort(REQUEST_ABORTED);
  }
}

/**
 * One client request through the router: read (bounded) body, wait for a peer slot, forward,
 * retry on another peer while nothing has reached the client, then stream the answer back.
 * Every path ends in the client response's 'close' event, where the books are settled once.
 */
export class Exchange implements Waiter, DeadlineNode {
  readonly #ctx: ExchangeContext;
  readonly #req: http.IncomingMessage;
  readonly #res: http.ServerResponse;
  readonly #started = performance.now();
  #prepared: PreparedRequest | undefined;
  #body: Buffer | undefined;
  #tried: Set<string> | undefined;
  #retriesUsed = 0;
  #staleRetried = false;
  #slot: PeerSlot | undefined;
  /** The upstream attempt whose events count; events of an abandoned one are ignored. */
  #attempt: Attempt | undefined;
  #committed = false;
  #queued = false;
  #finished = false;
  /** Status recorded for a response we cut off ourselves (502 upstream died, 504 timeout). */
  #abortCode: number | undefined;
  #drainHooked = false;
  #socketDrainHooked = false;
  #onSocketDrain: (() => void) | undefined;
  deadline = 0;
  deadlineAt = 0;
  listPrev: DeadlineNode | undefined;
  listNext: DeadlineNode | undefined;
  listed = false;

  constructor(ctx: ExchangeContext, req: http.IncomingMessage, res: http.ServerResponse) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
  }

  get exclude(): ReadonlySet<string> | undefined {
    return this.#tried;
  }

  start(): void {
    this.deadlineAt = this.#started + this.#ctx.requestTimeoutMs;
    this.#ctx.deadlines.add(this);
    this.#res.once('close', () => this.#onClientClose());
    const req = this.#req;
    const prepared = prepareRequestHeaders(req.rawHeaders, req.socket.remoteAddress);
    this.#prepared = prepared;
    if (!prepared.hasBody) {
      this.#dispatch();
      return;
    }
    if (prepared.contentLength > MAX_BODY_BYTES) {
      this.#tooLarge();
      return;
    }
    this.#readBody();
  }

  #readBody(): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = this.#req;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        req.off('end', onEnd);
        this.#tooLarge();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (this.#finished) return;
      this.#body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.#dispatch();
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', () => {
      // The client connection broke while sending; the response 'close' settles the rest.
      if (!this.#finished && !this.#res.headersSent) this.#reply(400, 'bad_request', 'request body could not be read');
    });
  }

  #tooLarge(): void {
    this.#reply(413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`, ['connection', 'close']);
  }

  /** Takes a peer slot now, or joins the wait queue (FIFO: behind anyone already waiting). */
  #dispatch(): void {
    if (this.#finished) return;
    const ctx = this.#ctx;
    if (ctx.queue.length > 0) ctx.queue.pump();
    const slot = ctx.queue.length > 0 ? undefined : ctx.table.acquire(this.#tried);
    if (slot !== undefined) {
      this.#forward(slot);
      return;
    }
    if (ctx.queue.length >= ctx.maxQueue) {
      this.#reply(503, 'queue_full', 'every peer is at its in-flight limit and the wait queue is full', ['retry-after', '1']);
      return;
    }
    this.#queued = true;
    ctx.queue.push(this);
  }

  grant(slot: PeerSlot): void {
    this.#queued = false;
    if (this.#finished) {
      this.#ctx.table.release(slot);
      return;
    }
    this.#forward(slot);
  }

  expire(): void {
    this.#queued = false;
    if (this.#finished) return;
    this.#reply(503, 'queue_timeout', 'no peer could take the request in time', ['retry-after', '5']);
  }

  #forward(slot: PeerSlot): void {
    this.#slot = slot;
    const req = this.#req;
    if (slot.urlError !== undefined) {
      const error = slot.urlError;
      queueMicrotask(() => this.#attemptFailed(slot, error));
      return;
    }
    const body = this.#body;
    // The prepared headers are shared by every attempt; the per-peer one is appended for
    // this attempt only (the pool writes the request head before dispatch returns).
    const headers = this.#prepared!.headers;
    const base = headers.length;
    headers.push('host', slot.hostHeader);
    const attempt = new Attempt(this, slot);
    this.#attempt = attempt;
    try {
      slot.pool.dispatch({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body: body ?? null }, attempt);
    } catch (error) {
      // A request the pool refuses to build (e.g. a malformed path): as good as a refused connection.
      queueMicrotask(() => {
        if (this.#attempt === attempt) this.#attemptFailed(slot, error);
      });
    } finally {
      headers.length = base;
    }
  }

  /** The attempt's response head arrived (1xx excluded). */
  onAttemptHeaders(attempt: Attempt, status: number, raw: string[], statusText: string): void {
    const slot = attempt.slot;
    const prepared = prepareResponseHeaders(raw, slot.id);
    if (prepared.handback || status === 502 || status === 503) {
      this.#ctx.metrics.error(prepared.handback ? 'handback' : 'upstream_status');
      const tried = (this.#tried ??= new Set());
      tried.add(slot.id);
      if (this.#retriesUsed < this.#ctx.retries && this.#ctx.table.hasCandidate(tried)) {
        // The refused answer is read to its end in the background so its connection is reused.
        attempt.discard();
        this.#attempt = undefined;
        this.#releaseSlot();
        this.#retryElsewhere(slot.id);
        return;
      }
    }
    attempt.status = status;
    attempt.statusText = statusText;
    attempt.headers = prepared.headers;
  }

  /** A decoded body chunk. Passed through as is; the upstream pauses while the client's socket is full. */
  onAttemptData(attempt: Attempt, chunk: Buffer): void {
    const now = performance.now();
    if (attempt.chunks++ === 0) attempt.firstChunkAt = now;
    attempt.lastChunkAt = now;
    if (!this.#committed) this.#commit(attempt);
    const res = this.#res;
    // The head and the first chunk leave together through node (one packet); later chunks go
    // straight to the socket when node allows it (see directSocket).
    const socket = attempt.chunks === 1 ? undefined : directSocket(res);
    if (socket === undefined) {
      if (!res.write(chunk)) {
        attempt.wantsPause = true;
        if (!this.#drainHooked) {
          this.#drainHooked = true;
          res.on('drain', () => this.#attempt?.resume());
        }
      }
      // From here a chunked upstream's bytes can go to the client as they came (no decode, no re-frame).
      if (attempt.chunks === 1 && directSocket(res) !== undefined) attempt.raw = true;
      return;
    }
    if (!writeChunk(socket, chunk)) this.#pauseFor(attempt, socket);
  }

  /** Chunks framed by the upstream, passed to the client's socket as they are (a chunked response to an HTTP/1.1 client). */
  onAttemptRaw(attempt: Attempt, framed: Buffer): void {
    attempt.chunks++;
    attempt.lastChunkAt = performance.now();
    const socket = directSocket(this.#res);
    // No socket: the client is gone or its response was cut; its 'close' settles the rest.
    if (socket !== undefined && !socket.write(framed)) this.#pauseFor(attempt, socket);
  }

  #pauseFor(attempt: Attempt, socket: import('node:net').Socket): void {
    attempt.wantsPause = true;
    if (this.#socketDrainHooked) return;
    this.#socketDrainHooked = true;
    socket.once(
      'drain',
      (this.#onSocketDrain ??= () => {
        this.#socketDrainHooked = false;
        this.#attempt?.resume();
      }),
    );
  }

  onAttemptComplete(attempt: Attempt): void {
    if (attempt.chunks >= 4) this.#ctx.table.noteStream(attempt.slot, attempt.chunks, performance.now() - attempt.firstChunkAt);
    if (!this.#committed) this.#commit(attempt);
    this.#attempt = undefined;
    this.#res.end();
    this.#releaseSlot();
  }

  onAttemptError(attempt: Attempt, error: Error): void {
    if (isSilence(error)) this.#ctx.holdPeer(attempt.slot.id);
    if (attempt.headers === undefined) this.#attemptFailed(attempt.slot, error);
    else this.#upstreamDied(attempt.slot, error);
  }

  /** The attempt on `slot` failed before any response: retry if we may, else 502. */
  #attemptFailed(slot: PeerSlot, error: unknown): void {
    this.#attempt = undefined;
    this.#releaseSlot();
    if (this.#finished) return;
    const ctx = this.#ctx;
    ctx.metrics.error('upstream_connect');
    // A kept-alive connection the upstream closed just as we reused it: the request never
    // got there, so the same peer is fine. Once, so a truly broken peer is still left behind.
    if (isStaleConnection(error) && !this.#staleRetried) {
      this.#staleRetried = true;
      this.#dispatch();
      return;
    }
    this.#reportFailure(slot.id, error);
    if (this.#retryElsewhere(slot.id)) return;
    this.#reply(502, 'upstream_connect', `peer ${slot.id} could not be reached`);
  }

  #reportFailure(peerId: string, error: unknown): void {
    const hook = this.#ctx.onUpstreamFailure;
    if (hook === undefined) return;
    try {
      hook(peerId, error);
    } catch {
      // A failing observer must not break the request path.
    }
  }

  /** Sends the request to another peer when retries remain and one exists; false otherwise. */
  #retryElsewhere(peerId: string): boolean {
    if (this.#retriesUsed >= this.#ctx.retries || this.#res.headersSent) return false;
    const tried = (this.#tried ??= new Set());
    tried.add(peerId);
    if (!this.#ctx.table.hasCandidate(tried)) return false;
    this.#retriesUsed++;
    this.#ctx.metrics.retry();
    this.#dispatch();
    return true;
  }

  #commit(attempt: Attempt): void {
    this.#committed = true;
    const headers = attempt.headers!;
    if (this.#ctx.closeConnections) headers.push('connection', 'close');
    this.#res.writeHead(attempt.status, attempt.statusText, headers);
  }

  /** The upstream broke after its response began. */
  #upstreamDied(slot: PeerSlot, error: Error): void {
    this.#attempt = undefined;
    this.#releaseSlot();
    if (this.#finished) return;
    this.#reportFailure(slot.id, error);
    if (!this.#committed) {
      // Not a byte reached the client yet: as good as a refused connection.
      this.#ctx.metrics.error('upstream_connect');
      if (this.#retryElsewhere(slot.id)) return;
      this.#reply(502, 'upstream_connect', `peer ${slot.id} failed before answering`);
      return;
    }
    this.#ctx.metrics.error('upstream_aborted');
    this.#abort(502);
  }

  /**
   * Membership lost `peerId` (it stopped answering: crashed, or its packets are dropped):
   * an attempt on it will never hear back. Before any byte reached the client the request
   * goes to another peer; a stream already under way is cut once quiet (#cutWhenQuiet), so
   * the client sees an error soon instead of a silence that lasts until a timeout. True if
   * this exchange was on it.
   */
  peerLost(peerId: string): boolean {
    const attempt = this.#attempt;
    if (this.#finished || attempt === undefined || attempt.slot.id !== peerId) return false;
    if (attempt.chunks > 0) this.#cutWhenQuiet(attempt);
    else this.#dropLostAttempt(attempt);
    return true;
  }

  /**
   * A stream under way from a lost peer: cut once no byte came for lostPeerQuietMs. Bytes
   * still arriving mean the peer answers this router over this very connection: the loss
   * was another node's stale view (seen right after a partition heals), and cutting would
   * fail a request that was being served.
   */
  #cutWhenQuiet(attempt: Attempt): void {
    if (this.#finished || this.#attempt !== attempt) return;
    const quietFor = performance.now() - attempt.lastChunkAt;
    const wait = this.#ctx.lostPeerQuietMs - quietFor;
    if (wait <= 0) {
      this.#dropLostAttempt(attempt);
      return;
    }
    setTimeout(() => this.#cutWhenQuiet(attempt), Math.ceil(wait)).unref();
  }

  #dropLostAttempt(attempt: Attempt): void {
    this.#attempt = undefined;
    attempt.cancel();
    this.#upstreamDied(attempt.slot, PEER_LOST);
  }

  onDeadline(): void {
    if (this.#finished) return;
    this.#ctx.metrics.error('timeout');
    if (this.#queued) {
      this.#queued = false;
      this.#ctx.queue.remove(this);
    }
    this.#cancelUpstream();
    if (this.#committed || this.#res.headersSent) this.#abort(504);
    else this.#reply(504, 'timeout', `no complete answer within ${this.#ctx.requestTimeoutMs} ms`);
  }

  /** Cuts the client off so it sees an error, never a truncated response that looks whole. */
  #abort(code: number): void {
    this.#abortCode = code;
    this.#res.destroy();
  }

  #cancelUpstream(): void {
    const attempt = this.#attempt;
    this.#attempt = undefined;
    attempt?.cancel();
    this.#releaseSlot();
  }

  #releaseSlot(): void {
    const slot = this.#slot;
    if (slot === undefined) return;
    this.#slot = undefined;
    this.#ctx.table.release(slot);
    this.#ctx.queue.pump();
  }

  /** An error answer from the router itself (nothing from an upstream was sent). */
  #reply(status: number, reason: RouterErrorReason, message: string, extraHeaders?: readonly string[]): void {
    if (reason !== 'timeout' && reason !== 'upstream_connect') this.#ctx.metrics.error(reason);
    const res = this.#res;
    if (res.headersSent || this.#committed) {
      this.#abort(status);
      return;
    }
    const body = errorBody(status, message, reason);
    const headers = [...JSON_HEADERS, 'content-length', String(Buffer.byteLength(body))];
    if (extraHeaders !== undefined) headers.push(...extraHeaders);
    if (this.#ctx.closeConnections && !extraHeaders?.includes('connection')) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(body);
  }

  /** Stops the exchange at once (router shutting down after its grace period). */
  kill(): void {
    if (this.#finished) return;
    if (this.#queued) {
      this.#queued = false;
      this.#ctx.queue.remove(this);
    }
    this.#cancelUpstream();
    if (!this.#committed && !this.#res.headersSent) {
      this.#reply(503, 'stopping', 'the router is shutting down', ['retry-after', '1']);
    } else {
      this.#ctx.metrics.error('stopping');
      this.#abort(503);
    }
  }

  #onClientClose(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#ctx.deadlines.remove(this);
    const res = this.#res;
    let code = res.statusCode;
    if (!res.writableFinished) {
      if (this.#abortCode !== undefined) {
        code = this.#abortCode;
      } else {
        code = 499;
        this.#ctx.metrics.error('client_abort');
      }
      if (this.#queued) {
        this.#queued = false;
        this.#ctx.queue.remove(this);
      }
      this.#cancelUpstream();
    }
    this.#ctx.metrics.request(code, (performance.now() - this.#started) / 1000);
    this.#ctx.done(this);
  }
}
