// Who is in the meeting and who waits in the lobby, as the server says:
// the tiles of the grid, the People panel, our own raised hand, and the
// questions a moderator has to answer (a request to unmute, a knock at the
// lobby), which stay until answered here or by another moderator.

import { toast } from "../ui/dom.js";

export class Presence {
  // `canModerate()`: whether we may moderate now. `gone(id)` is called when
  // someone leaves; `selfChanged()` when our own state (hard mutes, hand)
  // changed; `counted(n)` with the number of people after each change.
  constructor({ signaling, grid, people, local, canModerate, gone, selfChanged, counted }) {
    this.signaling = signaling;
    this.grid = grid;
    this.people = people;
    this.local = local;
    this.canModerate = canModerate;
    this.gone = gone;
    this.selfChanged = selfChanged;
    this.counted = counted;
    this.participants = new Map();
    this.lobby = new Map();
    this.meId = "";
    this.hand = false;
    // The hand we asked for and the server has not confirmed yet (null: none).
    this.handAsked = null;
    this.questions = new Map();
  }

  nameOf(id) {
    return this.participants.get(id)?.name;
  }

  get myName() {
    return this.nameOf(this.meId) || "";
  }

  // Everyone as a `welcome` lists them: whoever left while we were away is
  // gone, everyone else is refreshed.
  welcome({ meId, participants, lobby }) {
    this.meId = meId;
    const present = new Set(participants.map((p) => p.id));
    for (const id of this.participants.keys()) if (!present.has(id)) this.forget(id);
    // Our hand as the server has it (kept across a resumed stay).
    this.hand = Boolean(participants.find((p) => p.id === meId)?.hand);
    this.handAsked = null;
    for (const p of participants) this.upsert(p, { render: false });
    this.render();
    this.lobby = new Map(lobby.map((r) => [r.id, r]));
    this.showLobby();
  }

  upsert(p, { render = true } = {}) {
    const previous = this.participants.get(p.id);
    this.participants.set(p.id, p);
    if (!p.audio_hard_muted) this.answered(`unmute-${p.id}`);
    if (p.id === this.meId) {
      this.local.hardMuted = { audio: p.audio_hard_muted, video: p.video_hard_muted };
      this.followHand(Boolean(p.hand));
      this.refreshSelf();
      this.selfChanged();
    } else {
      this.grid.upsert(p);
      if (previous?.screen && !p.screen) this.grid.setScreen(p.id, null);
    }
    if (render) this.render();
  }

  left(id) {
    this.forget(id);
    this.render();
  }

  forget(id) {
    this.answered(`unmute-${id}`);
    this.participants.delete(id);
    this.grid.remove(id);
    this.gone(id);
  }

  // Our tile shows what we send, which we know before the server does.
  refreshSelf() {
    const me = this.participants.get(this.meId);
    if (me) this.grid.upsert({ ...me, audio: this.local.micOn, video: this.local.camOn, hand: this.hand }, { self: true });
  }

  render() {
    this.people.render(this.participants, this.meId, this.canModerate());
    this.counted(this.participants.size);
  }

  // Hands

  raiseHand(raised) {
    if (!this.signaling.hand(raised)) return;
    this.hand = raised;
    this.handAsked = raised;
    this.refreshSelf();
    this.selfChanged();
  }

  // The server's state of our hand. A moderator may lower it; an update sent
  // before our own change reached the server must not undo that change.
  followHand(raised) {
    if (this.handAsked !== null) {
      if (raised !== this.handAsked) return;
      this.handAsked = null;
    } else if (this.hand && !raised) {
      toast("A moderator lowered your hand.");
    }
    this.hand = raised;
  }

  // The lobby (moderators only hear of it)

  knocked(request) {
    this.lobby.set(request.id, request);
    this.showLobby();
    this.question(`lobby-${request.id}`, `${request.name} is waiting in the lobby.`, {
      label: "Admit",
      run: () => this.signaling.admit(request.id),
    });
  }

  resolved(requestId) {
    this.lobby.delete(requestId);
    this.answered(`lobby-${requestId}`);
    this.showLobby();
  }

  showLobby() {
    const requests = [...this.lobby.values()];
    this.people.setLobby(requests);
    const badge = document.getElementById("lobby-count");
    badge.textContent = String(requests.length);
    badge.hidden = requests.length === 0;
  }

  asksToUnmute({ participant_id: id, name }) {
    this.question(`unmute-${id}`, `${name} asks to unmute.`, {
      label: "Allow",
      run: () => this.signaling.allow(id, "audio"),
    });
  }

  // A question for the moderators, as a toast that stays until answered.
  question(key, text, action) {
    this.questions.get(key)?.close();
    this.questions.set(key, toast(text, { timeout: 0, action }));
  }

  answered(key) {
    this.questions.get(key)?.close();
    this.questions.delete(key);
  }

  // No longer a moderator, or no longer in the meeting: nothing to answer.
  dropQuestions() {
    for (const key of [...this.questions.keys()]) this.answered(key);
  }
}
