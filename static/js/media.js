// Devices, local media, and the two peer connections to the SFU. No DOM
// beyond media elements handed in by callers.
//
// `up` carries what we publish; we offer on it. `down` carries everyone
// else's tracks; the SFU offers on it. Neither side ever offers on the other's
// connection, so renegotiation never collides (docs/protocol.md, "Media").

import { nextMessage } from "./signaling.js";

// Remembered choices, per browser (device ids are stable per origin).
const PREFS_KEY = "parley.media";
const DEFAULT_PREFS = {
  camera: "",
  microphone: "",
  speaker: "",
  joinMuted: false,
  joinCameraOff: false,
};

export function loadPrefs() {
  try {
    return { ...DEFAULT_PREFS, ...JSON.parse(localStorage.getItem(PREFS_KEY) || "{}") };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

export function savePrefs(changes) {
  const prefs = { ...loadPrefs(), ...changes };
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // Private mode without storage: choices simply are not remembered.
  }
  return prefs;
}

export function capabilities() {
  const devices = navigator.mediaDevices;
  return {
    secure_context: window.isSecureContext,
    get_user_media: Boolean(devices?.getUserMedia),
    peer_connection: typeof RTCPeerConnection === "function",
    display_media: Boolean(devices?.getDisplayMedia),
    set_sink_id: typeof HTMLMediaElement.prototype.setSinkId === "function",
  };
}

export async function listDevices() {
  const found = { videoinput: [], audioinput: [], audiooutput: [] };
  if (!navigator.mediaDevices?.enumerateDevices) return found;
  for (const device of await navigator.mediaDevices.enumerateDevices()) {
    found[device.kind]?.push(device);
  }
  return found;
}

export async function permissionState(name) {
  try {
    return (await navigator.permissions.query({ name })).state;
  } catch {
    return "unknown"; // not every browser can be asked
  }
}

const CAMERA_CONSTRAINTS = {
  width: { ideal: 960 },
  height: { ideal: 540 },
  frameRate: { ideal: 30, max: 30 },
};

function deviceConstraint(id) {
  return id ? { deviceId: { exact: id } } : {};
}

export async function openCamera(deviceId) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { ...CAMERA_CONSTRAINTS, ...deviceConstraint(deviceId) },
  });
  return stream.getVideoTracks()[0];
}

export async function openMicrophone(deviceId) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
      ...deviceConstraint(deviceId),
    },
  });
  return stream.getAudioTracks()[0];
}

// Opens what was asked; a remembered device that has gone away falls back to
// the default one rather than failing.
export async function openDevice(kind, deviceId) {
  const open = kind === "camera" ? openCamera : openMicrophone;
  try {
    return await open(deviceId);
  } catch (error) {
    if (deviceId && error.name === "OverconstrainedError") return open("");
    throw error;
  }
}

