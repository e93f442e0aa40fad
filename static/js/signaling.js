// The room WebSocket: protocol version 1 (docs/protocol.md). No DOM here.
//
// Signaling keeps one connection open for as long as the user stays: when the
// socket drops for any reason that is not final, it reconnects with backoff
// and says `hello` again; the server resumes the stay within its grace period.
// Every server message is dispatched as an event named after its `type`.

export const PROTOCOL_VERSION = 1;

// Close codes after which reconnecting cannot help (docs/protocol.md).
// 4012 (timeout) and 4500 (internal) are not final: reconnect.
export const FINAL_CLOSE_CODES = new Set([
  1000, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4009, 4010, 4011, 4013, 4400,
  4413, 4429,
]);

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const BACKOFF_MAX_MS = 10000;
// The server pings after 20 s of silence; if we hear nothing at all for this
// long the connection is dead even though the browser has not noticed.
const PING_AFTER_MS = 15000;
const DEAD_AFTER_MS = 35000;

export class Signaling extends EventTarget {
  constructor(url, { WebSocketImpl = WebSocket } = {}) {
    super();
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.socket = null;
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
    this.attempt = 0;
    this.lastError = null;
    this.lastHeard = 0;
    this.retryTimer = null;
    this.watchdog = null;
  }

  connect() {
    if (this.state === "closed") return;
    clearTimeout(this.retryTimer);
    this._setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const socket = new this.WebSocketImpl(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.lastHeard = Date.now();
      this._startWatchdog();
      this.send({ type: "hello", version: PROTOCOL_VERSION });
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this._receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) this._closed(event.code);
    });
  }

  // True when the message went out; false when there is no open connection
  // (the caller decides whether it matters: media state is re-sent on welcome).
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  // Leave for good: the server ends the stay at once, with no grace period.
  leave() {
    this.send({ type: "leave" });
    this._finish(1000, null);
  }

  // Drop this connection and open a new one now (used when media fails:
  // a new `hello` makes the server give us fresh media connections).
  reconnectNow() {
    if (this.state === "closed") return;
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    this.attempt = Math.max(this.attempt, 1);
    this._stopWatchdog();
    this.connect();
  }

  _receive(data) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // the server only sends JSON; ignore anything else
    }
    if (!message || typeof message.type !== "string") return;
    if (message.type === "ping") {
      this.send({ type: "pong" });
      return;
    }
    if (message.type === "welcome" || message.type === "lobby_waiting") {
      this.attempt = 0;
      this._setState("open");
    }
    if (message.type === "error") this.lastError = message;
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  _closed(code) {
    this._stopWatchdog();
    this.socket = null;
    if (FINAL_CLOSE_CODES.has(code)) {
      this._finish(code, this.lastError);
      return;
    }
    this.attempt += 1;
    this._setState("reconnecting");
    const base = BACKOFF_MS[Math.min(this.attempt - 1, BACKOFF_MS.length - 1)];
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() / 2));
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  _finish(code, error) {
    clearTimeout(this.retryTimer);
    this._stopWatchdog();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    if (this.state === "closed") return;
    this._setState("closed");
    this.dispatchEvent(
      new CustomEvent("closed", {
        detail: { code, error: error?.code ?? null, message: error?.message ?? "" },
      }),
    );
  }

  _startWatchdog() {
    this._stopWatchdog();
    this.watchdog = setInterval(() => {
      const silent = Date.now() - this.lastHeard;
      if (silent > DEAD_AFTER_MS) this.reconnectNow();
      else if (silent > PING_AFTER_MS) this.send({ type: "ping" });
    }, 5000);
  }

  _stopWatchdog() {
    clearInterval(this.watchdog);
    this.watchdog = null;
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state } }));
  }
}

// A request/answer pair over signaling, e.g. our `sfu_offer` and the server's
// `sfu_answer` for the same peer connection.
export function nextMessage(signaling, type, accept = () => true, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const onMessage = (event) => {
      if (!accept(event.detail)) return;
      cleanup();
      resolve(event.detail);
    };
    const onError = (event) => {
      const code = event.detail.code;
      if (code !== "media_rejected" && code !== "media_unavailable") return;
      cleanup();
      reject(new Error(event.detail.message));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`No ${type} from the server.`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      signaling.removeEventListener(type, onMessage);
      signaling.removeEventListener("error", onError);
    };
    signaling.addEventListener(type, onMessage);
    signaling.addEventListener("error", onError);
  });
}
