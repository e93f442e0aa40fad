// Why a room WebSocket closed: the one table of close codes
// (docs/protocol.md, "Connecting"). For each: the error `code` the server
// sends just before it, whether it is final (reconnecting cannot help), and
// what the person reads when it ends their meeting: a title, advice for when
// the server said nothing (its own words come first), and whether a button
// can bring them back.

export const CLOSES = {
  1000: { error: "", final: true, title: "You left the meeting", rejoin: "Rejoin" },
  4001: {
    error: "sign_in_required",
    final: true,
    title: "Please sign in again",
    advice: "Your session has ended. Rejoin to sign in and come back.",
    rejoin: "Rejoin",
  },
  // Also when a moderator takes away your membership during the meeting.
  4003: {
    error: "not_member",
    final: true,
    title: "You are not a member of this room",
    advice: "Ask a moderator of the room for an invite.",
  },
  4004: { error: "not_found", final: true, title: "This room no longer exists" },
  4005: {
    error: "banned",
    final: true,
    title: "You are banned from this room",
    advice: "A moderator banned you from this room.",
  },
  4006: {
    error: "locked",
    final: true,
    title: "The room is locked",
    advice: "Only moderators can enter now. Try again later, or ask a moderator to unlock it.",
    rejoin: "Rejoin",
  },
  4007: { error: "full", final: true, title: "The meeting is full", advice: "Try again when someone has left.", rejoin: "Rejoin" },
  4008: {
    error: "removed",
    final: true,
    title: "You were removed from the meeting",
    advice: "A moderator removed you from this meeting.",
  },
  // The server says when they may ask again; until then it refuses at once.
  4009: {
    error: "lobby_denied",
    final: true,
    title: "You were not let in",
    advice: "A moderator did not let you in. You can ask again in a minute.",
    rejoin: "Ask again",
  },
  // The end screen names who ended it (see ending()).
  4010: { error: "meeting_ended", final: true, title: "The meeting has ended" },
  4011: {
    error: "replaced",
    final: true,
    title: "You joined from another tab or device",
    advice: "The meeting continues there. Rejoin to move it back here.",
    rejoin: "Rejoin",
  },
  4012: { error: "timeout", final: false },
  4013: {
    error: "session_ended",
    final: true,
    title: "You were signed out",
    advice: "You signed out, your password changed or your account was turned off. Sign in again to rejoin.",
    rejoin: "Rejoin",
  },
  4400: { error: "unsupported_version", final: true, title: "Parley was updated", advice: "Reload the page to continue.", rejoin: "Reload" },
  4413: {
    error: "too_big",
    final: true,
    title: "Disconnected",
    advice: "Your browser sent a message that was too large. Rejoin to continue.",
    rejoin: "Rejoin",
  },
  4429: {
    error: "rate_limited",
    final: true,
    title: "Disconnected",
    advice: "Your browser sent too many messages. Rejoin to continue.",
    rejoin: "Rejoin",
  },
  4500: { error: "internal", final: false },
};

export function isFinal(code) {
  return Boolean(CLOSES[code]?.final);
}

// Errors that come only just before a close: the end screen says them, so
// no toast repeats them. (not_found, rate_limited and internal also come
// alone, about a single message, and are shown as usual.)
const ALSO_ALONE = new Set(["not_found", "rate_limited", "internal"]);
export const CLOSING_ERRORS = new Set(
  Object.values(CLOSES)
    .map((close) => close.error)
    .filter((error) => error && !ALSO_ALONE.has(error)),
);

// What the end screen says after a final close: {title, text, rejoin} where
// rejoin is the button's label ("" for none). `words` is what the server
// said last (its message; for meeting_ended, who ended it); `me` is our own
// name and `moderator` whether we may run the room.
export function ending(code, { message = "", endedBy = "", me = "", moderator = false } = {}) {
  const close = CLOSES[code] || { title: "Disconnected", rejoin: "Rejoin" };
  if (code === 4010) {
    // Who ended it; and whoever may run the room can start it again.
    const title =
      endedBy && endedBy === me ? "You ended the meeting" : endedBy ? `${endedBy} ended the meeting` : close.title;
    return moderator
      ? { title, text: "It has ended for everyone. Start it again to meet in this room once more.", rejoin: "Start again" }
      : { title, text: "It has ended for everyone.", rejoin: "" };
  }
  return {
    title: close.title,
    text: code === 1000 ? "" : message || close.advice || "",
    rejoin: close.rejoin || "",
  };
}
