// The Devices panel: switch camera, microphone or speaker mid-call. The
// choice is remembered for this browser, as on the pre-call page.

import * as media from "../media.js";
import { h, toast } from "../ui/dom.js";

const $ = (id) => document.getElementById(id);

export class DevicesPanel {
  // `prefs` is the page's one preferences object: a choice made here is
  // what a reopened camera or microphone uses.
  constructor({ local, session, prefs }) {
    this.local = local;
    this.session = session;
    this.prefs = prefs;
    $("call-camera").addEventListener("change", (e) => this.use("camera", e.target.value));
    $("call-mic").addEventListener("change", (e) => this.use("microphone", e.target.value));
    $("call-speaker").addEventListener("change", (e) => this.use("speaker", e.target.value));
  }

  async fill() {
    const devices = await media.listDevices();
    const fill = (select, list, chosen, track) => {
      const current = track?.getSettings().deviceId || chosen;
      select.replaceChildren(
        ...list.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `Device ${i + 1}`)),
      );
      select.disabled = list.length === 0;
    };
    fill($("call-camera"), devices.videoinput, this.prefs.camera, this.local.tracks.video);
    fill($("call-mic"), devices.audioinput, this.prefs.microphone, this.local.tracks.audio);
    fill($("call-speaker"), devices.audiooutput, this.prefs.speaker, null);
    if (!media.capabilities().set_sink_id) $("call-speaker").disabled = true;
  }

  async use(kind, deviceId) {
    Object.assign(this.prefs, media.savePrefs({ [kind]: deviceId }));
    if (kind === "speaker") {
      this.session.useSpeaker(deviceId);
      return;
    }
    try {
      if (kind === "camera") {
        if (!this.local.camOn) return;
        await this.local.useCamera(deviceId);
      } else {
        await this.local.useMicrophone(deviceId);
      }
      toast(`Switched ${kind}.`);
    } catch (error) {
      toast(media.deviceErrorAdvice(error, kind), { kind: "warn", timeout: 10000 });
    }
  }
}
