// The moderators' controls of the room, in the People panel: an invite link
// to copy, the lobby and the lock, muting everyone and ending the meeting
// (the link to the room's settings is plain HTML in the template). The server
// decides; the switches show the room as the server last said it is
// (room_updated).

import { ask } from "./dom.js";

const $ = (id) => document.getElementById(id);

const dateTime = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});

export class RoomControls {
  constructor({ config, signaling }) {
    this.config = config;
    this.signaling = signaling;
    this.room = null;
    $("copy-invite").addEventListener("click", () => this.copyInvite());
    $("lobby-toggle").addEventListener("click", () => this.signaling.setLobby(!this.room?.lobby));
    $("lock-room").addEventListener("click", () => this.signaling.lock(!this.room?.locked));
    $("mute-all").addEventListener("click", async () => {
      const sure = await ask({
        title: "Mute everyone?",
        text: "Everyone but you is muted and must ask to unmute.",
        confirm: "Mute everyone",
      });
      if (sure) this.signaling.muteAll();
    });
    $("end-meeting").addEventListener("click", async () => {
      const sure = await ask({
        title: "End the meeting for everyone?",
        text: "Everyone, including the lobby, is disconnected.",
        confirm: "End meeting",
        danger: true,
      });
      if (sure) this.signaling.endMeeting();
    });
  }

  show(room) {
    this.room = room;
    $("lobby-toggle").setAttribute("aria-pressed", String(Boolean(room.lobby)));
    $("lock-room").setAttribute("aria-pressed", String(Boolean(room.locked)));
  }

  // A fresh link from the server, copied and shown, with who may use it and
  // until when: a moderator must know what they hand out.
  async copyInvite() {
    const button = $("copy-invite");
    button.disabled = true;
    button.textContent = "Making a link…";
    try {
      const invite = await this.newInvite();
      const field = $("invite-link");
      field.value = invite.url;
      $("invite-result").hidden = false;
      let copied = false;
      try {
        await navigator.clipboard.writeText(invite.url);
        copied = true;
      } catch {
        // No clipboard (plain HTTP, or refused): the link is selected below.
      }
      $("invite-help").textContent = `${copied ? "Copied. " : "Copy the link above. "}${describe(invite)}`;
      field.focus();
      field.select();
      button.textContent = copied ? "Copied" : "Copy invite link";
    } catch (error) {
      $("invite-result").hidden = false;
      $("invite-link").value = "";
      $("invite-help").textContent = error.message;
      button.textContent = "Copy invite link";
    } finally {
      button.disabled = false;
      clearTimeout(this.labelTimer);
      this.labelTimer = setTimeout(() => (button.textContent = "Copy invite link"), 3000);
    }
  }

  async newInvite() {
    let response;
    try {
      response = await fetch(this.config.urls.invite_link, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    } catch {
      throw new Error("No link was made: the server cannot be reached. Try again.");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || body.error || !body.url) {
      throw new Error(body.error || `No link was made (the server answered ${response.status}). Try again.`);
    }
    return body;
  }
}

// "Anyone with this link can join as a participant until Mon 30 Nov, 14:56.
// No account needed: they join with just their name."
function describe({ role_label: role, expires_at: expires, guests_allowed: guests }) {
  const as = role ? ` as ${/^[aeiou]/i.test(role) ? "an" : "a"} ${role.toLowerCase()}` : "";
  const until = expires ? ` until ${dateTime.format(new Date(expires))}` : "";
  const account = guests
    ? "No account needed: they join with just their name."
    : "They need a Parley account, which they can create from the link.";
  return `Anyone with this link can join${as}${until}. ${account}`;
}

function csrfToken() {
  const input = document.querySelector("[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  return document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "";
}
