// The video grid: one tile per participant, a large stage for screen shares,
// and a layout that fits any number of tiles to the space there is.

import { h, icon, initials } from "./dom.js";

const ASPECT = 16 / 9;
const GAP = 8;

// The number of columns that gives `count` tiles of ASPECT the largest size
// inside width x height.
export function bestColumns(count, width, height, gap = GAP) {
  let best = 1;
  let bestArea = 0;
  for (let cols = 1; cols <= count; cols += 1) {
    const rows = Math.ceil(count / cols);
    const w = (width - gap * (cols - 1)) / cols;
    const hgt = (height - gap * (rows - 1)) / rows;
    const tileW = Math.min(w, hgt * ASPECT);
    const area = tileW * (tileW / ASPECT);
    if (area > bestArea) {
      bestArea = area;
      best = cols;
    }
  }
  return best;
}

export class Grid {
  constructor({ grid, stage, body }) {
    this.grid = grid;
    this.stage = stage;
    this.body = body;
    this.tiles = new Map();
    this.screens = new Map();
    new ResizeObserver(() => this.layout()).observe(grid);
  }

  tile(id) {
    return this.tiles.get(id);
  }

  upsert(p, { self = false } = {}) {
    let tile = this.tiles.get(p.id);
    if (!tile) {
      const video = h("video", { autoplay: true, playsinline: true, muted: true });
      video.muted = true;
      tile = h(
        "figure.tile",
        { dataset: { participant: p.id }, "aria-label": self ? `${p.name} (you)` : p.name },
        video,
        h("div.avatar", { "aria-hidden": "true" }),
        h("figcaption", {},
          h("span.tile-mic", { title: "Microphone off" }, icon("mic-off")),
          h("span.tile-name"),
          h("span.tile-hand", { title: "Hand raised" }, icon("hand")),
        ),
        h("span.quality", { dataset: { level: "none" } }, h("i"), h("i"), h("i")),
      );
      if (self) tile.classList.add("self");
      this.tiles.set(p.id, tile);
      // You first, then everyone else in the order they came.
      if (self) this.grid.prepend(tile);
      else this.grid.append(tile);
      this.layout();
    }
    tile.querySelector(".tile-name").textContent = self ? `${p.name} (you)` : p.name;
    tile.querySelector(".avatar").textContent = initials(p.name);
    tile.classList.toggle("muted", !p.audio);
    tile.classList.toggle("hand", Boolean(p.hand));
    tile.classList.toggle("away", p.connected === false);
    tile.dataset.video = p.video ? "on" : "off";
    return tile;
  }

  remove(id) {
    this.tiles.get(id)?.remove();
    this.tiles.delete(id);
    this.setScreen(id, null);
    this.layout();
  }

  setVideo(id, track) {
    const video = this.tiles.get(id)?.querySelector("video");
    if (!video) return;
    if (!track) {
      video.srcObject = null;
      return;
    }
    if (video.srcObject?.getVideoTracks()[0] === track) return;
    video.srcObject = new MediaStream([track]);
  }

  setScreen(id, name, track = null) {
    const existing = this.screens.get(id);
    if (!track) {
      existing?.remove();
      this.screens.delete(id);
    } else if (existing) {
      existing.querySelector("video").srcObject = new MediaStream([track]);
    } else {
      const video = h("video", { autoplay: true, playsinline: true, muted: true });
      video.muted = true;
      video.srcObject = new MediaStream([track]);
      const tile = h(
        "figure.tile.screen",
        { dataset: { screen: id }, "aria-label": `${name}’s screen` },
        video,
        h("figcaption", {}, h("span.tile-name", {}, `${name}’s screen`)),
      );
      this.screens.set(id, tile);
      this.stage.append(tile);
    }
    const sharing = this.screens.size > 0;
    this.stage.hidden = !sharing;
    this.body.classList.toggle("has-stage", sharing);
    this.layout();
  }

  hasScreen(id) {
    return this.screens.has(id);
  }

  setSpeaker(id) {
    for (const [tileId, tile] of this.tiles) tile.classList.toggle("speaking", tileId === id);
  }

  setQuality(id, level, detail) {
    const badge = this.tiles.get(id)?.querySelector(".quality");
    if (!badge) return;
    badge.dataset.level = level;
    badge.title = detail;
    badge.setAttribute("aria-label", `Connection: ${detail}`);
    badge.setAttribute("role", "img");
  }

  layout() {
    const count = this.tiles.size;
    if (!count) return;
    const { clientWidth: width, clientHeight: height } = this.grid;
    if (!width || !height) return;
    const stage = this.body.classList.contains("has-stage");
    // Beside a screen share the grid is a strip: one column, or one row on
    // a narrow screen.
    const cols = stage ? (width > height ? count : 1) : bestColumns(count, width, height, GAP);
    const rows = Math.ceil(count / cols);
    const tileWidth = Math.min((width - GAP * (cols - 1)) / cols, ((height - GAP * (rows - 1)) / rows) * ASPECT);
    this.grid.style.setProperty("--tile-w", `${Math.floor(tileWidth)}px`);
    this.grid.style.setProperty("--tile-h", `${Math.floor(tileWidth / ASPECT)}px`);
  }
}
