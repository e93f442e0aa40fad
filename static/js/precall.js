// The pre-call check: camera preview, device choice, microphone level,
// speaker test, browser and network checks. "Join now" saves a report for
// support and hands the open devices to the room, so the browser does not
// ask for them twice.

import * as media from "./media.js";
import { h, onShortcut } from "./ui/dom.js";

const config = JSON.parse(document.getElementById("client-config").textContent);
const $ = (id) => document.getElementById(id);
const canPublish = config.capabilities.publish;

const state = {
  prefs: media.loadPrefs(),
  audio: null,
  video: null,
  micOn: true,
  camOn: true,
  meter: null,
  problems: new Map(), // what -> advice shown to the user
  devices: null, // what enumerateDevices() found, by kind
  // Checks still running: the summary says "all good" only once none is.
  checking: new Set(["devices", "network"]),
  previewPlaying: false, // the preview shows frames, not a black box
  shownProblems: false, // the check opened itself to show a failure
  candidateKinds: new Set(),
  iceServers: [],
  networkDone: null,
  ready: null,
};

const CAPABILITY_TEXT = {
  secure_context: ["Secure connection", "Open this page over https:// — browsers only allow cameras on secure pages."],
  get_user_media: ["Camera and microphone access", "This browser cannot use a camera or microphone. Use a current Chrome, Edge, Firefox or Safari."],
  peer_connection: ["Real-time video (WebRTC)", "This browser cannot make video calls. Use a current Chrome, Edge, Firefox or Safari, and check that no extension blocks WebRTC."],
  display_media: ["Screen sharing", "This browser cannot share your screen (phones usually cannot). You can still join."],
  set_sink_id: ["Speaker choice", "This browser plays sound on the system’s default speaker; change it in your system settings."],
};

const NETWORK_ROWS = [
  ["host", "Direct"],
  ["srflx", "Through your router (STUN)"],
  ["relay-udp", "Relay over UDP (TURN)"],
  ["relay-tcp", "Relay over TCP (TURN)"],
  ["relay-tls", "Relay over TLS (TURN)"],
];

// The problems the check's own lists show (the camera and microphone have
// the box under the preview).
const SHOWN_IN_CHECK = new Set([...Object.keys(CAPABILITY_TEXT), "network"]);

function problem(key, advice) {
  if (advice) state.problems.set(key, advice);
  else state.problems.delete(key);
  showSummary();
}

function checking(what, running) {
  if (running) state.checking.add(what);
  else state.checking.delete(what);
  showSummary();
}

function showSummary() {
  const count = state.problems.size;
  const running = state.checking.size > 0;
  const summary = $("checks-summary");
  const found = count ? `${count} to look at` : "";
  if (running) summary.textContent = `· ${found ? `${found}, ` : ""}testing…`;
  else summary.textContent = `· ${found || "all good"}`;
  summary.dataset.state = running ? "testing" : count ? "problems" : "ok";
  // A failure the collapsed check alone would tell of opens it once.
  if (!running && !state.shownProblems && [...state.problems.keys()].some((k) => SHOWN_IN_CHECK.has(k))) {
    state.shownProblems = true;
    $("checks").open = true;
  }
}

function renderCapabilities() {
  const found = media.capabilities();
  const list = $("capability-list");
  list.replaceChildren();
  for (const [key, [label, advice]] of Object.entries(CAPABILITY_TEXT)) {
    const ok = found[key];
    // Screen sharing and speaker choice are nice to have: a warning, not a failure.
    const level = ok ? "ok" : key === "display_media" || key === "set_sink_id" ? "warn" : "fail";
    list.append(
      h(`li.check-${level}`, {}, h("strong", {}, label), ok ? " works" : h("span", {}, ` — ${advice}`)),
    );
    if (level === "fail") problem(key, advice);
  }
  return found;
}

// Devices

async function openDevices() {
  $("device-problem").hidden = true;
  $("device-retry").hidden = true;
  const tasks = [openMic()];
  if (state.camOn) tasks.push(openCam());
  await Promise.all(tasks);
  await fillDeviceSelects();
}

