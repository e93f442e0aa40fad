// The meeting page: the server's messages to the parts of the meeting, and
// the screens (lobby, call, end).
//
// The server is the authority on who is here and what each may do; the page
// shows its state and asks it for changes through signaling.js. The parts,
// one job each: meeting/presence.js (who is here, hands, the lobby),
// meeting/local-media.js (our microphone, camera and screen),
// meeting/media-session.js (the peer connections and what we receive),
// meeting/controls.js (toolbar, panels, shortcuts), meeting/devices.js,
// meeting/quality.js; and the widgets in ui/. On every `welcome` (the first
// one and after each reconnect) the peer connections are built afresh: the
// SFU gives a returning participant new connections too.

import { CLOSING_ERRORS, ending } from "./closes.js";
import { Controls } from "./meeting/controls.js";
import { DevicesPanel } from "./meeting/devices.js";
import { LocalMedia } from "./meeting/local-media.js";
import { MediaSession } from "./meeting/media-session.js";
import { Presence } from "./meeting/presence.js";
import { QualityWatch } from "./meeting/quality.js";
import { Signaling } from "./signaling.js";
import { Chat } from "./ui/chat.js";
import { toast } from "./ui/dom.js";
import { Grid } from "./ui/grid.js";
import { People } from "./ui/people.js";
import { RoomControls } from "./ui/room-controls.js";
import { Status } from "./ui/status.js";

const $ = (id) => document.getElementById(id);

export function enterRoom(options) {
  const room = new Room(options);
  room.start();
  return room;
}

class Room {
  constructor({ config, audio, video, micOn, camOn, prefs, iceServers }) {
    this.config = config;
    this.iceServers = iceServers || [];
    this.me = null;
    this.capabilities = config.capabilities;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const signaling = new Signaling(`${scheme}//${location.host}${config.urls.socket}`);
    this.signaling = signaling;
    this.status = new Status($("call-status"));
    this.grid = new Grid({ grid: $("grid"), stage: $("stage"), body: $("call-body") });
    this.chat = new Chat({ log: $("chat-log"), form: $("chat-form"), input: $("chat-input"), badge: $("chat-unread"), signaling });
    this.roomControls = new RoomControls({ config, signaling });
    this.local = new LocalMedia({
      signaling,
      audio,
      video,
      micOn,
      camOn,
      prefs,
      canPublish: () => Boolean(this.capabilities.publish),
      changed: () => this.selfChanged(),
      problem: (error) => this.session.problem(error),
    });
    this.presence = new Presence({
      signaling,
      grid: this.grid,
      people: new People({ list: $("people-list"), count: $("people-count"), lobby: $("lobby-requests"), lobbyList: $("lobby-list"), signaling }),
      local: this.local,
      canModerate: () => Boolean(this.capabilities.moderate),
      gone: (id) => this.session.forget(id),
      selfChanged: () => this.controls.show(),
      counted: (count) => this.controls.showCount(count),
    });
    this.session = new MediaSession({
      signaling,
      local: this.local,
      grid: this.grid,
      audioBox: $("remote-audio"),
      prefs,
      status: this.status,
      nameOf: (id) => this.presence.nameOf(id),
      soundBlocked: () => ($("sound-blocked").hidden = false),
    });
    this.devices = new DevicesPanel({ local: this.local, session: this.session, prefs });
    this.controls = new Controls({
      signaling,
      local: this.local,
      presence: this.presence,
      chat: this.chat,
      panelOpened: (name) => name === "devices" && this.devices.fill(),
      layout: () => this.grid.layout(),
    });
    this.quality = new QualityWatch({
      session: this.session,
      grid: this.grid,
      people: () => this.presence.participants.keys(),
      selfId: () => this.me?.id,
    });
  }

  start() {
    this.listen();
    const click = (id, handler) => $(id).addEventListener("click", handler);
    click("lobby-leave", () => this.signaling.leave());
    click("rejoin", () => location.reload());
    click("enable-sound", () => {
      this.session.playAll();
      $("sound-blocked").hidden = true;
    });
    window.addEventListener("pagehide", () => this.signaling.leave());
    this.status.show("Connecting…");
    this.signaling.connect();
    this.quality.start();
  }

  // Our microphone, camera, screen or hand changed: our tile and the
  // controls show it.
  selfChanged() {
    if (this.me) this.grid.setVideo(this.me.id, this.local.camOn ? this.local.tracks.video : null);
    this.presence.refreshSelf();
    this.controls.show();
  }

  // Server messages

