"""SFU cost and quality for rooms of 2 to 12 people, against a MediaRelay
decode/re-encode baseline, measured in one run.

Processes: the SFU alone in one (so its CPU is its own), the participants
split over two others (each publishes pre-encoded 320x240 VP8 at 30 fps and
Opus, and subscribes to everyone else), and a late joiner. They talk over a
small JSON-lines protocol on loopback that carries the SFU's API calls.

For each room, after a warm-up, over a fixed window:
- SFU process CPU (cores used) and CPU microseconds per forwarded RTP packet;
- received video fps and audio packets/s per stream (median and worst), loss;
- time to first frame for a late joiner, from joining to the first frame of
  every publisher.

    .venv/bin/python -m bench.sfu [--sizes 2,4,6,8,10,12] [--baseline 4,10]

``compare`` measures the SFU's two forwarding paths in one run, the frame
path (``forward``: aiortc assembles frames and re-packetises them) and the
packet path (``packets``: ``SFU(forwarding="packets")``), and writes its own
section, beside the one above:

    .venv/bin/python -m bench.sfu compare [--sizes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.report import median, update_section

ROOT = Path(__file__).resolve().parents[1]
WARMUP, WINDOW = 5.0, 10.0
# Publishers stay this long after the window, for the late joiner to arrive.
LATE_STAY = 6.0


# The server side


def _packets_sent(sfu) -> int:
    total = 0
    for room in sfu.rooms.values():
        for peer in room.peers.values():
            for transceiver in peer.down.getTransceivers():
                total += transceiver.sender._RTCRtpSender__packet_count
    return total


def relay_sfu_class():
    """The baseline: aiortc's MediaRelay, which decodes each published track
    and re-encodes it for every subscriber. Same API and signalling."""
    from aiortc.contrib.media import MediaRelay

    from sfu.forwarding import prefer_codec
    from sfu.sfu import SFU

    class RelaySFU(SFU):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.relay = MediaRelay()
            self.remote: dict[str, object] = {}

        def _reconcile(self, peer, screen_track_id, track_ids) -> None:
            # Instead of the SFU's forwarding taps: relay each new track.
            for transceiver in peer.up.getTransceivers():
                track = transceiver.receiver.track
                source = "mic" if transceiver.kind == "audio" else "cam"
                key = f"{source}-{peer.id}"
                if track is None or key in self.remote:
                    continue
                self.remote[key] = (peer.id, track)
                for other in peer.room.peers.values():
                    if other is not peer:
                        self._relay_to(other, key)
                        self._spawn(self._offer_down(other))

        def _relay_to(self, peer, key: str) -> None:
            owner, track = self.remote[key]
            relayed = self.relay.subscribe(track)
            relayed._id = key  # as the SFU names its tracks: cam-<owner>
            transceiver = peer.down.addTransceiver(relayed, direction="sendonly")
            transceiver.sender._stream_id = owner
            prefer_codec(transceiver)
            peer.subscriptions[key] = (transceiver, relayed)

        async def join(self, *, room_id, participant_id, **kwargs) -> None:
            await super().join(room_id=room_id, participant_id=participant_id, **kwargs)
            peer = self.rooms[room_id].peers[participant_id]
            for key, (owner, _track) in self.remote.items():
                if owner != participant_id:
                    self._relay_to(peer, key)
            if peer.subscriptions:
                await self._offer_down(peer)

    return RelaySFU


def _udp_drops() -> int:
    """Datagrams the kernel dropped for full receive buffers, machine-wide
    (the SFU's and the clients' sockets alike): loss that is no one's bug."""
    try:
        snmp = Path("/proc/net/snmp").read_text().splitlines()
        lines = [ln.split() for ln in snmp if ln.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, IndexError, ValueError):
        return 0


