// The pre-call network test: which ways to the media server the browser has.

export const CANDIDATE_KINDS = ["host", "srflx", "relay-udp", "relay-tcp", "relay-tls"];

// Gathers ICE candidates with the configured servers and says which kinds
// worked: a direct path (host), through NAT (srflx, needs STUN) and through a
// relay (needs TURN) over UDP, TCP or TLS.
export async function gatherCandidates(iceServers, timeoutMs = 8000) {
  const pc = new RTCPeerConnection({ iceServers, iceCandidatePoolSize: 0 });
  const kinds = new Set();
  pc.createDataChannel("precall");
  const done = new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icecandidate", (event) => {
      if (!event.candidate) {
        clearTimeout(timer);
        resolve();
        return;
      }
      const kind = candidateKind(event.candidate);
      if (kind) kinds.add(kind);
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return kinds;
}

function candidateKind(candidate) {
  const type = candidate.type || / typ (\w+)/.exec(candidate.candidate)?.[1];
  if (type === "host" || type === "srflx") return type;
  if (type !== "relay") return null;
  // How the browser reached the TURN server; Chrome tells, others may not.
  const via = candidate.relayProtocol || "udp";
  return `relay-${via}`;
}
