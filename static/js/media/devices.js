// Devices and local media: what the browser can do, the cameras,
// microphones and speakers there are, the choices remembered per browser,
// opening a device (with advice when that fails), a microphone meter and a
// test sound. No DOM beyond media elements.

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
