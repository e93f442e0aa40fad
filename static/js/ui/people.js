// The participant list with each person's role and state, the moderators'
// controls for each, and the lobby.

import { ask, h, icon, initials } from "./dom.js";

const ROLE_LABELS = { moderator: "Moderator", publisher: "Participant", viewer: "Viewer" };

export class People {
  constructor({ list, count, lobby, lobbyList, signaling }) {
    this.list = list;
    this.count = count;
    this.lobby = lobby;
    this.lobbyList = lobbyList;
    this.signaling = signaling;
  }

  render(participants, meId, canModerate) {
    const focusKey = document.activeElement?.dataset?.focusKey;
    // A menu someone has open stays open when the list is drawn again.
    const open = [...this.list.querySelectorAll("details[open]")].map((d) => d.dataset.focusKey);
    const people = [...participants.values()].sort(
      (a, b) => (b.id === meId) - (a.id === meId) || b.hand - a.hand || a.name.localeCompare(b.name),
    );
    this.list.replaceChildren(...people.map((p) => this._row(p, p.id === meId, canModerate)));
    this.count.textContent = String(people.length);
    for (const key of open) this.list.querySelector(`details[data-focus-key="${key}"]`)?.setAttribute("open", "");
    if (focusKey) this.list.querySelector(`[data-focus-key="${focusKey}"]`)?.focus();
  }

  _row(p, me, canModerate) {
    const state = [];
    if (!p.audio) state.push(h("span", { title: p.audio_hard_muted ? "Muted by a moderator" : "Microphone off" }, icon("mic-off")));
    if (!p.video) state.push(h("span", { title: p.video_hard_muted ? "Video stopped by a moderator" : "Camera off" }, icon("cam-off")));
    if (p.screen) state.push(h("span", { title: "Sharing their screen" }, icon("screen")));
    if (p.hand) state.push(h("span.raised", { title: "Hand raised" }, icon("hand")));
    if (p.connected === false) state.push(h("span.reconnecting", {}, "reconnecting…"));
    return h(
      "li.person",
      { dataset: { participant: p.id } },
      h("span.avatar.small", { "aria-hidden": "true" }, initials(p.name)),
      h("span.person-name", {}, me ? `${p.name} (you)` : p.name),
      h(`span.badge.badge-${p.role}`, {}, ROLE_LABELS[p.role] || p.role),
      // Came by an invite link with just a name, no account.
      p.guest ? h("span.badge.badge-guest", {}, "Guest") : null,
      h("span.person-state", {}, state),
      canModerate && !me ? this._controls(p) : null,
    );
  }

  _controls(p) {
    const signaling = this.signaling;
    const button = (label, key, run) =>
      h("button.button.small", {
        type: "button",
        dataset: { focusKey: `${p.id}-${key}` },
        "aria-label": `${label}: ${p.name}`,
        onclick: run,
      }, label);
    const actions = [];
    // Answered, or forgotten: a moderator can take the hand down.
    if (p.hand) actions.push(button("Lower hand", "lower-hand", () => signaling.lowerHand(p.id)));
    if (p.audio_hard_muted) actions.push(button("Allow to unmute", "allow-audio", () => signaling.allow(p.id, "audio")));
    else actions.push(button("Mute", "mute-audio", () => signaling.mute(p.id, "audio")));
    if (p.video_hard_muted) actions.push(button("Allow video", "allow-video", () => signaling.allow(p.id, "video")));
    else if (p.video) actions.push(button("Stop video", "mute-video", () => signaling.mute(p.id, "video")));
    if (p.screen) actions.push(button("Stop sharing", "mute-screen", () => signaling.mute(p.id, "screen")));
    const role = h(
      "select",
      {
        "aria-label": `Role for ${p.name}`,
        dataset: { focusKey: `${p.id}-role` },
        onchange: (event) => signaling.setRole(p.id, event.target.value),
      },
      Object.entries(ROLE_LABELS).map(([value, label]) =>
        h("option", { value, selected: value === p.role }, label),
      ),
    );
    const remove = h("button.button.small.danger", {
      type: "button",
      dataset: { focusKey: `${p.id}-remove` },
      onclick: async () => {
        const ok = await ask({
          title: `Remove ${p.name}?`,
          text: "They leave the meeting now and cannot come back to it.",
          confirm: "Remove",
          danger: true,
        });
        if (ok) signaling.remove(p.id);
      },
    }, "Remove");
    const ban = h("button.button.small.danger", {
      type: "button",
      dataset: { focusKey: `${p.id}-ban` },
      onclick: async () => {
        const minutes = await ask({
          title: `Ban ${p.name}?`,
          text: "They leave the meeting now and cannot enter this room until the ban ends.",
          confirm: "Ban",
          danger: true,
          choices: {
            label: "For how long",
            options: [["60", "1 hour"], ["1440", "1 day"], ["10080", "1 week"], ["", "For good"]],
          },
        });
        if (minutes !== null) signaling.ban(p.id, minutes ? Number(minutes) : null);
      },
    }, "Ban");
    return h(
      "div.person-actions",
      {},
      actions,
      h("details.more", { role: "group", "aria-label": `More for ${p.name}`, dataset: { focusKey: `${p.id}-more` } },
        h("summary", { dataset: { focusKey: `${p.id}-more-summary` } }, "More"),
        h("div.more-menu", {}, h("label", {}, "Role ", role), remove, ban),
      ),
    );
  }

  setLobby(requests) {
    this.lobby.hidden = requests.length === 0;
    this.lobbyList.replaceChildren(
      ...requests.map((r) =>
        h("li.person", { dataset: { request: r.id } },
          h("span.avatar.small", { "aria-hidden": "true" }, initials(r.name)),
          h("span.person-name", {}, r.name),
          h("div.person-actions", {},
            h("button.button.small.primary", {
              type: "button",
              "aria-label": `Admit ${r.name}`,
              onclick: () => this.signaling.admit(r.id),
            }, "Admit"),
            h("button.button.small", {
              type: "button",
              "aria-label": `Deny ${r.name}`,
              onclick: () => this.signaling.deny(r.id),
            }, "Deny"),
          ),
        ),
      ),
    );
  }
}