  listen() {
    const on = (type, handler) => this.signaling.addEventListener(type, (event) => handler.call(this, event.detail));
    const presence = this.presence;
    on("welcome", this.onWelcome);
    on("lobby_waiting", this.onLobbyWaiting);
    on("participant_joined", (m) => presence.upsert(m.participant));
    on("participant_updated", (m) => presence.upsert(m.participant));
    on("participant_left", (m) => presence.left(m.id));
    on("room_updated", (m) => this.showRoom(m.room));
    on("chat_message", (m) => this.chat.receive(m.message));
    on("chat_ack", (m) => this.chat.ack(m.client_id, m.message));
    on("muted_by_moderator", (m) => this.local.stoppedByModerator(m.kind));
    on("allowed_by_moderator", (m) => this.local.allowedByModerator(m.kind));
    on("unmute_requested", (m) => presence.asksToUnmute(m));
    on("role_changed", this.onRoleChanged);
    on("lobby_request", (m) => presence.knocked(m.request));
    on("lobby_resolved", (m) => presence.resolved(m.request_id));
    on("active_speaker", (m) => this.grid.setSpeaker(m.participant_id));
    on("media_restart", (m) => {
      // The media server is back after an outage: new peers, new session.
      this.me.media_session = m.media_session;
      this.status.show("Audio and video are back.", "ok");
      this.rebuildMedia();
    });
    on("sfu_offer", (m) => this.session.offer(m));
    on("sfu_candidate", (m) => this.session.candidate(m));
    on("error", this.onError);
    on("statechange", ({ state }) => {
      if (state === "reconnecting") this.status.show("Reconnecting…", "warn");
    });
    on("closed", this.onClosed);
  }

  onWelcome(message) {
    const first = !this.me;
    this.me = message.you;
    this.capabilities = message.you.capabilities;
    if (message.ice_servers) this.iceServers = message.ice_servers;
    $("lobby").hidden = true;
    $("call").hidden = false;
    document.body.classList.add("in-call");
    this.presence.welcome({ meId: this.me.id, participants: message.participants, lobby: message.lobby });
    this.showRoom(message.room);
    this.chat.load(message.chat);
    this.chat.resendPending();
    this.applyCapabilities();
    this.status.show(message.resumed && !first ? "Reconnected." : "", "ok");
    this.rebuildMedia();
  }

  rebuildMedia() {
    return this.session.rebuild({
      session: this.me.media_session,
      selfId: this.me.id,
      iceServers: this.iceServers,
      publish: Boolean(this.capabilities.publish),
    });
  }

  onLobbyWaiting(message) {
    $("lobby").hidden = false;
    $("lobby-message").textContent = message.message;
    this.status.show("");
  }

  async onRoleChanged({ role, capabilities }) {
    const couldPublish = this.capabilities.publish;
    this.me.role = role;
    this.capabilities = capabilities;
    this.applyCapabilities();
    toast(`Your role is now ${role}.`);
    if (couldPublish && !capabilities.publish) {
      this.local.stopPublishing();
      this.session.stopPublishing();
    } else if (!couldPublish && capabilities.publish) {
      this.local.micOn = false;
      this.local.camOn = false;
      await this.session.startPublishing();
    }
  }

  onError(message) {
    if (CLOSING_ERRORS.has(message.code)) return;
    if (this.chat.takeError(message)) return;
    if (message.code === "hard_muted") this.controls.show();
    if (message.code === "media_unavailable") {
      // Not a toast: it lasts until media_restart says otherwise.
      this.status.show(message.message, "warn");
      return;
    }
    if (message.message) toast(message.message, { kind: "warn" });
  }

  onClosed({ code, message, endedBy }) {
    this.quality.stop();
    this.session.teardown();
    this.local.release();
    this.presence.dropQuestions();
    // What the meeting said is over with it: the end screen says the rest.
    $("toasts").replaceChildren();
    document.body.classList.remove("in-call", "panel-open");
    $("call").hidden = true;
    $("lobby").hidden = true;
    const { title, text, rejoin } = ending(code, {
      message,
      endedBy,
      me: this.presence.myName,
      moderator: Boolean(this.capabilities.moderate),
    });
    $("ended-title").textContent = title;
    $("ended-message").textContent = text;
    $("rejoin").hidden = !rejoin;
    $("rejoin").textContent = rejoin;
    $("ended").hidden = false;
    $("ended-title").focus();
  }

  // The room and our rights in it

  showRoom(room) {
    $("locked-badge").hidden = !room.locked;
    this.roomControls.show(room);
    if (!room.chat && !this.capabilities.moderate) this.chat.setEnabled(false, "Chat is off in this room");
  }

  applyCapabilities() {
    const c = this.capabilities;
    if (!c.moderate) this.presence.dropQuestions();
    this.chat.setEnabled(c.chat, "Chat is off for you in this room");
    this.presence.render();
    this.controls.setCapabilities(c);
  }
}
