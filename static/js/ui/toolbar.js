// The call's toolbar: one row that always fits the window. Controls that do
// not fit move, in a set order, into the "More" menu at the end of the row,
// and come back when there is room again (a wider window, a control hidden).

export class Toolbar {
  // `overflow`: the controls that may move, the first to go first.
  constructor({ bar, more, button, menu, overflow }) {
    this.bar = bar;
    this.more = more;
    this.button = button;
    this.menu = menu;
    // Each control's place in the row, to put it back where it was.
    this.places = new Map(
      overflow.map((control) => {
        const mark = document.createComment(control.id);
        control.before(mark);
        return [control, mark];
      }),
    );
    button.addEventListener("click", () => this.setOpen(this.menu.hidden));
    // Choosing something in the menu closes it.
    menu.addEventListener("click", (event) => {
      if (event.target.closest("button")) this.setOpen(false);
    });
    document.addEventListener("click", (event) => {
      if (!this.menu.hidden && !this.more.contains(event.target)) this.setOpen(false);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.menu.hidden) {
        event.stopPropagation();
        this.setOpen(false);
        this.button.focus();
      }
    }, true);
    new ResizeObserver(() => this.fit()).observe(bar.parentElement);
  }

  setOpen(open) {
    this.menu.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
  }

  // Everything in the row if it fits; otherwise "More" and, one by one, the
  // controls that may move, until the row fits.
  fit() {
    const focused = document.activeElement;
    for (const [control, mark] of this.places) mark.after(control);
    this.more.hidden = true;
    if (this.fits()) {
      this.setOpen(false);
    } else {
      this.more.hidden = false;
      for (const control of this.places.keys()) {
        if (this.fits()) break;
        if (!control.hidden) this.menu.append(control);
      }
    }
    if (!this.menu.children.length) this.more.hidden = true;
    // Moving a node drops its focus; keep it where the user was.
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
  }

  fits() {
    return this.bar.scrollWidth <= this.bar.clientWidth + 1;
  }
}
