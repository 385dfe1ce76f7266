import type { Socket } from 'node:net';

interface ConnectionState {
  /** Requests on this connection whose response is not over yet (more than 1 only when pipelined). */
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * The router's client connections and the requests each one carries, so that a draining
 * router can close keep-alive connections once they sit idle without cutting a response.
 * HTTP/1.1 cannot tell an idle client "go elsewhere": closing the connection is the signal.
 * A connection is closed only after it has been idle for a while, not the moment it goes
 * idle, because a client that reuses it at once may already have a request on the wire,
 * and that request would then fail; a client that keeps its connection busy instead gets
 * `connection: close` on its next response.
 */
export class ClientConnections {
  readonly #states = new Map<Socket, ConnectionState>();
  /** Set once draining: a connection idle this long is closed. */
  #idleCloseMs: number | undefined;

  /** A new client connection. */
  add(socket: Socket): void {
    const state: ConnectionState = { active: 0, idleTimer: undefined };
    this.#states.set(socket, state);
    socket.once('close', () => {
      clearTimeout(state.idleTimer);
      this.#states.delete(socket);
    });
    if (this.#idleCloseMs !== undefined) this.#arm(socket, state);
  }

  /** A request began on `socket`. Returns how many earlier requests on it are still being answered. */
  begin(socket: Socket): number {
    const state = this.#states.get(socket);
    if (state === undefined) return 0;
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    return state.active++;
  }

  /** The response to a request begun on `socket` is over (finished or cut). */
  end(socket: Socket): void {
    const state = this.#states.get(socket);
    if (state === undefined) return;
    state.active = Math.max(0, state.active - 1);
    if (state.active === 0 && this.#idleCloseMs !== undefined) this.#arm(socket, state);
  }

  /** From now on every connection idle for `idleCloseMs` is closed, those idle now included. */
  closeWhenIdle(idleCloseMs: number): void {
    if (this.#idleCloseMs !== undefined && this.#idleCloseMs <= idleCloseMs) return;
    this.#idleCloseMs = idleCloseMs;
    for (const [socket, state] of this.#states) {
      if (state.active === 0) this.#arm(socket, state);
    }
  }

  #arm(socket: Socket, state: ConnectionState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.active === 0) socket.destroy();
    }, this.#idleCloseMs);
    state.idleTimer.unref();
  }

  /** Open client connections. */
  get size(): number {
    return this.#states.size;
  }

  /** Stops every idle timer (the server closes the connections themselves). */
  dispose(): void {
    for (const state of this.#states.values()) clearTimeout(state.idleTimer);
    this.#idleCloseMs = undefined;
  }
}
