// The call's controls: the toolbar (what each button shows, which ones our
// role has), the side panels (chat, people, devices), the presenter's
// notice and the keyboard shortcuts. Each control asks another part to act.

import * as media from "../media.js";
import { onShortcut, toast } from "../ui/dom.js";
import { Toolbar } from "../ui/toolbar.js";

const $ = (id) => document.getElementById(id);

const PANELS = { chat: "chat-panel", people: "people-panel", devices: "devices-panel" };

export class Controls {
  // `panelOpened(name)` is called when a panel opens (the devices panel
  // lists the devices then), `layout()` when the call's space changed.
  constructor({ signaling, local, presence, chat, panelOpened, layout }) {
    this.signaling = signaling;
    this.local = local;
    this.presence = presence;
    this.chat = chat;
    this.panelOpened = panelOpened;
    this.layout = layout;
    this.capabilities = {};
    // On a narrow window the last ones here go into "More" first.
    this.toolbar = new Toolbar({
      bar: document.querySelector(".controls-main"),
      more: $("more-controls"),
      button: $("more-button"),
      menu: $("more-menu"),
      overflow: ["devices-button", "screen-button", "hand-button", "chat-button", "people-button"].map($),
    });
    this.wire();
  }

  // Which controls our role has.
  setCapabilities(capabilities) {
    this.capabilities = capabilities;
    $("mic-button").hidden = !capabilities.publish;
    $("cam-button").hidden = !capabilities.publish;
    $("screen-button").hidden = !capabilities.share_screen || !media.capabilities().display_media;
    $("room-controls").hidden = !capabilities.moderate;
    this.show();
  }

  // What each control shows now.
  show() {
    const { micOn, camOn, hardMuted, sharing } = this.local;
    const setToggle = (button, on, label, disabled) => {
      button.classList.toggle("off", !on);
      button.classList.toggle("hard", Boolean(disabled));
      button.setAttribute("aria-disabled", String(Boolean(disabled)));
      button.querySelector(".control-label").textContent = label;
    };
    setToggle($("mic-button"), micOn, hardMuted.audio ? "Muted by moderator" : micOn ? "Mute" : "Unmute", hardMuted.audio);
    $("mic-button").title = hardMuted.audio ? "A moderator muted you" : `${micOn ? "Mute" : "Unmute"} (M)`;
    $("ask-unmute").hidden = !hardMuted.audio;
    setToggle($("cam-button"), camOn, hardMuted.video ? "Stopped by moderator" : camOn ? "Stop video" : "Start video", hardMuted.video);
    $("cam-button").title = hardMuted.video ? "A moderator stopped your camera" : `${camOn ? "Stop" : "Start"} video (V)`;
    $("screen-button").classList.toggle("active", sharing);
    $("screen-button").querySelector(".control-label").textContent = sharing ? "Stop sharing" : "Share screen";
    $("presenting").hidden = !sharing;
    const hand = this.presence.hand;
    $("hand-button").classList.toggle("active", hand);
    $("hand-button").querySelector(".control-label").textContent = hand ? "Lower hand" : "Raise hand";
    this.toolbar.fit();
  }

  showCount(count) {
    $("people-button").querySelector(".control-label").textContent = `People (${count})`;
  }

  togglePanel(name) {
    const opening = $(PANELS[name]).hidden;
    for (const [key, id] of Object.entries(PANELS)) {
      $(id).hidden = !(opening && key === name);
      $(`${key}-button`).setAttribute("aria-pressed", String(opening && key === name));
    }
    $("side").hidden = !opening;
    $("call-body").classList.toggle("has-side", opening);
    document.body.classList.toggle("panel-open", opening);
    this.chat.setOpen(opening && name === "chat");
    if (opening && name === "chat") $("chat-input").focus();
    if (opening) this.panelOpened(name);
    this.layout();
  }

  // Back to the control that opens `name`, or to "More" when it is in there.
  focusOpener(name) {
    const button = $(`${name}-button`);
    if (button.closest("[hidden]")) $("more-button").focus();
    else button.focus();
  }

  wire() {
    const click = (id, handler) => $(id).addEventListener("click", handler);
    click("mic-button", () => this.local.setMic(!this.local.micOn));
    click("cam-button", () => this.local.setCam(!this.local.camOn));
    click("ask-unmute", () => {
      this.signaling.askUnmute();
      toast("The moderators have been asked to let you speak.");
    });
    click("screen-button", () => (this.local.sharing ? this.local.stopScreen() : this.local.startScreen()));
    click("presenting-stop", () => this.local.stopScreen());
    click("hand-button", () => this.presence.raiseHand(!this.presence.hand));
    for (const name of Object.keys(PANELS)) click(`${name}-button`, () => this.togglePanel(name));
    for (const button of document.querySelectorAll(".close-panel")) {
      button.addEventListener("click", () => this.togglePanel(button.closest(".panel").id.replace("-panel", "")));
    }
    click("leave-button", () => this.signaling.leave());
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
        this.focusOpener(name);
      }
    });
  }
}
