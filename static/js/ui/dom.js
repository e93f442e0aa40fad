// Small DOM helpers shared by the page modules.

// h("button.primary", {type: "button", onclick}, "Save") -> <button class="primary">
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  return (words.slice(0, 2).map((w) => w[0]).join("") || "?").toUpperCase();
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const yearFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// The time of something said today; the date too for an earlier day (chat
// kept from an earlier meeting), and the year for an earlier year.
export function when(iso, now = new Date()) {
  const date = new Date(iso);
  if (date.toDateString() === now.toDateString()) return timeFormat.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayFormat.format(date);
  return yearFormat.format(date);
}

// A modal question. Resolves to the chosen value (true, or the select's value
// when `choices` are given) or null when cancelled.
export function ask({ title, text, confirm, danger = false, choices = null }) {
  return new Promise((resolve) => {
    const select = choices
      ? h("select", { "aria-label": choices.label }, choices.options.map(([value, label]) => h("option", { value }, label)))
      : null;
    const dialog = h(
      "dialog.dialog",
      { "aria-labelledby": "dialog-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        text ? h("p", {}, text) : null,
        select ? h("label", {}, choices.label, select) : null,
        h("div.dialog-actions", {},
          h("button.button", { value: "cancel", type: "submit" }, "Cancel"),
          h(`button.button.${danger ? "danger" : "primary"}`, { value: "ok", type: "submit" }, confirm),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue !== "ok") resolve(null);
      else resolve(select ? select.value : true);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A short message. It goes away by itself after `timeout` ms, unless
// `timeout` is 0: a toast that needs an answer stays until its action is
// taken or it is dismissed. Returns a handle whose close() takes it away
// (when the question was answered elsewhere).
export function toast(text, { kind = "info", timeout = 6000, action = null } = {}) {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div.toasts", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const item = h(`div.toast.toast-${kind}`, {}, h("span.toast-text", {}, text));
  const close = () => {
    clearTimeout(timer);
    item.remove();
  };
  if (action) {
    item.append(
      h("button.button.small", {
        type: "button",
        onclick: () => {
          action.run();
          close();
        },
      }, action.label),
    );
  }
  if (!timeout) {
    item.classList.add("toast-sticky");
    item.append(h("button.toast-close", { type: "button", "aria-label": `Dismiss: ${text}`, onclick: close }, "×"));
  }
  region.append(item);
  const timer = timeout ? setTimeout(close, timeout) : null;
  return { close };
}

// Shortcut keys that must not fire while the user types.
export function onShortcut(keys, handler) {
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest?.("input, textarea, select, [contenteditable], dialog")) return;
    const action = keys[event.key.toLowerCase()];
    if (action) {
      event.preventDefault();
      handler(action);
    }
  });
}
