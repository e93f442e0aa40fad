// The meeting: presence, media, chat and moderation, wired to the page.
//
// The server is the authority on who is here and what each may do; this
// module shows its state and asks it for changes. On every `welcome` (the
// first one and after each reconnect) the peer connections are built afresh:
// the SFU gives a returning participant new connections too.

import * as media from "./media.js";
import { Signaling } from "./signaling.js";
import { Chat } from "./ui/chat.js";
import { ask, h, onShortcut, toast } from "./ui/dom.js";
import { Grid } from "./ui/grid.js";
import { People } from "./ui/people.js";

const $ = (id) => document.getElementById(id);

// What the user reads when the meeting is over for them, by close code.
const ENDINGS = {
  1000: ["You left the meeting", "", true],
  4001: ["Please sign in again", "Your session has ended. Rejoin to sign in and come back.", true],
  4003: ["You are not a member of this room", "Ask a moderator of the room for an invite.", false],
  4004: ["This room no longer exists", "", false],
  4005: ["You cannot enter this room", "", false],
  4006: ["The room is locked", "Only moderators can enter now. Try again later, or ask a moderator to unlock it.", true],
  4007: ["The meeting is full", "Try again when someone has left.", true],
  4008: ["You were removed from the meeting", "", false],
  4009: ["You were not let in", "", false],
  4010: ["The meeting has ended", "", false],
  4011: ["You joined from another tab or device", "The meeting continues there. Rejoin to move it back here.", true],
  4013: ["You were signed out", "You signed out, your password changed or your account was turned off. Sign in again to rejoin.", true],
  4400: ["Parley was updated", "Reload the page to continue.", true],
  4413: ["Disconnected", "Your browser sent a message that was too large. Rejoin to continue.", true],
  4429: ["Disconnected", "Your browser sent too many messages. Rejoin to continue.", true],
};

const MEDIA_RETRY_MS = 5000;
const STATS_EVERY_MS = 2000;

export function enterRoom(options) {
  const room = new Room(options);
  room.start();
  return room;
}

class Room {
  constructor({ config, audio, video, micOn, camOn, prefs, iceServers }) {
    this.config = config;
    this.prefs = prefs;
    this.iceServers = iceServers || [];
    this.local = { audio, video, screen: null };
    this.micOn = micOn;
    this.camOn = camOn;
    this.hand = false;
    this.hardMuted = { audio: false, video: false };
    this.me = null;
    this.capabilities = config.capabilities;
    this.participants = new Map();
    this.lobby = new Map();
    this.remoteAudio = new Map();
    // Which stream each received track object is shown for (see takeTrack).
    this.trackHolders = new WeakMap();
    this.publisher = null;
    this.subscriber = null;
    this.quality = { in: new media.QualityMeter(), out: new media.QualityMeter() };
    this.lastMediaRetry = 0;
    this.lastSent = "";
    this.grid = new Grid({ grid: $("grid"), stage: $("stage"), body: $("call-body") });
    this.chat = new Chat({
      log: $("chat-log"),
      form: $("chat-form"),
      input: $("chat-input"),
      badge: $("chat-unread"),
      send: (m) => this.send(m),
    });
    this.people = new People({
      list: $("people-list"),
      count: $("people-count"),
      lobby: $("lobby-requests"),
      lobbyList: $("lobby-list"),
      send: (m) => this.send(m),
    });
  }