def _latency_ms(samples: list[float]) -> tuple[float | None, float | None]:
    """Median and 90th percentile, in ms, of the time packets spent in the SFU."""
    from bench.report import percentile

    if not samples:
        return None, None
    return 1000 * median(samples), 1000 * percentile(samples, 0.9)


async def serve(mode: str, port: int) -> None:
    from sfu import ingress
    from sfu.sfu import SFU

    # packets-queued: the packet path reading SRTP through aioice's queue
    # and aiortc's _recv_next, one coroutine per datagram (before/after).
    ingress.DIRECT_READ = mode != "packets-queued"

    # Each client process's connection, by the addresses it joined with.
    writers: dict[str, asyncio.StreamWriter] = {}

    async def push(address: str, message: dict) -> None:
        writer = writers.get(address)
        if writer is not None:
            writer.write(json.dumps({"push": message, "to": address}).encode() + b"\n")
            await writer.drain()

    if mode == "relay":
        sfu = relay_sfu_class()(deliver=push)
    else:
        packets = mode.startswith("packets")
        sfu = SFU(deliver=push, forwarding="packets" if packets else "frames")
    calls = {"publish": sfu.publish, "answer": sfu.answer, "leave": sfu.leave}

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            op, args = request["op"], request.get("args", {})
            if "allowed" in args:  # a JSON list
                args["allowed"] = frozenset(args["allowed"])
            try:
                if op == "join":
                    writers[args["address"]] = writer
                    result = await sfu.join(**args)
                elif op == "stats":
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    result = {
                        "cpu": usage.ru_utime + usage.ru_stime,
                        "wall": time.monotonic(),
                        "packets": _packets_sent(sfu),
                        # Sampled since the last call (sfu.ingress).
                        "latency": list(ingress.latency_samples),
                    }
                    ingress.latency_samples.clear()
                else:
                    result = await calls[op](**args)
                reply = {"id": request["id"], "result": result}
            except Exception as exc:
                reply = {"id": request["id"], "error": repr(exc)}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# The client side


class RemoteSFU:
    """The SFU's API, called over the bench's JSON-lines connection."""

    def __init__(self, reader, writer) -> None:
        from tests.media import Switchboard

        self.reader, self.writer = reader, writer
        self.pending: dict[int, asyncio.Future] = {}
        self.deliver = Switchboard()
        self.next_id = 0
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> RemoteSFU:
        return cls(*await asyncio.open_connection("127.0.0.1", port, limit=2**24))

    async def _read(self) -> None:
        while line := await self.reader.readline():
            message = json.loads(line)
            if "push" in message:
                await self.deliver(message["to"], message["push"])
            elif "error" in message:
                self.pending.pop(message["id"]).set_exception(
                    RuntimeError(message["error"])
                )
            else:
                self.pending.pop(message["id"]).set_result(message["result"])

    async def call(self, op: str, **args):
        if "allowed" in args:
            args["allowed"] = sorted(args["allowed"])  # JSON has no sets
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self.writer.write(
            json.dumps({"id": self.next_id, "op": op, "args": args}).encode() + b"\n"
        )
        await self.writer.drain()
        return await future

    async def join(self, **args) -> None:
        await self.call("join", **args)

    async def publish(self, **args) -> str:
        return await self.call("publish", **args)

    async def answer(self, **args) -> None:
        await self.call("answer", **args)

    async def leave(self, **args) -> None:
        await self.call("leave", **args)


def _snapshot(clients) -> dict:
    return {
        (c.id, track_id): record.frames
        for c in clients
        for track_id, record in c.received.items()
    }


async def _loss(clients) -> tuple[int, int]:
    received = lost = 0
    for client in clients:
        if client.down is None:
            continue
        for transceiver in client.down.getTransceivers():
            stats = await transceiver.receiver.getStats()
            for item in stats.values():
                if item.type == "inbound-rtp":
                    received += item.packetsReceived
                    lost += max(0, item.packetsLost)
    return received, lost