async function openMic() {
  try {
    state.audio?.stop();
    state.audio = await media.openDevice("microphone", state.prefs.microphone);
    state.audio.enabled = state.micOn;
    state.meter?.stop();
    state.meter = new media.MicMeter(state.audio, showLevel);
    problem("microphone", null);
  } catch (error) {
    state.audio = null;
    deviceProblem("microphone", media.deviceErrorAdvice(error, "microphone"));
  }
}

async function openCam() {
  state.previewPlaying = false;
  showPreview({ starting: true });
  try {
    state.video?.stop();
    state.video = await media.openDevice("camera", state.prefs.camera);
    $("preview").srcObject = new MediaStream([state.video]);
    problem("camera", null);
  } catch (error) {
    state.video = null;
    deviceProblem("camera", media.deviceErrorAdvice(error, "camera"));
  }
  showPreview();
}

function deviceProblem(key, advice) {
  problem(key, advice);
  const box = $("device-problem");
  box.textContent = [...state.problems.entries()]
    .filter(([k]) => k === "camera" || k === "microphone")
    .map(([, text]) => text)
    .join(" ");
  box.hidden = false;
  $("device-retry").hidden = false;
}

// "pending" until the camera's first frame shows: a black box would look
// like a broken camera.
function showPreview({ starting = false } = {}) {
  const on = Boolean(state.video && state.camOn);
  const pending = canPublish && state.camOn && (starting || (on && !state.previewPlaying));
  document.querySelector(".preview").dataset.video = pending ? "pending" : on ? "on" : "off";
  $("preview-off").textContent = !canPublish
    ? "Viewers do not send video"
    : pending ? (starting ? "Looking for your camera…" : "Starting your camera…")
    : state.camOn ? "No camera" : "Camera is off";
}

function showLevel(level) {
  const percent = state.micOn ? Math.round(level * 100) : 0;
  const meter = $("mic-meter");
  meter.firstElementChild.style.width = `${percent}%`;
  meter.setAttribute("aria-valuenow", String(percent));
}

async function fillDeviceSelects() {
  const devices = await media.listDevices();
  const fill = (select, list, chosen, empty) => {
    if (!select) return;
    select.disabled = false;
    select.replaceChildren(
      ...(list.length
        ? list.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === chosen }, d.label || `${empty} ${i + 1}`))
        : [h("option", { value: "" }, `No ${empty.toLowerCase()} found`)]),
    );
  };
  const current = (track) => track?.getSettings().deviceId || "";
  fill($("camera-select"), devices.videoinput, current(state.video) || state.prefs.camera, "Camera");
  fill($("mic-select"), devices.audioinput, current(state.audio) || state.prefs.microphone, "Microphone");
  fill($("speaker-select"), devices.audiooutput, state.prefs.speaker, "Speaker");
  if (!media.capabilities().set_sink_id || !devices.audiooutput.length) {
    $("speaker-select").replaceChildren(h("option", { value: "" }, "System default"));
    $("speaker-select").disabled = true;
  }
  state.devices = devices;
}

function setMic(on) {
  state.micOn = on;
  if (state.audio) state.audio.enabled = on;
  const button = $("precall-mic");
  button.setAttribute("aria-pressed", String(on));
  button.title = on ? "Turn microphone off (M)" : "Turn microphone on (M)";
  if ($("join-muted")) $("join-muted").checked = !on;
}

async function setCam(on) {
  state.camOn = on;
  const button = $("precall-cam");
  button.setAttribute("aria-pressed", String(on));
  button.title = on ? "Turn camera off (V)" : "Turn camera on (V)";
  if ($("join-camera-off")) $("join-camera-off").checked = !on;
  if (on && !state.video) await openCam();
  if (!on && state.video) {
    // Off means off: the camera light goes out too.
    state.video.stop();
    state.video = null;
    $("preview").srcObject = null;
    state.previewPlaying = false;
  }
  showPreview();
}

// Network