  start() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.signaling = new Signaling(`${scheme}//${location.host}${this.config.urls.socket}`);
    this.listen();
    this.wireControls();
    this.setStatus("Connecting…");
    this.signaling.connect();
    this.statsTimer = setInterval(() => this.measure(), STATS_EVERY_MS);
  }

  send(message) {
    this.lastSent = message.type;
    return this.signaling.send(message);
  }

  // Server messages

  listen() {
    const on = (type, handler) =>
      this.signaling.addEventListener(type, (event) => handler.call(this, event.detail));
    on("welcome", this.onWelcome);
    on("lobby_waiting", this.onLobbyWaiting);
    on("participant_joined", (m) => this.upsert(m.participant));
    on("participant_updated", (m) => this.upsert(m.participant));
    on("participant_left", this.onParticipantLeft);
    on("room_updated", (m) => this.showRoom(m.room));
    on("chat_message", (m) => this.chat.receive(m.message));
    on("chat_ack", (m) => this.chat.ack(m.client_id, m.message));
    on("muted_by_moderator", this.onMutedByModerator);
    on("allowed_by_moderator", this.onAllowedByModerator);
    on("unmute_requested", (m) =>
      toast(`${m.name} asks to unmute.`, {
        action: { label: "Allow", run: () => this.send({ type: "mod_allow", participant_id: m.participant_id, kind: "audio" }) },
      }),
    );
    on("role_changed", this.onRoleChanged);
    on("lobby_request", (m) => {
      this.lobby.set(m.request.id, m.request);
      this.showLobby();
      toast(`${m.request.name} is waiting in the lobby.`, {
        timeout: 15000,
        action: { label: "Admit", run: () => this.send({ type: "lobby_admit", request_id: m.request.id }) },
      });
    });
    on("lobby_resolved", (m) => {
      this.lobby.delete(m.request_id);
      this.showLobby();
    });
    on("active_speaker", (m) => this.grid.setSpeaker(m.participant_id));
    on("media_restart", (m) => {
      // The media server is back after an outage: new peers, new session.
      this.me.media_session = m.media_session;
      this.setStatus("Audio and video are back.", "ok");
      this.rebuildMedia();
    });
    on("sfu_offer", (m) => {
      // An offer of an earlier media session (before a reconnect) is stale.
      const subscriber = this.subscriber;
      if (m.pc !== "down" || !subscriber || m.session !== subscriber.session) return;
      subscriber.offer(m.sdp).catch((e) => {
        if (this.subscriber === subscriber) this.mediaProblem(e);
      });
    });
    on("sfu_candidate", (m) => {
      const pc = m.pc === "up" ? this.publisher?.pc : this.subscriber?.pc;
      if (pc && m.candidate) {
        pc.addIceCandidate({ candidate: m.candidate, sdpMid: m.sdp_mid, sdpMLineIndex: m.sdp_mline_index }).catch(() => {});
      }
    });
    on("error", this.onError);
    on("statechange", ({ state }) => {
      if (state === "reconnecting") this.setStatus("Reconnecting…", "warn");
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
    // Whoever left while we were away is gone; everyone else is refreshed.
    const present = new Set(message.participants.map((p) => p.id));
    for (const id of this.participants.keys()) if (!present.has(id)) this.forget(id);
    for (const p of message.participants) this.upsert(p, { render: false });
    this.renderPeople();
    this.showRoom(message.room);
    this.chat.load(message.chat);
    this.chat.resendPending();
    this.lobby = new Map(message.lobby.map((r) => [r.id, r]));
    this.showLobby();
    this.applyCapabilities();
    this.setStatus(message.resumed && !first ? "Reconnected." : "", "ok");
    this.rebuildMedia();
  }

  onLobbyWaiting(message) {
    $("lobby").hidden = false;
    $("lobby-message").textContent = message.message;
    this.setStatus("");
  }

  onParticipantLeft(message) {
    this.forget(message.id);
    this.renderPeople();
  }

  onMutedByModerator({ kind }) {
    if (kind === "screen") {
      this.stopScreen({ tell: false });
      toast("A moderator stopped your screen share.", { kind: "warn" });
      return;
    }
    this.hardMuted[kind] = true;
    if (kind === "audio") this.setMic(false, { tell: false });
    else this.setCam(false, { tell: false });
    toast(kind === "audio" ? "A moderator muted your microphone." : "A moderator stopped your camera.", { kind: "warn" });
    this.showControls();
  }

  onAllowedByModerator({ kind }) {
    this.hardMuted[kind] = false;
    toast(kind === "audio" ? "A moderator allowed you to unmute. Unmute when you are ready." : "A moderator allowed your camera again.");
    this.showControls();
  }

  async onRoleChanged({ role, capabilities }) {
    const couldPublish = this.capabilities.publish;
    this.me.role = role;
    this.capabilities = capabilities;
    this.applyCapabilities();
    toast(`Your role is now ${role}.`);
    if (couldPublish && !capabilities.publish) {
      this.setMic(false, { tell: false });
      this.setCam(false, { tell: false });
      this.stopScreen({ tell: false });
      this.publisher?.close();
      this.publisher = null;
    } else if (!couldPublish && capabilities.publish) {
      this.micOn = false;
      this.camOn = false;
      await this.startPublishing();
    }
  }

  onError(message) {
    const chatCodes = ["rate_limited", "too_long", "forbidden", "invalid"];
    if (this.lastSent === "chat_send" && chatCodes.includes(message.code) && this.chat.pending.size) {
      this.chat.refuse(message.message);
      return;
    }
    if (message.code === "hard_muted") this.showControls();
    if (message.code === "media_unavailable") {
      // Not a toast: it lasts until media_restart says otherwise.
      this.setStatus(message.message, "warn");
      return;
    }
    if (message.message) toast(message.message, { kind: "warn" });
  }

  onClosed({ code, message }) {
    clearInterval(this.statsTimer);
    this.teardownMedia();
    for (const track of Object.values(this.local)) track?.stop();
    document.body.classList.remove("in-call");
    $("call").hidden = true;
    $("lobby").hidden = true;
    const [title, advice, canRejoin] = ENDINGS[code] || ["Disconnected", "", true];
    $("ended-title").textContent = title;
    $("ended-message").textContent = code === 1000 ? "" : message || advice;
    $("rejoin").hidden = !canRejoin;
    $("ended").hidden = false;
    $("ended-title").focus?.();
  }

  // Presence

  upsert(p, { render = true } = {}) {
    const previous = this.participants.get(p.id);
    this.participants.set(p.id, p);
    const self = p.id === this.me?.id;
    if (self) {
      this.hardMuted = { audio: p.audio_hard_muted, video: p.video_hard_muted };
      this.grid.upsert({ ...p, audio: this.micOn, video: this.camOn }, { self: true });
      this.showControls();
    } else {
      this.grid.upsert(p);
      if (previous?.screen && !p.screen) this.grid.setScreen(p.id, null);
    }
    if (render) this.renderPeople();
  }

  forget(id) {
    this.participants.delete(id);
    this.grid.remove(id);
    this.remoteAudio.get(id)?.remove();
    this.remoteAudio.delete(id);
  }

  renderPeople() {
    this.people.render(this.participants, this.me?.id, this.capabilities.moderate);
    const count = this.participants.size;
    $("people-button").querySelector(".control-label").textContent = `People (${count})`;
  }

  showRoom(room) {
    this.roomInfo = room;
    $("locked-badge").hidden = !room.locked;
    const lock = $("lock-room");
    lock.textContent = room.locked ? "Unlock room" : "Lock room";
    lock.setAttribute("aria-pressed", String(room.locked));
    if (!room.chat && !this.capabilities.moderate) this.chat.setEnabled(false, "Chat is off in this room");
  }

  showLobby() {
    const requests = [...this.lobby.values()];
    this.people.setLobby(requests);
    const badge = $("lobby-count");
    badge.textContent = String(requests.length);
    badge.hidden = requests.length === 0;
  }

  applyCapabilities() {
    const c = this.capabilities;
    $("mic-button").hidden = !c.publish;
    $("cam-button").hidden = !c.publish;
    $("screen-button").hidden = !c.share_screen || !media.capabilities().display_media;
    $("room-controls").hidden = !c.moderate;
    this.chat.setEnabled(c.chat, "Chat is off for you in this room");
    this.renderPeople();
    this.showControls();
  }

  // Media

  async rebuildMedia() {
    this.teardownMedia();
    const session = this.me.media_session;
    this.subscriber = new media.Subscriber(this.signaling, this.iceServers, session, (track, streamId) =>
      this.onRemoteTrack(track, streamId),
    );
    this.watch(this.subscriber.pc);
    if (this.capabilities.publish) await this.startPublishing();
    this.sendMediaState();
  }

  async startPublishing() {
    if (this.hardMuted.audio) this.micOn = false;
    if (this.hardMuted.video) this.camOn = false;
    if (this.local.audio) this.local.audio.enabled = this.micOn;
    const screen = this.local.screen;
    const publisher = new media.Publisher(this.signaling, this.iceServers, this.me.media_session, {
      audio: this.local.audio,
      video: this.camOn ? this.local.video : null,
    });
    this.publisher = publisher;
    this.watch(publisher.pc);
    this.grid.setVideo(this.me.id, this.camOn ? this.local.video : null);
    try {
      await publisher.start();
      if (screen && this.publisher === publisher) await publisher.startScreen(screen);
    } catch (error) {
      // A publisher replaced meanwhile (a reconnect) failing is expected.
      if (this.publisher === publisher) this.mediaProblem(error);
    }
    this.showControls();
  }

  teardownMedia() {
    this.publisher?.close();
    this.subscriber?.close();
    this.publisher = null;
    this.subscriber = null;
  }

  // A connection that fails, or stays disconnected, is rebuilt through a new
  // signaling session: the server gives us fresh peers on the SFU.
  watch(pc) {
    let timer = null;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(timer);
      if (pc.connectionState === "failed") this.retryMedia();
      else if (pc.connectionState === "disconnected") timer = setTimeout(() => this.retryMedia(), MEDIA_RETRY_MS);
      else if (pc.connectionState === "connected" && this.statusLevel === "warn" && this.signaling.state === "open") this.setStatus("");
    });
  }

  retryMedia() {
    const now = Date.now();
    if (now - this.lastMediaRetry < MEDIA_RETRY_MS || this.signaling.state !== "open") return;
    this.lastMediaRetry = now;
    this.setStatus("Reconnecting…", "warn");
    this.signaling.reconnectNow();
  }

  mediaProblem(error) {
    this.setStatus("Audio and video trouble: reconnecting…", "warn", error.message);
    setTimeout(() => this.retryMedia(), 1000);
  }

  // The SFU reuses a receiving m-section for the next person's track, and the
  // browser then hands over the same track object under their stream: whoever
  // showed it before must let it go, or their tile would show someone else.
  takeTrack(track, streamId) {
    const previous = this.trackHolders.get(track);
    this.trackHolders.set(track, streamId);
    if (!previous || previous === streamId) return;
    if (previous.startsWith("screen-")) this.grid.setScreen(previous.slice("screen-".length), "", null);
    else if (track.kind === "video") this.grid.setVideo(previous, null);
    else if (this.remoteAudio.get(previous)) this.remoteAudio.get(previous).srcObject = null;
  }

  onRemoteTrack(track, streamId) {
    this.takeTrack(track, streamId);
    if (streamId.startsWith("screen-")) {
      const id = streamId.slice("screen-".length);
      const p = this.participants.get(id);
      if (p) this.grid.setScreen(id, p.name, track);
      return;
    }
    if (track.kind === "video") {
      this.grid.setVideo(streamId, track);
      return;
    }
    let audio = this.remoteAudio.get(streamId);
    if (!audio) {
      audio = h("audio", { autoplay: true, dataset: { participant: streamId } });
      this.remoteAudio.set(streamId, audio);
      $("remote-audio").append(audio);
    }
    audio.srcObject = new MediaStream([track]);
    if (this.prefs.speaker && audio.setSinkId) audio.setSinkId(this.prefs.speaker).catch(() => {});
    audio.play().catch(() => {
      // Autoplay with sound needs a click on some browsers.
      $("sound-blocked").hidden = false;
    });
  }

  sendMediaState() {
    if (!this.capabilities.publish) return;
    this.send({
      type: "media_state",
      audio: this.micOn,
      video: this.camOn,
      screen: Boolean(this.local.screen),
    });
  }

  async setMic(on, { tell = true } = {}) {
    if (on && this.hardMuted.audio) {
      toast("A moderator muted you. Use “Ask to unmute” to ask them.", { kind: "warn" });
      return;
    }
    if (on && !this.local.audio) {
      try {
        this.local.audio = await media.openDevice("microphone", this.prefs.microphone);
        await this.publisher?.replaceAudio(this.local.audio);
      } catch (error) {
        toast(media.deviceErrorAdvice(error, "microphone"), { kind: "warn", timeout: 10000 });
        return;
      }
    }
    this.micOn = on;
    if (this.local.audio) this.local.audio.enabled = on;
    this.showControls();
    this.refreshSelf();
    if (tell) this.sendMediaState();
  }

  async setCam(on, { tell = true } = {}) {
    if (on && this.hardMuted.video) {
      toast("A moderator stopped your camera. They can allow it again.", { kind: "warn" });
      return;
    }
    if (on) {
      try {
        const track = await media.openDevice("camera", this.prefs.camera);
        this.local.video?.stop();
        this.local.video = track;
        await this.publisher?.replaceVideo(track);
      } catch (error) {
        toast(media.deviceErrorAdvice(error, "camera"), { kind: "warn", timeout: 10000 });
        return;
      }
    } else {
      await this.publisher?.replaceVideo(null);
      // Off means off: the camera light goes out too.
      this.local.video?.stop();
      this.local.video = null;
    }
    this.camOn = on;
    this.grid.setVideo(this.me.id, this.local.video);
    this.showControls();
    this.refreshSelf();
    if (tell) this.sendMediaState();
  }

  async startScreen() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({
        video: { frameRate: { ideal: 15, max: 30 } },
        audio: false,
      });
    } catch (error) {
      if (error.name !== "NotAllowedError") toast(`Screen sharing could not start (${error.message}).`, { kind: "warn" });
      return;
    }
    const track = stream.getVideoTracks()[0];
    track.contentHint = "detail";
    // The browser's own "Stop sharing" bar ends the track.
    track.addEventListener("ended", () => this.stopScreen());
    this.local.screen = track;
    this.showControls();
    try {
      await this.publisher.startScreen(track);
      this.sendMediaState();
    } catch (error) {
      this.stopScreen();
      this.mediaProblem(error);
    }
  }

  async stopScreen({ tell = true } = {}) {
    const track = this.local.screen;
    if (!track) return;
    this.local.screen = null;
    track.stop();
    this.showControls();
    if (tell) this.sendMediaState();
    await this.publisher?.stopScreen().catch((e) => this.mediaProblem(e));
  }

  async switchDevice(kind, deviceId) {
    this.prefs = media.savePrefs({ [kind]: deviceId });
    if (kind === "speaker") {
      for (const audio of this.remoteAudio.values()) audio.setSinkId?.(deviceId).catch(() => {});
      return;
    }
    try {
      if (kind === "camera") {
        if (!this.camOn) return;
        const track = await media.openCamera(deviceId);
        const old = this.local.video;
        // replaceTrack: the new camera goes out on the same sender, with no
        // renegotiation and no gap for the others beyond one keyframe.
        await this.publisher?.replaceVideo(track);
        this.local.video = track;
        old?.stop();
        this.grid.setVideo(this.me.id, track);
      } else {
        const track = await media.openMicrophone(deviceId);
        track.enabled = this.micOn;
        const old = this.local.audio;
        await this.publisher?.replaceAudio(track);
        this.local.audio = track;
        old?.stop();
      }
      toast(`Switched ${kind}.`);
    } catch (error) {
      toast(media.deviceErrorAdvice(error, kind), { kind: "warn", timeout: 10000 });
    }
  }

  refreshSelf() {
    const me = this.me && this.participants.get(this.me.id);
    if (me) this.grid.upsert({ ...me, audio: this.micOn, video: this.camOn }, { self: true });
  }

  // Controls

  showControls() {
    const setToggle = (button, on, label, disabled) => {
      button.classList.toggle("off", !on);
      button.classList.toggle("hard", Boolean(disabled));
      button.setAttribute("aria-disabled", String(Boolean(disabled)));
      button.querySelector(".control-label").textContent = label;
    };
    setToggle(
      $("mic-button"),
      this.micOn,
      this.hardMuted.audio ? "Muted by moderator" : this.micOn ? "Mute" : "Unmute",
      this.hardMuted.audio,
    );
    $("mic-button").title = this.hardMuted.audio ? "A moderator muted you" : `${this.micOn ? "Mute" : "Unmute"} (M)`;
    $("ask-unmute").hidden = !this.hardMuted.audio;
    setToggle(
      $("cam-button"),
      this.camOn,
      this.hardMuted.video ? "Stopped by moderator" : this.camOn ? "Stop video" : "Start video",
      this.hardMuted.video,
    );
    $("cam-button").title = this.hardMuted.video ? "A moderator stopped your camera" : `${this.camOn ? "Stop" : "Start"} video (V)`;
    const sharing = Boolean(this.local.screen);
    $("screen-button").classList.toggle("active", sharing);
    $("screen-button").querySelector(".control-label").textContent = sharing ? "Stop sharing" : "Share screen";
    $("hand-button").classList.toggle("active", this.hand);
    $("hand-button").querySelector(".control-label").textContent = this.hand ? "Lower hand" : "Raise hand";
  }

  togglePanel(name) {
    const panels = { chat: "chat-panel", people: "people-panel", devices: "devices-panel" };
    const opening = $(panels[name]).hidden;
    for (const [key, id] of Object.entries(panels)) {
      $(id).hidden = !(opening && key === name);
      $(`${key}-button`).setAttribute("aria-pressed", String(opening && key === name));
    }
    $("side").hidden = !opening;
    $("call-body").classList.toggle("has-side", opening);
    this.chat.setOpen(opening && name === "chat");
    if (opening && name === "chat") $("chat-input").focus();
    if (opening && name === "devices") this.fillDevices();
    this.grid.layout();
  }

  async fillDevices() {
    const devices = await media.listDevices();
    const fill = (select, list, chosen, track) => {
      const current = track?.getSettings().deviceId || chosen;
      select.replaceChildren(
        ...list.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `Device ${i + 1}`)),
      );
      select.disabled = list.length === 0;
    };
    fill($("call-camera"), devices.videoinput, this.prefs.camera, this.local.video);
    fill($("call-mic"), devices.audioinput, this.prefs.microphone, this.local.audio);
    fill($("call-speaker"), devices.audiooutput, this.prefs.speaker, null);
    if (!media.capabilities().set_sink_id) $("call-speaker").disabled = true;
  }

  wireControls() {
    const click = (id, handler) => $(id).addEventListener("click", handler);
    click("mic-button", () => this.setMic(!this.micOn));
    click("cam-button", () => this.setCam(!this.camOn));
    click("ask-unmute", () => {
      this.send({ type: "ask_unmute" });
      toast("The moderators have been asked to let you speak.");
    });
    click("screen-button", () => (this.local.screen ? this.stopScreen() : this.startScreen()));
    click("hand-button", () => {
      this.hand = !this.hand;
      this.send({ type: "hand", raised: this.hand });
      this.showControls();
    });
    click("chat-button", () => this.togglePanel("chat"));
    click("people-button", () => this.togglePanel("people"));
    click("devices-button", () => this.togglePanel("devices"));
    for (const button of document.querySelectorAll(".close-panel")) {
      button.addEventListener("click", () => this.togglePanel(button.closest(".panel").id.replace("-panel", "")));
    }
    click("leave-button", () => this.signaling.leave());
    click("lobby-leave", () => this.signaling.leave());
    click("rejoin", () => location.reload());
    click("enable-sound", () => {
      for (const audio of this.remoteAudio.values()) audio.play().catch(() => {});
      $("sound-blocked").hidden = true;
    });
    click("mute-all", async () => {
      if (await ask({ title: "Mute everyone?", text: "Everyone but you is muted and must ask to unmute.", confirm: "Mute everyone" })) {
        this.send({ type: "mod_mute_all" });
      }
    });
    click("lock-room", () => this.send({ type: "mod_lock", locked: !this.roomInfo?.locked }));
    click("end-meeting", async () => {
      if (await ask({ title: "End the meeting for everyone?", text: "Everyone, including the lobby, is disconnected.", confirm: "End meeting", danger: true })) {
        this.send({ type: "mod_end_meeting" });
      }
    });
    $("call-camera").addEventListener("change", (e) => this.switchDevice("camera", e.target.value));
    $("call-mic").addEventListener("change", (e) => this.switchDevice("microphone", e.target.value));
    $("call-speaker").addEventListener("change", (e) => this.switchDevice("speaker", e.target.value));
    onShortcut({ m: "mic", v: "cam", h: "hand", c: "chat", p: "people" }, (action) => {
      if ($("call").hidden) return;
      if (action === "chat" || action === "people") this.togglePanel(action);
      else if (action === "hand") $("hand-button").click();
      else if (this.capabilities.publish) (action === "mic" ? $("mic-button") : $("cam-button")).click();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || $("side").hidden || document.querySelector("dialog[open]")) return;
      const open = document.querySelector(".panel:not([hidden])");
      if (open) {
        const name = open.id.replace("-panel", "");
        this.togglePanel(name);
        $(`${name}-button`).focus();
      }
    });
    window.addEventListener("pagehide", () => this.signaling.leave());
  }

  setStatus(text, level = "", detail = "") {
    this.statusLevel = level;
    const status = $("call-status");
    status.textContent = text;
    status.title = detail; // for support: the browser's own words
    status.dataset.level = level;
    if (level === "ok" && text) setTimeout(() => status.textContent === text && (status.textContent = ""), 3000);
  }

  // Connection quality per tile, from getStats().

  async measure() {
    const describe = (q) =>
      `${media.qualityLevel(q)} · ${Math.round(q.bitrate / 1000)} kbps · ${(q.loss * 100).toFixed(1)}% loss` +
      (q.rtt != null ? ` · ${Math.round(q.rtt * 1000)} ms` : "");
    try {
      if (this.subscriber) {
        const tracks = await this.quality.in.measure(this.subscriber.pc, "in");
        for (const id of this.participants.keys()) {
          const q = tracks.get(`cam-${id}`)?.flowing ? tracks.get(`cam-${id}`) : tracks.get(`mic-${id}`);
          if (q && id !== this.me.id) this.grid.setQuality(id, media.qualityLevel(q), describe(q));
        }
      }
      if (this.publisher) {
        const tracks = await this.quality.out.measure(this.publisher.pc, "out");
        const q = tracks.get(this.publisher.video.mid) || tracks.get(this.publisher.audio.mid);
        if (q?.flowing) this.grid.setQuality(this.me.id, media.qualityLevel(q), describe(q));
      }
    } catch {
      // A connection closed while measuring; the next round measures the new one.
    }
  }
}
