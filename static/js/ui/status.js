// The call's status line ("Reconnecting…", "Reconnected."): one short
// sentence about the connection, with the browser's own words in its
// tooltip for support.

export class Status {
  constructor(element) {
    this.element = element;
    this.level = "";
  }

  show(text, level = "", detail = "") {
    this.level = level;
    this.element.textContent = text;
    this.element.title = detail;
    this.element.dataset.level = level;
    // Good news does not stay.
    if (level === "ok" && text) setTimeout(() => this.element.textContent === text && (this.element.textContent = ""), 3000);
  }

  // Media flows again: a warning about it no longer holds.
  recovered() {
    if (this.level === "warn") this.show("");
  }
}
