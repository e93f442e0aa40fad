// A connection-quality mark on every tile, from getStats() every two
// seconds: what we receive from each person, and what we send.

import * as media from "../media.js";

const EVERY_MS = 2000;

function describe(q) {
  return (
    `${media.qualityLevel(q)} · ${Math.round(q.bitrate / 1000)} kbps · ${(q.loss * 100).toFixed(1)}% loss` +
    (q.rtt != null ? ` · ${Math.round(q.rtt * 1000)} ms` : "")
  );
}

export class QualityWatch {
  // `people()`: the participant ids in the meeting; `selfId()`: ours.
  constructor({ session, grid, people, selfId }) {
    this.session = session;
    this.grid = grid;
    this.people = people;
    this.selfId = selfId;
    this.incoming = new media.QualityMeter();
    this.outgoing = new media.QualityMeter();
    this.timer = null;
  }

  start() {
    this.timer = setInterval(() => this.measure(), EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async measure() {
    const { subscriber, publisher } = this.session;
    const me = this.selfId();
    try {
      if (subscriber) {
        const tracks = await this.incoming.measure(subscriber.pc, "in");
        for (const id of this.people()) {
          const cam = tracks.get(`cam-${id}`);
          const q = cam?.flowing ? cam : tracks.get(`mic-${id}`);
          if (q && id !== me) this.grid.setQuality(id, media.qualityLevel(q), describe(q));
        }
      }
      if (publisher) {
        const tracks = await this.outgoing.measure(publisher.pc, "out");
        const q = tracks.get(publisher.video.mid) || tracks.get(publisher.audio.mid);
        if (q?.flowing) this.grid.setQuality(me, media.qualityLevel(q), describe(q));
      }
    } catch {
      // A connection closed while measuring; the next round measures the new one.
    }
  }
}