async def run_clients(port: int, ids: list[str], start_at: float) -> dict:
    from tests.media import MediaClient

    remote = await RemoteSFU.connect(port)
    clients = [MediaClient(remote, 1, pid) for pid in ids]
    for client in clients:
        await client.join()
    await asyncio.sleep(max(0, start_at + WARMUP - time.time()))
    before = _snapshot(clients)
    cpu_before, wall_before = time.process_time(), time.monotonic()
    await asyncio.sleep(WINDOW)
    after = _snapshot(clients)
    cores = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    received, lost = await _loss(clients)
    await asyncio.sleep(LATE_STAY)
    rates = {"video": [], "audio": []}
    for key, frames in after.items():
        kind = "video" if key[1].startswith("cam") else "audio"
        rates[kind].append((frames - before.get(key, 0)) / WINDOW)
    for client in clients:
        await client.close()
    return {"rates": rates, "received": received, "lost": lost, "cores": cores}


async def run_late_joiner(port: int, publishers: list[str]) -> dict:
    from tests.media import MediaClient

    remote = await RemoteSFU.connect(port)
    late = MediaClient(remote, 1, "late", video=False, audio=False)
    started = time.monotonic()
    await late.join()
    deadline = started + 10
    while time.monotonic() < deadline and not all(
        late.received.get(f"cam-{p}") and late.received[f"cam-{p}"].first_at
        for p in publishers
    ):
        await asyncio.sleep(0.01)
    firsts = [
        late.received[f"cam-{p}"].first_at - started
        for p in publishers
        if late.received.get(f"cam-{p}") and late.received[f"cam-{p}"].first_at
    ]
    await late.leave()
    await late.close()
    return {"first_frame": firsts, "missing": len(publishers) - len(firsts)}


# The conductor