export function deviceErrorAdvice(error, what) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Your browser blocked the ${what}. Allow it with the camera icon in the address bar (or in the site settings), then press “Try again”.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No ${what} was found. Plug one in and press “Try again”, or join without it.`;
    case "NotReadableError":
    case "AbortError":
      return `The ${what} is in use by another program or could not start. Close other video apps, then press “Try again”.`;
    default:
      return `The ${what} could not start (${error?.message || error}). Press “Try again”, or join without it.`;
  }
}

// Microphone level, 0..1, for a meter.
export class MicMeter {
  constructor(track, onLevel) {
    this.context = new AudioContext();
    this.source = this.context.createMediaStreamSource(new MediaStream([track]));
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 512;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.onLevel = onLevel;
    this.timer = setInterval(() => this._tick(), 60);
  }

  _tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const sample of this.samples) sum += sample * sample;
    const rms = Math.sqrt(sum / this.samples.length);
    // -60 dBFS (silence) .. 0 dBFS (full scale), spread over 0..1.
    const db = 20 * Math.log10(rms || 1e-6);
    this.onLevel(Math.min(1, Math.max(0, (db + 60) / 60)));
  }

  stop() {
    clearInterval(this.timer);
    this.source.disconnect();
    this.context.close();
  }
}

// A short two-note chime on the chosen speaker.
export async function playTestSound(sinkId) {
  const context = new AudioContext();
  const destination = context.createMediaStreamDestination();
  const audio = new Audio();
  audio.srcObject = destination.stream;
  if (sinkId && audio.setSinkId) await audio.setSinkId(sinkId);
  const gain = context.createGain();
  gain.connect(destination);
  const start = context.currentTime + 0.05;
  [660, 880].forEach((frequency, i) => {
    const tone = context.createOscillator();
    tone.frequency.value = frequency;
    tone.connect(gain);
    tone.start(start + i * 0.35);
    tone.stop(start + i * 0.35 + 0.3);
  });
  gain.gain.setValueAtTime(0.25, start);
  await audio.play();
  await new Promise((resolve) => setTimeout(resolve, 900));
  audio.pause();
  await context.close();
}

export const CANDIDATE_KINDS = ["host", "srflx", "relay-udp", "relay-tcp", "relay-tls"];

// Gathers ICE candidates with the configured servers and says which kinds
// worked: a direct path (host), through NAT (srflx, needs STUN) and through a
// relay (needs TURN) over UDP, TCP or TLS.
export async function gatherCandidates(iceServers, timeoutMs = 8000) {
  const pc = new RTCPeerConnection({ iceServers, iceCandidatePoolSize: 0 });
  const kinds = new Set();
  pc.createDataChannel("precall");
  const done = new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icecandidate", (event) => {
      if (!event.candidate) {
        clearTimeout(timer);
        resolve();
        return;
      }
      const kind = candidateKind(event.candidate);
      if (kind) kinds.add(kind);
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return kinds;
}

function candidateKind(candidate) {
  const type = candidate.type || / typ (\w+)/.exec(candidate.candidate)?.[1];
  if (type === "host" || type === "srflx") return type;
  if (type !== "relay") return null;
  // How the browser reached the TURN server; Chrome tells, others may not.
  const via = candidate.relayProtocol || "udp";
  return `relay-${via}`;
}

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
  pc.addEventListener("icecandidate", ({ candidate }) => {
    signaling.send({
      type: "sfu_candidate",
      pc: name,
      candidate: candidate ? candidate.candidate : "",
      sdp_mid: candidate?.sdpMid ?? "",
      sdp_mline_index: candidate?.sdpMLineIndex ?? 0,
    });
  });
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
    this.signaling.send({
      type: "sfu_offer",
      pc: "up",
      sdp,
      screen_track_id: sharing ? msidTrackId(sdp, this.screen.mid) : "",
    });
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
    this.signaling.send({ type: "sfu_answer", pc: "down", sdp: this.pc.localDescription.sdp, session: this.session });
  }

  close() {
    this.pc.close();
  }
}

// Per-track connection quality from getStats(): bitrate, loss and round-trip
// time, measured between two calls.
export class QualityMeter {
  constructor() {
    this.previous = new Map();
  }

  async measure(pc, direction) {
    const report = await pc.getStats();
    let rtt = null;
    const remoteLoss = new Map();
    for (const stat of report.values()) {
      if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") {
        rtt = stat.currentRoundTripTime ?? rtt;
      }
      if (stat.type === "remote-inbound-rtp") {
        remoteLoss.set(stat.localId, stat.fractionLost ?? 0);
        if (stat.roundTripTime != null) rtt = stat.roundTripTime;
      }
    }
    const results = new Map();
    const type = direction === "in" ? "inbound-rtp" : "outbound-rtp";
    for (const stat of report.values()) {
      if (stat.type !== type) continue;
      const key = direction === "in" ? stat.trackIdentifier : stat.mid;
      const before = this.previous.get(stat.id);
      this.previous.set(stat.id, stat);
      if (!before || !key) continue;
      const seconds = (stat.timestamp - before.timestamp) / 1000;
      const bytes = direction === "in" ? stat.bytesReceived - before.bytesReceived : stat.bytesSent - before.bytesSent;
      let loss = remoteLoss.get(stat.id) ?? 0;
      if (direction === "in") {
        const lost = stat.packetsLost - before.packetsLost;
        const got = stat.packetsReceived - before.packetsReceived;
        loss = lost + got > 0 ? Math.max(0, lost) / (lost + got) : 0;
      }
      const entry = {
        kind: stat.kind,
        bitrate: seconds > 0 ? (bytes * 8) / seconds : 0,
        loss,
        rtt,
        flowing: bytes > 0,
      };
      // After a rebuild the same track id can appear twice; keep the live one.
      if (!results.has(key) || entry.flowing) results.set(key, entry);
    }
    return results;
  }
}

export function qualityLevel({ loss, rtt, flowing }) {
  if (!flowing) return "none";
  if (loss > 0.1 || (rtt ?? 0) > 0.6) return "poor";
  if (loss > 0.03 || (rtt ?? 0) > 0.3) return "fair";
  return "good";
}
