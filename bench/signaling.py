"""Chat fan-out over a real daphne server: 100 people in one room.

Starts Parley in a subprocess (embedded defaults: SQLite and the in-memory
channel layer; then PostgreSQL with Redis when they are running), connects
100 signed-in WebSocket clients to one room, and measures:

- latency: one message at a time, from send to arrival at each of the 99
  others (p50, p99 over all deliveries);
- throughput: three messages from every client sent at once, deliveries per
  second until the last one arrives.

All clients run in this one process, so client-side JSON parsing is part of
what is measured; the figures are a floor for the server, not a ceiling.

    .venv/bin/python -m bench.signaling [--clients 100] [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import websockets

from bench.report import median, percentile, update_section
from tests.servers import Deployment, ws_headers, ws_url


async def _connect(port: int, slug: str, session: str):
    ws = await websockets.connect(
        ws_url(port, slug), additional_headers=ws_headers(port, session), max_queue=None
    )
    await ws.send(json.dumps({"type": "hello", "version": 1}))
    while json.loads(await ws.recv())["type"] != "welcome":
        pass
    return ws


class Receiver:
    """Reads one client's socket and timestamps every chat it receives."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.arrivals: dict[str, float] = {}
        self.event = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            if message["type"] == "chat_message":
                self.arrivals[message["message"]["text"]] = time.perf_counter()
                self.event.set()
            elif message["type"] == "ping":
                await self.ws.send('{"type":"pong"}')


async def _wait_all(
    receivers, others_of, texts: list[str], timeout: float = 60
) -> None:
    deadline = time.perf_counter() + timeout
    for text in texts:
        for receiver in others_of(text):
            while text not in receiver.arrivals:
                receiver.event.clear()
                if text in receiver.arrivals:
                    break
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"{text} did not reach every client")
                await asyncio.wait_for(receiver.event.wait(), remaining)


async def measure(port: int, slug: str, sessions: list[str], rounds: int) -> dict:
    sockets = []
    started = time.perf_counter()
    for session in sessions:
        sockets.append(await _connect(port, slug, session))
    join_seconds = time.perf_counter() - started
    await asyncio.sleep(0.5)  # let join broadcasts settle
    receivers = [Receiver(ws) for ws in sockets]
    n = len(sockets)
    sender_of: dict[str, int] = {}

    def others(text: str):
        return [r for i, r in enumerate(receivers) if i != sender_of[text]]

    latencies: list[float] = []
    for round_ in range(rounds):
        sender = round_ % n
        text = f"latency {round_}"
        sender_of[text] = sender
        sent = time.perf_counter()
        await sockets[sender].send(json.dumps({"type": "chat_send", "text": text}))
        await _wait_all(receivers, others, [text])
        latencies += [r.arrivals[text] - sent for r in others(text)]

    # Three per sender at most: within the per-user chat burst of 5 (300 for 100).
    burst = 3 * n
    texts = [f"burst {i}" for i in range(burst)]
    started = time.perf_counter()
    for i, text in enumerate(texts):
        sender_of[text] = (rounds + i) % n
        await sockets[sender_of[text]].send(
            json.dumps({"type": "chat_send", "text": text})
        )
    await _wait_all(receivers, others, texts, timeout=300)
    elapsed = max(r.arrivals[t] for t in texts for r in others(t)) - started
    for ws in sockets:
        await ws.close()
    for receiver in receivers:
        receiver.task.cancel()
    return {
        "clients": n,
        "join_seconds": join_seconds,
        "p50_ms": 1000 * median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "deliveries": burst * (n - 1),
        "per_second": burst * (n - 1) / elapsed,
        "sent_per_second": burst / elapsed,
    }


def run(setup: str, clients: int, rounds: int) -> dict:
    database, redis_url = (
        ("postgres", "redis://127.0.0.1:6379/0")
        if setup == "production"
        else ("sqlite", "")
    )
    with Deployment(database=database, redis_url=redis_url) as deployment:
        seeded = deployment.prepare(members=clients - 1, max_participants=100)
        (port,) = deployment.start(1)
        return asyncio.run(measure(port, seeded["slug"], seeded["sessions"], rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--setups", default="embedded,production")
    args = parser.parse_args()
    rows = []
    for setup in args.setups.split(","):
        try:
            result = run(setup, args.clients, args.rounds)
        except Exception as exc:  # report what could not run, keep the rest
            print(f"{setup}: could not run ({exc})")
            continue
        rows.append((setup, result))
        print(
            f"{setup:<11} {result['clients']} clients  join {result['join_seconds']:.1f} s  "
            f"latency p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
            f"{result['per_second']:.0f} deliveries/s "
            f"({result['sent_per_second']:.0f} messages/s in)"
        )
    if not rows:
        raise SystemExit("no setup could run")
    lines = [
        "## Signaling: chat fan-out, 100 people in one room",
        "",
        "One daphne process; all clients in one other process (`bench/signaling.py`).",
        "Latency: one message at a time, send to arrival at each of the others.",
        "Throughput: 3 messages from every client sent at once (300 for 100 clients).",
        "",
        "| setup | clients | latency p50 | latency p99 | deliveries/s | messages in/s |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "embedded": "embedded (SQLite, in-memory layer)",
        "production": "PostgreSQL + Redis layer",
    }
    for setup, r in rows:
        lines.append(
            f"| {names.get(setup, setup)} | {r['clients']} | {r['p50_ms']:.1f} ms | "
            f"{r['p99_ms']:.1f} ms | {r['per_second']:.0f} | {r['sent_per_second']:.0f} |"
        )
    update_section("signaling", "\n".join(lines))
    print("written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
