// Per-track connection quality from getStats(): bitrate, loss and round-trip
// time, measured between two calls.
export class QualityMeter {
  constructor() {
    this.previous = new Map();
  }

  async measure(pc, direction) {
    const report = await pc.getStats();
    let rtt = null;
    const remoteLoss = new Map();
    for (const stat of report.values()) {
      if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") {
        rtt = stat.currentRoundTripTime ?? rtt;
      }
      if (stat.type === "remote-inbound-rtp") {
        remoteLoss.set(stat.localId, stat.fractionLost ?? 0);
        if (stat.roundTripTime != null) rtt = stat.roundTripTime;
      }
    }
    const results = new Map();
    const type = direction === "in" ? "inbound-rtp" : "outbound-rtp";
    for (const stat of report.values()) {
      if (stat.type !== type) continue;
      const key = direction === "in" ? stat.trackIdentifier : stat.mid;
      const before = this.previous.get(stat.id);
      this.previous.set(stat.id, stat);
      if (!before || !key) continue;
      const seconds = (stat.timestamp - before.timestamp) / 1000;
      const bytes = direction === "in" ? stat.bytesReceived - before.bytesReceived : stat.bytesSent - before.bytesSent;
      let loss = remoteLoss.get(stat.id) ?? 0;
      if (direction === "in") {
        const lost = stat.packetsLost - before.packetsLost;
        const got = stat.packetsReceived - before.packetsReceived;
        loss = lost + got > 0 ? Math.max(0, lost) / (lost + got) : 0;
      }
      const entry = {
        kind: stat.kind,
        bitrate: seconds > 0 ? (bytes * 8) / seconds : 0,
        loss,
        rtt,
        flowing: bytes > 0,
      };
      // After a rebuild the same track id can appear twice; keep the live one.
      if (!results.has(key) || entry.flowing) results.set(key, entry);
    }
    return results;
  }
}

export function qualityLevel({ loss, rtt, flowing }) {
  if (!flowing) return "none";
  if (loss > 0.1 || (rtt ?? 0) > 0.6) return "poor";
  if (loss > 0.03 || (rtt ?? 0) > 0.3) return "fair";
  return "good";
}