def _spawn(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.sfu", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def measure_room(mode: str, size: int) -> dict:
    from tests.servers import free_port

    port = free_port()
    # "packets+uvloop": the same SFU on uvloop's event loop.
    base, _, loop = mode.partition("+")
    server = _spawn(
        "serve", "--mode", base, "--port", str(port), env={"BENCH_LOOP": loop}
    )
    assert server.stdout.readline().strip() == "ready"
    try:
        ids = [f"p{n}" for n in range(size)]
        halves = [ids[0::2], ids[1::2]]
        start_at = time.time()
        workers = [
            _spawn(
                "clients",
                "--port",
                str(port),
                "--ids",
                ",".join(h),
                "--start-at",
                str(start_at),
            )
            for h in halves
            if h
        ]
        drops = _udp_drops()
        stats = asyncio.run(_server_window(port, start_at))
        drops = _udp_drops() - drops
        late = _spawn("late", "--port", str(port), "--ids", ",".join(ids))
        late_result = json.loads(
            late.communicate(timeout=60)[0].strip().splitlines()[-1]
        )
        results = [
            json.loads(w.communicate(timeout=120)[0].strip().splitlines()[-1])
            for w in workers
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)
    video = [r for res in results for r in res["rates"]["video"]]
    audio = [r for res in results for r in res["rates"]["audio"]]
    received = sum(r["received"] for r in results)
    lost = sum(r["lost"] for r in results)
    cpu, packets = stats["cpu"], stats["packets"]
    latency, latency_p90 = _latency_ms(stats["latency"])
    return {
        "mode": mode,
        "size": size,
        "cores": cpu / stats["wall"],
        "us_per_packet": 1e6 * cpu / packets if packets else float("nan"),
        "packets_per_second": packets / stats["wall"],
        "fps_median": median(video) if video else 0,
        "fps_min": min(video) if video else 0,
        "audio_median": median(audio) if audio else 0,
        "audio_min": min(audio) if audio else 0,
        "streams": len(video) + len(audio),
        "loss": lost / (received + lost) if received + lost else 0.0,
        "ttff_median": median(late_result["first_frame"])
        if late_result["first_frame"]
        else None,
        "ttff_max": max(late_result["first_frame"])
        if late_result["first_frame"]
        else None,
        "ttff_missing": late_result["missing"],
        "latency_ms": latency,
        "latency_p90_ms": latency_p90,
        "udp_drops": drops,
        "client_cores": [round(r["cores"], 2) for r in results],
    }


async def _server_window(port: int, start_at: float) -> dict:
    remote = await RemoteSFU.connect(port)
    await asyncio.sleep(max(0, start_at + WARMUP - time.time()))
    first = await remote.call("stats")
    await asyncio.sleep(WINDOW)
    last = await remote.call("stats")
    window = {k: last[k] - first[k] for k in ("cpu", "wall", "packets")}
    window["latency"] = last["latency"]
    return window


def _row(r: dict, more: bool = False) -> str:
    ttff = (
        f"{1000 * r['ttff_median']:.0f} / {1000 * r['ttff_max']:.0f} ms"
        if r["ttff_median"] is not None
        else "none"
    )
    if r["ttff_missing"]:
        ttff += f" ({r['ttff_missing']} missing)"
    inside = (
        f"{r['latency_ms']:.2f} / {r['latency_p90_ms']:.2f}"
        if r.get("latency_ms") is not None
        else "–"
    )
    extra = (
        f" {inside} | {r.get('udp_drops', 0)} | "
        f"{' + '.join(f'{c:.2f}' for c in r.get('client_cores', []))} |"
    )
    return (
        f"| {r['mode']} | {r['size']} | {r['cores']:.2f} | {r['us_per_packet']:.0f} | "
        f"{r['packets_per_second']:.0f} | {r['fps_median']:.1f} / {r['fps_min']:.1f} | "
        f"{r['audio_median']:.0f} / {r['audio_min']:.0f} | {100 * r['loss']:.2f}% | {ttff} |"
        + (extra if more else "")
    )


def conduct(sizes: list[int], baseline: list[int]) -> None:
    rows = []
    for size in sizes:
        result = measure_room("forward", size)
        rows.append(result)
        print(_row(result), flush=True)
    for size in baseline:
        result = measure_room("relay", size)
        rows.append(result)
        print(_row(result), flush=True)
    ratios = []
    for size in baseline:
        forward = next(
            (r for r in rows if r["mode"] == "forward" and r["size"] == size), None
        )
        relay = next(r for r in rows if r["mode"] == "relay" and r["size"] == size)
        if forward:
            ratios.append(
                f"- {size} people: MediaRelay spent "
                f"{relay['us_per_packet'] / forward['us_per_packet']:.0f}x the CPU per packet "
                f"sent ({relay['us_per_packet']:.0f} vs {forward['us_per_packet']:.0f} µs), "
                f"used {relay['cores']:.2f} vs {forward['cores']:.2f} cores and delivered "
                f"{relay['fps_median']:.1f} vs {forward['fps_median']:.1f} fps (median)."
            )
    for line in ratios:
        print(line)
    header = [
        "## SFU: forwarding encoded media vs MediaRelay",
        "",
        "Each participant publishes pre-encoded 320x240 VP8 at 30 fps and Opus (50 packets/s)",
        "and receives everyone else. The SFU runs alone in its process; clients in two others;",
        f"{WARMUP:.0f} s warm-up, then a {WINDOW:.0f} s window. `forward` is Parley's SFU,",
        "`relay` aiortc's MediaRelay (decode and re-encode for each subscriber).",
        "Rates are per received stream (median / worst); time to first frame is for a late",
        "joiner, over every publisher (median / worst).",
        "",
        "| mode | people | SFU cores | µs per forwarded packet | packets out/s "
        "| video fps | audio packets/s | loss | first frame |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    update_section("sfu", "\n".join(header + [_row(r) for r in rows] + [""] + ratios))
    print("written to docs/benchmarks.md")


def compare(sizes: list[int], modes: list[str]) -> None:
    """The SFU's forwarding paths (and variants), room by room, in one run."""
    rows = []
    for size in sizes:
        for mode in modes:
            result = measure_room(mode, size)
            rows.append(result)
            print(_row(result, more=True), flush=True)
    lines = []
    for size in sizes:
        here = {r["mode"]: r for r in rows if r["size"] == size}
        frames = here.get("forward")
        for mode, r in here.items():
            if mode == "forward":
                continue
            line = (
                f"- {size} people, `{mode}`: {r['us_per_packet']:.0f} µs of SFU CPU "
                f"per forwarded packet, {r['cores']:.2f} cores"
            )
            if frames:
                line += (
                    f" (frame path {frames['us_per_packet']:.0f} µs, "
                    f"{frames['cores']:.2f} cores: "
                    f"{frames['us_per_packet'] / r['us_per_packet']:.1f}x)"
                )
            if r["latency_ms"] is not None:
                line += f"; {r['latency_ms']:.2f} ms median inside the SFU"
            lines.append(
                line + f"; {r['fps_median']:.1f} fps, {r['audio_median']:.0f} audio "
                f"packets/s, {100 * r['loss']:.2f}% loss."
            )
    for line in lines:
        print(line)
    header = [
        "## SFU: the packet path vs the frame path",
        "",
        "Same load as above (`bench/sfu.py compare`), every mode in one run.",
        "`forward` is the frame path (aiortc assembles each frame and re-packetises",
        'it per subscriber); `packets` is `SFU(forwarding="packets")`: each RTP',
        "packet rewritten per subscriber (`sfu/ingress.py`, `sfu/egress.py`),",
        "read in the ICE socket's callback; `packets-queued` the same path fed",
        "through aioice's queue and aiortc's `_recv_next`, one coroutine per",
        "datagram (as first built); `+uvloop` on uvloop's event loop.",
        "Inside the SFU: from the read of a datagram to its last send, one packet",
        "in 32 (median / 90th percentile). UDP drops: the kernel's RcvbufErrors",
        "over the window, machine-wide. Client cores: each client process's.",
        "",
        "| mode | people | SFU cores | µs per forwarded packet | packets out/s "
        "| video fps | audio packets/s | loss | first frame | inside the SFU, ms "
        "| UDP drops | client cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    update_section(
        "sfu-packets",
        "\n".join(header + [_row(r, more=True) for r in rows] + [""] + lines),
    )
    print("written to docs/benchmarks.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "role",
        nargs="?",
        default="conduct",
        choices=["conduct", "compare", "serve", "clients", "late"],
    )
    parser.add_argument("--mode", default="forward")
    parser.add_argument("--port", type=int)
    parser.add_argument("--ids", default="")
    parser.add_argument("--start-at", type=float, default=0)
    parser.add_argument("--sizes", default="")
    parser.add_argument("--baseline", default="4,10")
    parser.add_argument("--modes", default="forward,packets")
    args = parser.parse_args()
    if args.role == "serve":
        if os.environ.get("BENCH_LOOP") == "uvloop":
            import uvloop

            uvloop.install()
        asyncio.run(serve(args.mode, args.port))
    elif args.role == "clients":
        print(
            json.dumps(
                asyncio.run(run_clients(args.port, args.ids.split(","), args.start_at))
            )
        )
    elif args.role == "late":
        print(json.dumps(asyncio.run(run_late_joiner(args.port, args.ids.split(",")))))
    elif args.role == "compare":
        compare(
            [int(s) for s in (args.sizes or "10").split(",") if s],
            [m for m in args.modes.split(",") if m],
        )
    else:
        conduct(
            [int(s) for s in (args.sizes or "2,4,6,8,10,12").split(",") if s],
            [int(s) for s in args.baseline.split(",") if s],
        )


if __name__ == "__main__":
    main()
