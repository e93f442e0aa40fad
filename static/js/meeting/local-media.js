// Our own microphone, camera and screen: their tracks, whether each is on,
// what a moderator has turned off, and telling the server. The tracks go out
// on the media session's publisher, when there is one.

import * as media from "../media.js";
import { toast } from "../ui/dom.js";

export class LocalMedia {
  // `canPublish()`: whether our role may send media now. `changed()` is
  // called after every change the page must show (controls, our tile);
  // `problem(error)` when sending failed (the media session recovers).
  constructor({ signaling, audio, video, micOn, camOn, prefs, canPublish, changed, problem }) {
    this.signaling = signaling;
    this.tracks = { audio, video, screen: null };
    this.micOn = micOn;
    this.camOn = camOn;
    this.prefs = prefs;
    this.canPublish = canPublish;
    this.changed = changed;
    this.problem = problem;
    // A moderator's hard mutes, as the server has them.
    this.hardMuted = { audio: false, video: false };
    // The publisher of the media session (set by it; null while none).
    this.publisher = null;
  }

  get sharing() {
    return Boolean(this.tracks.screen);
  }

  // What we send, as the server must know it (also after every welcome).
  tell() {
    if (!this.canPublish()) return;
    this.signaling.mediaState({ audio: this.micOn, video: this.camOn, screen: this.sharing });
  }

  // What a new publisher starts with: a hard mute holds whatever we had on.
  forPublishing() {
    if (this.hardMuted.audio) this.micOn = false;
    if (this.hardMuted.video) this.camOn = false;
    if (this.tracks.audio) this.tracks.audio.enabled = this.micOn;
    return { audio: this.tracks.audio, video: this.camOn ? this.tracks.video : null, screen: this.tracks.screen };
  }

  async setMic(on, { tell = true } = {}) {
    if (on && this.hardMuted.audio) {
      toast("A moderator muted you. Use “Ask to unmute” to ask them.", { kind: "warn" });
      return;
    }
    if (on && !this.tracks.audio) {
      try {
        this.tracks.audio = await media.openDevice("microphone", this.prefs.microphone);
        await this.publisher?.replaceAudio(this.tracks.audio);
      } catch (error) {
        toast(media.deviceErrorAdvice(error, "microphone"), { kind: "warn", timeout: 10000 });
        return;
      }
    }
    this.micOn = on;
    if (this.tracks.audio) this.tracks.audio.enabled = on;
    this.changed();
    if (tell) this.tell();
  }

  async setCam(on, { tell = true } = {}) {
    if (on && this.hardMuted.video) {
      toast("A moderator stopped your camera. They can allow it again.", { kind: "warn" });
      return;
    }
    if (on) {
      try {
        const track = await media.openDevice("camera", this.prefs.camera);
        this.tracks.video?.stop();
        this.tracks.video = track;
        await this.publisher?.replaceVideo(track);
      } catch (error) {
        toast(media.deviceErrorAdvice(error, "camera"), { kind: "warn", timeout: 10000 });
        return;
      }
    } else {
      await this.publisher?.replaceVideo(null);
      // Off means off: the camera light goes out too.
      this.tracks.video?.stop();
      this.tracks.video = null;
    }
    this.camOn = on;
    this.changed();
    if (tell) this.tell();
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
    this.tracks.screen = track;
    this.changed();
    try {
      await this.publisher.startScreen(track);
      this.tell();
    } catch (error) {
      this.stopScreen();
      this.problem(error);
    }
  }

  async stopScreen({ tell = true } = {}) {
    const track = this.tracks.screen;
    if (!track) return;
    this.tracks.screen = null;
    track.stop();
    this.changed();
    if (tell) this.tell();
    await this.publisher?.stopScreen().catch((error) => this.problem(error));
  }

  // Another camera or microphone, mid-call: the new track goes out on the
  // same sender (replaceTrack), with no renegotiation and no gap for the
  // others beyond one keyframe.
  async useCamera(deviceId) {
    if (!this.camOn) return;
    const track = await media.openCamera(deviceId);
    const old = this.tracks.video;
    await this.publisher?.replaceVideo(track);
    this.tracks.video = track;
    old?.stop();
    this.changed();
  }

  async useMicrophone(deviceId) {
    const track = await media.openMicrophone(deviceId);
    track.enabled = this.micOn;
    const old = this.tracks.audio;
    await this.publisher?.replaceAudio(track);
    this.tracks.audio = track;
    old?.stop();
  }

  // A moderator turned some of our media off (the server stops forwarding
  // it whatever we do; this keeps the page honest).
  stoppedByModerator(kind) {
    if (kind === "screen") {
      this.stopScreen({ tell: false });
      toast("A moderator stopped your screen share.", { kind: "warn" });
      return;
    }
    this.hardMuted[kind] = true;
    if (kind === "audio") this.setMic(false, { tell: false });
    else this.setCam(false, { tell: false });
    toast(kind === "audio" ? "A moderator muted your microphone." : "A moderator stopped your camera.", { kind: "warn" });
    this.changed();
  }

  allowedByModerator(kind) {
    this.hardMuted[kind] = false;
    toast(kind === "audio" ? "A moderator allowed you to unmute. Unmute when you are ready." : "A moderator allowed your camera again.");
    this.changed();
  }

  // Our role no longer lets us send: everything off, without telling the
  // server (it turned it off already).
  stopPublishing() {
    this.setMic(false, { tell: false });
    this.setCam(false, { tell: false });
    this.stopScreen({ tell: false });
  }

  // The meeting is over for us: the camera light goes out, the screen share
  // ends.
  release() {
    for (const track of Object.values(this.tracks)) track?.stop();
  }
}
