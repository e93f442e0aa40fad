// The two peer connections to the SFU. `up` carries what we publish; we
// offer on it. `down` carries everyone else's tracks; the SFU offers on it.
// Neither side ever offers on the other's connection, so renegotiation never
// collides (docs/protocol.md, "Media"). What goes over signaling goes
// through its methods (offerUp, answerDown, candidate).

import { nextMessage } from "../signaling.js";

// The msid track id the SDP gives a transceiver's m-section: the SFU tells the
// screen from the camera by it.
export function msidTrackId(sdp, mid) {
  const sections = sdp.split(/\r\nm=/);
  for (const section of sections) {
    if (!new RegExp(`\\r\\na=mid:${mid}\\r\\n`).test(`\r\n${section}\r\n`)) continue;
    const match = /\r\na=msid:\S+ (\S+)/.exec(`\r\n${section}`);
    return match ? match[1] : "";
  }
  return "";
}

// Runs negotiations one at a time; a request while one runs makes one more.
class Negotiator {
  constructor(run) {
    this.run = run;
    this.running = null;
    this.again = false;
  }

  request() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.run();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}

function sendCandidates(pc, signaling, name) {
  pc.addEventListener("icecandidate", ({ candidate }) => signaling.candidate(name, candidate));
}

const CAMERA_MAX_BITRATE = 900_000;
const SCREEN_MAX_BITRATE = 1_500_000;

async function capBitrate(sender, maxBitrate) {
  const params = sender.getParameters();
  if (!params.encodings?.length) return;
  params.encodings[0].maxBitrate = maxBitrate;
  try {
    await sender.setParameters(params);
  } catch {
    // Some browsers refuse before negotiation; the default rate is fine.
  }
}

// What we send: microphone, camera and, while sharing, the screen.
// `session` is the media session of the signaling connection (welcome's
// `you.media_session`): after a reconnect, messages of the previous one can
// still arrive, and must not be taken for ours.
export class Publisher {
  constructor(signaling, iceServers, session, { audio, video }) {
    this.signaling = signaling;
    this.session = session;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.stream = new MediaStream();
    this.screenStream = new MediaStream();
    const sendonly = (track, kind, stream) =>
      this.pc.addTransceiver(track || kind, { direction: "sendonly", streams: [stream] });
    this.audio = sendonly(audio, "audio", this.stream);
    this.video = sendonly(video, "video", this.stream);
    this.screen = null;
    this.negotiator = new Negotiator(() => this._negotiate());
    sendCandidates(this.pc, signaling, "up");
  }

  async start() {
    await this.negotiator.request();
    await capBitrate(this.video.sender, CAMERA_MAX_BITRATE);
  }

  async _negotiate() {
    if (this.pc.signalingState === "closed") return;
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    const sdp = this.pc.localDescription.sdp;
    const sharing = this.screen && this.screen.direction === "sendonly";
    const answer = nextMessage(this.signaling, "sfu_answer", (m) => m.pc === "up" && m.session === this.session);
    this.signaling.offerUp(sdp, sharing ? msidTrackId(sdp, this.screen.mid) : "");
    const { sdp: answerSdp } = await answer;
    if (this.pc.signalingState === "closed") return;
    await this.pc.setRemoteDescription({ type: "answer", sdp: answerSdp });
  }

  // Swaps the track on the wire without renegotiating (a new device, or
  // camera off and on again).
  async replaceAudio(track) {
    await this.audio.sender.replaceTrack(track);
  }

  async replaceVideo(track) {
    await this.video.sender.replaceTrack(track);
  }

  async startScreen(track) {
    if (this.screen) {
      this.screen.direction = "sendonly";
      await this.screen.sender.replaceTrack(track);
    } else {
      this.screenStream = new MediaStream([track]);
      this.screen = this.pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [this.screenStream],
      });
    }
    await this.negotiator.request();
    await capBitrate(this.screen.sender, SCREEN_MAX_BITRATE);
  }

  async stopScreen() {
    if (!this.screen || this.screen.direction === "inactive") return;
    await this.screen.sender.replaceTrack(null);
    this.screen.direction = "inactive";
    await this.negotiator.request();
  }

  close() {
    this.pc.close();
  }
}

// What we receive: one transceiver per remote track, offered by the SFU.
// `onTrack(track, streamId)` says whose it is: the stream id is the
// participant id for microphone and camera, `screen-<id>` for a screen.
export class Subscriber {
  constructor(signaling, iceServers, session, onTrack) {
    this.signaling = signaling;
    this.session = session;
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    this.pc.addEventListener("track", (event) => {
      const stream = event.streams[0];
      onTrack(event.track, stream ? stream.id : "");
    });
    this.negotiator = new Negotiator(() => this._answer());
    this.pendingOffer = null;
    sendCandidates(this.pc, signaling, "down");
  }

  offer(sdp) {
    this.pendingOffer = sdp;
    return this.negotiator.request();
  }

  async _answer() {
    const sdp = this.pendingOffer;
    this.pendingOffer = null;
    if (!sdp || this.pc.signalingState === "closed") return;
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.signaling.answerDown(this.pc.localDescription.sdp, this.session);
  }

  close() {
    this.pc.close();
  }
}