async function loadIceServers() {
  const response = await fetch(config.urls.ice_servers, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return (await response.json()).ice_servers;
}

function offeredKinds(iceServers) {
  const kinds = new Set(["host"]);
  for (const server of iceServers) {
    for (const url of [].concat(server.urls)) {
      if (url.startsWith("stun:")) kinds.add("srflx");
      else if (url.startsWith("turns:")) kinds.add("relay-tls");
      else if (url.startsWith("turn:")) kinds.add(/transport=tcp/.test(url) ? "relay-tcp" : "relay-udp");
    }
  }
  // A TURN server reached over UDP also proves a STUN-like mapping.
  if ([...kinds].some((k) => k.startsWith("relay"))) kinds.add("srflx");
  return kinds;
}

function showNetworkTesting() {
  $("network-retry").disabled = true;
  checking("network", true);
  $("network-results").replaceChildren(
    ...NETWORK_ROWS.map(([, label]) => h("tr", {}, h("th", { scope: "row" }, label), h("td.muted", {}, "Testing…"))),
  );
}

async function networkTest() {
  const rows = $("network-results");
  const advice = $("network-advice");
  showNetworkTesting();
  advice.textContent = "";
  try {
    state.iceServers = await loadIceServers();
    state.candidateKinds = await media.gatherCandidates(state.iceServers);
  } catch (error) {
    state.candidateKinds = new Set();
    problem("network", `The network test could not run (${error.message}). Reload the page to try again.`);
  }
  const offered = offeredKinds(state.iceServers);
  rows.replaceChildren(
    ...NETWORK_ROWS.map(([kind, label]) => {
      const worked = state.candidateKinds.has(kind);
      // A STUN answer that equals a host address is dropped by the browser:
      // with the relay reachable over UDP, that means no NAT is in the way.
      const noNat = kind === "srflx" && !worked && state.candidateKinds.has("relay-udp");
      const [cls, text] = worked
        ? ["check-ok", "Works"]
        : noNat
          ? ["check-ok", "Not needed: no NAT in the way"]
          : offered.has(kind)
            ? ["check-fail", "Did not work"]
            : ["muted", "Not set up on this server"];
      return h("tr", { dataset: { kind } }, h("th", { scope: "row" }, label), h(`td.${cls}`, {}, text));
    }),
  );
  const kinds = state.candidateKinds;
  const relayOffered = [...offered].some((k) => k.startsWith("relay"));
  const relayWorks = [...kinds].some((k) => k.startsWith("relay"));
  let text;
  if (!kinds.size) {
    text = "Your browser found no way to connect. Check that you are online and that no browser extension blocks WebRTC, then press “Test again”.";
    problem("network", text);
  } else if (relayWorks) {
    text = "You are all set: calls will connect even through strict firewalls.";
    problem("network", null);
  } else if (relayOffered) {
    text = "The relay server could not be reached. On a strict office or hotel network the call may not connect; ask your IT team to allow this site’s TURN server.";
    problem("network", text);
  } else {
    text = "Your browser can connect directly. This server has no relay (TURN) set up, so people behind strict firewalls may not get video.";
    problem("network", null);
  }
  advice.textContent = text;
  $("network-retry").disabled = false;
  checking("network", false);
}

// Joining

function report() {
  const labels = (list = []) => list.map((d) => d.label);
  return {
    devices: {
      videoinput: labels(state.devices?.videoinput),
      audioinput: labels(state.devices?.audioinput),
      audiooutput: labels(state.devices?.audiooutput),
    },
    permissions: state.permissions,
    capabilities: media.capabilities(),
    candidate_kinds: [...state.candidateKinds],
    problems: [...state.problems.values()],
  };
}

async function join(event) {
  event.preventDefault();
  const button = $("join-button");
  const nameInput = $("display-name");
  const nameError = $("name-error");
  const name = nameInput.value.trim();
  nameError.hidden = true;
  if (!name) {
    nameError.textContent = "Enter the name others should see.";
    nameError.hidden = false;
    nameInput.focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Joining…";
  // Someone quick may press Join while the camera and microphone still open.
  await state.ready;
  // The network test may still run; the report takes what it has found.
  await Promise.race([state.networkDone, new Promise((r) => setTimeout(r, 1500))]);
  state.permissions = {
    camera: await media.permissionState("camera"),
    microphone: await media.permissionState("microphone"),
  };
  try {
    const response = await fetch(config.urls.precall, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value,
      },
      body: JSON.stringify({ display_name: name, report: report() }),
    });
    if (response.status === 400) {
      const body = await response.json();
      if (body.field === "display_name") {
        nameError.textContent = body.error;
        nameError.hidden = false;
        button.disabled = false;
        button.textContent = "Join now";
        return;
      }
    }
    // Any other failure to save the report must not keep anyone out.
  } catch {
    // Offline for a moment: the room's own reconnection will cope.
  }
  state.prefs = media.savePrefs({
    camera: $("camera-select")?.value || state.prefs.camera,
    microphone: $("mic-select")?.value || state.prefs.microphone,
    speaker: $("speaker-select").value || state.prefs.speaker,
    joinMuted: !state.micOn,
    joinCameraOff: !state.camOn,
  });
  state.meter?.stop();
  const { enterRoom } = await import("./room.js");
  document.getElementById("precall").hidden = true;
  enterRoom({
    config,
    audio: state.audio,
    video: state.camOn ? state.video : null,
    micOn: state.micOn && Boolean(state.audio),
    camOn: state.camOn && Boolean(state.video),
    prefs: state.prefs,
    iceServers: state.iceServers,
  });
}

