// The chat panel: history, sending with acknowledgement, unread count.

import { h, when } from "./dom.js";

const MAX_LENGTH = 2000;

// The server stores a message once per (room, author, client id): a resend
// after a reconnect is not stored twice. Ids must then differ between the
// author's tabs and devices too, not just within one page.
function newClientId() {
  if (typeof crypto !== "undefined" && crypto.randomUUID) return `c-${crypto.randomUUID()}`;
  const bytes = new Uint8Array(16);
  if (typeof crypto !== "undefined" && crypto.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class Chat {
  constructor({ log, form, input, badge, signaling }) {
    this.log = log;
    this.form = form;
    this.input = input;
    this.badge = badge;
    this.signaling = signaling;
    this.unread = 0;
    this.open = false;
    this.seen = new Set();
    this.pending = new Map();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (event) => {
      // Enter sends; Shift+Enter starts a new line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
  }

  // The history from `welcome`: on a reconnect it may overlap what we show.
  load(messages) {
    for (const message of messages) this.receive(message, { count: false });
  }

  receive(message, { count = true } = {}) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.log.append(this._item(message));
    this._scroll();
    if (count && !this.open) this._setUnread(this.unread + 1);
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > MAX_LENGTH) {
      this._status(`Messages can be at most ${MAX_LENGTH} characters; this one has ${text.length}.`);
      return;
    }
    const clientId = newClientId();
    const item = this._item({ author: "You", text, sent_at: new Date().toISOString() });
    item.classList.add("pending", "mine");
    this.pending.set(clientId, { text, item });
    this.log.append(item);
    this._scroll();
    this.input.value = "";
    this._deliver(clientId);
  }

  _deliver(clientId) {
    const { text } = this.pending.get(clientId);
    if (!this.signaling.chat(text, clientId)) {
      this._status("Not connected: your message will be sent when the connection is back.");
    }
  }

  // After a reconnect, send again what the server never acknowledged.
  resendPending() {
    for (const clientId of this.pending.keys()) this._deliver(clientId);
  }

  ack(clientId, message) {
    const entry = this.pending.get(clientId);
    this.pending.delete(clientId);
    this.seen.add(message.id);
    const item = this._item({ ...message, author: "You" });
    item.classList.add("mine");
    if (entry) entry.item.replaceWith(item);
    else this.log.append(item);
  }

  // An error the server answered our last message with, if it refuses a
  // chat message (rate limit, too long, chat off): true when it did.
  takeError({ code, message }) {
    const refusals = ["rate_limited", "too_long", "forbidden", "invalid"];
    if (this.signaling.lastSent !== "chat_send" || !refusals.includes(code) || !this.pending.size) return false;
    this.refuse(message);
    return true;
  }

  // A refusal while messages are pending: the oldest one is the one refused.
  refuse(text) {
    const [clientId, entry] = this.pending.entries().next().value || [];
    if (entry) {
      entry.item.classList.replace("pending", "failed");
      entry.item.title = text;
      this.pending.delete(clientId);
    }
    this._status(text);
  }

  setOpen(open) {
    this.open = open;
    if (open) this._setUnread(0);
  }

  setEnabled(enabled, reason = "") {
    this.input.disabled = !enabled;
    this.form.querySelector("button").disabled = !enabled;
    this.input.placeholder = enabled ? "Message everyone" : reason;
  }

  _item(message) {
    return h(
      "li.chat-message",
      {},
      h("div.chat-meta", {},
        h("strong", {}, message.author),
        h("time", { datetime: message.sent_at, title: new Date(message.sent_at).toLocaleString() }, when(message.sent_at)),
      ),
      h("p", {}, message.text),
    );
  }

  _status(text) {
    const status = this.form.querySelector(".chat-status");
    status.textContent = text;
    clearTimeout(this.statusTimer);
    this.statusTimer = setTimeout(() => (status.textContent = ""), 6000);
  }

  _scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  _setUnread(count) {
    this.unread = count;
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.badge.hidden = count === 0;
    this.badge.closest("button")?.setAttribute("aria-label", count ? `Chat, ${count} unread` : "Chat");
  }
}
