// The room WebSocket: protocol version 1 (docs/protocol.md). No DOM here.
//
// Signaling keeps one connection open for as long as the user stays: when the
// socket drops for any reason that is not final, it reconnects with backoff
// and says `hello` again; the server resumes the stay within its grace period.
// Every server message is dispatched as an event named after its `type`.
// What the page may ask of the server is a method each (chat, mute,
// setLobby…): the shapes of the messages live here and nowhere else.

import { isFinal } from "./closes.js";

export const PROTOCOL_VERSION = 1;

// Messages that can explain the close that follows them.
const LAST_WORDS = new Set(["error", "removed", "meeting_ended"]);

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
    // The server's last word before a final close says why: an `error`, or
    // `removed` / `meeting_ended` (docs/protocol.md). Any later message
    // clears it, so an old error never explains a close.
    this.lastWords = null;
    this.lastHeard = 0;
    this.retryTimer = null;
    this.watchdog = null;
    // The type of the last message we sent (not pings): an error the server
    // answers with is about it.
    this.lastSent = "";
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
      this._send({ type: "hello", version: PROTOCOL_VERSION });
    });
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this._receive(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) this._closed(event.code);
    });
  }

  // Leave for good: the server ends the stay at once, with no grace period.
  leave() {
    this._send({ type: "leave" });
    this._finish(1000, null);
  }

  // What the page asks of the server (docs/protocol.md). Each returns true
  // when the message went out, false when there is no open connection (the
  // caller decides whether it matters: media state is sent again on welcome,
  // chat after a reconnect).

  chat(text, clientId) {
    return this._send({ type: "chat_send", text, client_id: clientId });
  }

  // Our own media; give the kinds that change.
  mediaState({ audio, video, screen }) {
    return this._send({ type: "media_state", audio, video, screen });
  }

  hand(raised) {
    return this._send({ type: "hand", raised });
  }

  askUnmute() {
    return this._send({ type: "ask_unmute" });
  }

  // Moderators' actions; the server refuses them to anyone else.

  mute(participantId, kind) {
    return this._send({ type: "mod_mute", participant_id: participantId, kind });
  }

  allow(participantId, kind) {
    return this._send({ type: "mod_allow", participant_id: participantId, kind });
  }

  muteAll() {
    return this._send({ type: "mod_mute_all" });
  }

  lowerHand(participantId) {
    return this._send({ type: "mod_lower_hand", participant_id: participantId });
  }

  setRole(participantId, role) {
    return this._send({ type: "mod_set_role", participant_id: participantId, role });
  }

  remove(participantId) {
    return this._send({ type: "mod_remove", participant_id: participantId });
  }

  // `minutes`: null for good.
  ban(participantId, minutes = null, reason = "") {
    const message = { type: "mod_ban", participant_id: participantId };
    if (minutes) message.minutes = minutes;
    if (reason) message.reason = reason;
    return this._send(message);
  }

  lock(locked) {
    return this._send({ type: "mod_lock", locked });
  }

  setLobby(enabled) {
    return this._send({ type: "mod_lobby", enabled });
  }

  admit(requestId) {
    return this._send({ type: "lobby_admit", request_id: requestId });
  }

  deny(requestId) {
    return this._send({ type: "lobby_deny", request_id: requestId });
  }

  endMeeting() {
    return this._send({ type: "mod_end_meeting" });
  }

  // Media, relayed to the SFU: our offer on `up` (which track is the
  // screen), our answer on `down` (for the session of the offer answered),
  // and trickled candidates (null: the end of them).

  offerUp(sdp, screenTrackId) {
    return this._send({ type: "sfu_offer", pc: "up", sdp, screen_track_id: screenTrackId });
  }

  answerDown(sdp, session) {
    return this._send({ type: "sfu_answer", pc: "down", sdp, session });
  }

  candidate(pc, candidate) {
    return this._send({
      type: "sfu_candidate",
      pc,
      candidate: candidate ? candidate.candidate : "",
      sdp_mid: candidate?.sdpMid ?? "",
      sdp_mline_index: candidate?.sdpMLineIndex ?? 0,
    });
  }

  _send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    if (message.type !== "ping" && message.type !== "pong") this.lastSent = message.type;
    return true;
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
      this._send({ type: "pong" });
      return;
    }
    if (message.type === "welcome" || message.type === "lobby_waiting") {
      this.attempt = 0;
      this._setState("open");
    }
    this.lastWords = LAST_WORDS.has(message.type) ? message : null;
    this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
  }

  _closed(code) {
    this._stopWatchdog();
    this.socket = null;
    if (isFinal(code)) {
      this._finish(code, this.lastWords);
      return;
    }
    this.attempt += 1;
    this._setState("reconnecting");
    const base = BACKOFF_MS[Math.min(this.attempt - 1, BACKOFF_MS.length - 1)];
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() / 2));
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  _finish(code, words) {
    clearTimeout(this.retryTimer);
    this._stopWatchdog();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    if (this.state === "closed") return;
    this._setState("closed");
    this.dispatchEvent(
      new CustomEvent("closed", {
        detail: {
          code,
          error: words?.code ?? words?.reason ?? null,
          message: words?.message ?? "",
          // meeting_ended says who ended it.
          endedBy: words?.ended_by ?? "",
        },
      }),
    );
  }

  _startWatchdog() {
    this._stopWatchdog();
    this.watchdog = setInterval(() => {
      const silent = Date.now() - this.lastHeard;
      if (silent > DEAD_AFTER_MS) this.reconnectNow();
      else if (silent > PING_AFTER_MS) this._send({ type: "ping" });
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