async function init() {
  const found = renderCapabilities();
  // The network test waits for the devices (browsers show real addresses
  // only once the camera or microphone is allowed); its rows say so meanwhile.
  if (found.peer_connection) showNetworkTesting();
  else checking("network", false);
  state.micOn = !state.prefs.joinMuted;
  state.camOn = !state.prefs.joinCameraOff;
  if (canPublish && found.get_user_media) {
    setMic(state.micOn);
    await setCam(state.camOn);
    await openMic();
    await fillDeviceSelects();
    if (state.problems.has("camera") || state.problems.has("microphone")) $("device-retry").hidden = false;
  } else {
    document.querySelector(".preview-toggles").hidden = true;
    document.querySelector(".meter-row").hidden = true;
    showPreview();
    await fillDeviceSelects();
  }
  checking("devices", false);
  // Not awaited: joining need not wait for the network test.
  state.networkDone = found.peer_connection ? networkTest() : Promise.resolve();
}

// The page's controls, once there is a form to join with.
function wire() {
  $("join-form").addEventListener("submit", join);
  $("precall-mic").addEventListener("click", () => setMic(!state.micOn));
  $("precall-cam").addEventListener("click", () => setCam(!state.camOn));
  $("join-muted")?.addEventListener("change", (e) => setMic(!e.target.checked));
  $("join-camera-off")?.addEventListener("change", (e) => setCam(!e.target.checked));
  $("device-retry").addEventListener("click", openDevices);
  $("network-retry").addEventListener("click", () => (state.networkDone = networkTest()));
  $("speaker-test").addEventListener("click", async () => {
    const button = $("speaker-test");
    button.disabled = true;
    try {
      await media.playTestSound($("speaker-select").value);
    } catch (error) {
      problem("speaker", `The test sound could not play (${error.message}).`);
    } finally {
      button.disabled = false;
    }
  });
  $("camera-select")?.addEventListener("change", async (e) => {
    state.prefs = media.savePrefs({ camera: e.target.value });
    if (state.camOn) await openCam();
  });
  $("mic-select")?.addEventListener("change", async (e) => {
    state.prefs = media.savePrefs({ microphone: e.target.value });
    await openMic();
  });
  $("speaker-select").addEventListener("change", (e) => {
    state.prefs = media.savePrefs({ speaker: e.target.value });
  });
  navigator.mediaDevices?.addEventListener?.("devicechange", fillDeviceSelects);
  onShortcut({ m: "mic", v: "cam" }, (action) => {
    if (document.getElementById("precall").hidden || !canPublish) return;
    if (action === "mic") setMic(!state.micOn);
    else setCam(!state.camOn);
  });
  $("preview").addEventListener("playing", () => {
    state.previewPlaying = true;
    showPreview();
  });
}

// No join form: the server has a reason to keep this person out (a
// moderator removed them from the running meeting) and says so instead.
if ($("join-form")) {
  wire();
  state.ready = init();
}
