"""A TCP proxy in front of the server whose connections a test can cut, as a
flaky Wi-Fi or a NAT timeout would: both ends see the connection reset, with
no WebSocket closing handshake."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class CuttableProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        with self.lock:
            cut = list(self.connections)
            self.connections.clear()
        for sock in cut:
            try:
                # SO_LINGER 0: close() sends RST, not FIN. Shutting down the
                # read side first wakes the pump thread blocked on it.
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
            sock.close()
        return len(cut) // 2

    def close(self) -> None:
        self.running = False
        self.listener.close()
        self.cut()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self.lock:
                self.connections.discard(src)
                self.connections.discard(dst)
