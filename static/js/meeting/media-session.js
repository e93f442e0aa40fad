// The media of one signaling session: our `up` (Publisher) and `down`
// (Subscriber) peer connections to the SFU, built afresh for every media
// session the server names (each `welcome`, each `media_restart`), and the
// tracks we receive, shown on their owners' tiles and played.
//
// A connection that fails, or stays disconnected, is rebuilt through a new
// signaling session: the server gives us fresh peers on the SFU.

import * as media from "../media.js";
import { h } from "../ui/dom.js";

const RETRY_MS = 5000;

export class MediaSession {
  // `status(text, level, detail)` shows how media is doing; `nameOf(id)`
  // gives a participant's name; `soundBlocked()` is called when the browser
  // will not play sound before a click.
  constructor({ signaling, local, grid, audioBox, prefs, status, nameOf, soundBlocked }) {
    this.signaling = signaling;
    this.local = local;
    this.grid = grid;
    this.audioBox = audioBox;
    this.prefs = prefs;
    this.status = status;
    this.nameOf = nameOf;
    this.soundBlocked = soundBlocked;
    this.iceServers = [];
    this.session = "";
    this.selfId = "";
    this.publisher = null;
    this.subscriber = null;
    this.remoteAudio = new Map();
    // Which stream each received track object is shown for (see takeTrack).
    this.trackHolders = new WeakMap();
    this.lastRetry = 0;
  }

  // New peer connections for media session `session`; publishing too when
  // our role allows it.
  async rebuild({ session, selfId, iceServers, publish }) {
    this.teardown();
    this.session = session;
    this.selfId = selfId;
    if (iceServers) this.iceServers = iceServers;
    this.subscriber = new media.Subscriber(this.signaling, this.iceServers, session, (track, streamId) =>
      this.onTrack(track, streamId),
    );
    this.watch(this.subscriber.pc);
    if (publish) await this.startPublishing();
    this.local.tell();
  }

  async startPublishing() {
    const { audio, video, screen } = this.local.forPublishing();
    const publisher = new media.Publisher(this.signaling, this.iceServers, this.session, { audio, video });
    this.publisher = publisher;
    this.local.publisher = publisher;
    this.watch(publisher.pc);
    this.grid.setVideo(this.selfId, video);
    try {
      await publisher.start();
      if (screen && this.publisher === publisher) await publisher.startScreen(screen);
    } catch (error) {
      // A publisher replaced meanwhile (a reconnect) failing is expected.
      if (this.publisher === publisher) this.problem(error);
    }
    this.local.changed();
  }

  stopPublishing() {
    this.publisher?.close();
    this.publisher = null;
    this.local.publisher = null;
  }

  teardown() {
    this.stopPublishing();
    this.subscriber?.close();
    this.subscriber = null;
  }

  // The SFU's offer on `down`; one of an earlier media session (before a
  // reconnect) is stale.
  offer({ pc, sdp, session }) {
    const subscriber = this.subscriber;
    if (pc !== "down" || !subscriber || session !== subscriber.session) return;
    subscriber.offer(sdp).catch((error) => {
      if (this.subscriber === subscriber) this.problem(error);
    });
  }

  candidate({ pc: name, candidate, sdp_mid: sdpMid, sdp_mline_index: sdpMLineIndex }) {
    const pc = name === "up" ? this.publisher?.pc : this.subscriber?.pc;
    if (pc && candidate) pc.addIceCandidate({ candidate, sdpMid, sdpMLineIndex }).catch(() => {});
  }

  watch(pc) {
    let timer = null;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(timer);
      if (pc.connectionState === "failed") this.retry();
      else if (pc.connectionState === "disconnected") timer = setTimeout(() => this.retry(), RETRY_MS);
      else if (pc.connectionState === "connected" && this.signaling.state === "open") this.status.recovered();
    });
  }

  retry() {
    const now = Date.now();
    if (now - this.lastRetry < RETRY_MS || this.signaling.state !== "open") return;
    this.lastRetry = now;
    this.status.show("Reconnecting…", "warn");
    this.signaling.reconnectNow();
  }

  problem(error) {
    this.status.show("Audio and video trouble: reconnecting…", "warn", error.message);
    setTimeout(() => this.retry(), 1000);
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

  onTrack(track, streamId) {
    this.takeTrack(track, streamId);
    if (streamId.startsWith("screen-")) {
      const id = streamId.slice("screen-".length);
      const name = this.nameOf(id);
      if (name) this.grid.setScreen(id, name, track);
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
      this.audioBox.append(audio);
    }
    audio.srcObject = new MediaStream([track]);
    if (this.prefs.speaker && audio.setSinkId) audio.setSinkId(this.prefs.speaker).catch(() => {});
    // Autoplay with sound needs a click on some browsers.
    audio.play().catch(() => this.soundBlocked());
  }

  // Someone left: their sound element goes with them.
  forget(id) {
    this.remoteAudio.get(id)?.remove();
    this.remoteAudio.delete(id);
  }

  playAll() {
    for (const audio of this.remoteAudio.values()) audio.play().catch(() => {});
  }

  useSpeaker(deviceId) {
    this.prefs.speaker = deviceId;
    for (const audio of this.remoteAudio.values()) audio.setSinkId?.(deviceId).catch(() => {});
  }
}
