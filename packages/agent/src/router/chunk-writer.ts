import type http from 'node:http';
import type { Socket } from 'node:net';

/** Chunks up to this size are framed into one copied buffer; larger ones go out as three writes under one cork. */
const COPY_LIMIT = 16 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * The client socket a chunked response's body may be written to directly, or undefined when
 * it must go through `res.write`. Direct writes skip what `res.write` does for every chunk of
 * a chunked response (a cork with an uncork on the next tick, four writes through the
 * socket's stream, one writev of mixed strings and buffers): a token stream carries one
 * small chunk per event, so that overhead is most of the router's cost per event.
 *
 * Safe only when node has nothing of this response left to write before the chunk: the head
 * is out and the socket is this response's (node assigns the socket to a pipelined response
 * only when the responses before it are over, and flushes its buffered output then). node
 * still frames nothing itself here: `res.end()` writes the last chunk as usual.
 */
export function directSocket(res: http.ServerResponse): Socket | undefined {
  if (!res.headersSent || !res.chunkedEncoding || res.writableEnded) return undefined;
  const socket = res.socket;
  if (socket === null || socket.destroyed || !socket.writable) return undefined;
  return socket;
}

/**
 * Writes `chunk` to `socket` as one HTTP/1.1 chunk (hex size, CRLF, data, CRLF). Returns what
 * `socket.write` returns: false asks the caller to wait for the socket's 'drain'.
 */
export function writeChunk(socket: Socket, chunk: Buffer): boolean {
  const length = chunk.length;
  if (length === 0) return true; // an empty chunk would end the body
  if (length > COPY_LIMIT) {
    socket.cork();
    socket.write(`${length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF);
    socket.uncork();
    return ok;
  }
  // Small chunks (a token event is ~200 bytes) are copied into one buffer from node's pool:
  // cheaper than a writev of three pieces. The size is written digit by digit: no string,
  // no call into C++ for a few bytes.
  let digits = 1;
  for (let v = length >>> 4; v !== 0; v >>>= 4) digits++;
  const framed = Buffer.allocUnsafe(digits + length + 4);
  for (let i = digits - 1, v = length; i >= 0; i--, v >>>= 4) framed[i] = HEX[v & 15]!;
  framed[digits] = 13;
  framed[digits + 1] = 10;
  framed.set(chunk, digits + 2);
  framed[digits + 2 + length] = 13;
  framed[digits + 3 + length] = 10;
  return socket.write(framed);
}
