"""`PortShare`: gRPC and HTTP/1.1 on one listening port, as Google's emulators serve them (the Java
client and `DATASTORE_EMULATOR_HOST` users expect both on the one address).

Each accepted connection is classified by its first bytes: the HTTP/2 connection preface goes to the
gRPC server, anything else to the HTTP/1.1 (REST) server; both listen on private loopback ports and
the bytes are relayed unchanged, one thread per direction. gRPC keeps one connection per client, so
the relay threads stay few.

Imports: the standard library only.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import List, Optional, Tuple

log = logging.getLogger("gae_emu.cloud")
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CHUNK = 256 * 1024


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


class PortShare:
    """Relays each connection of `sock` to `grpc_address` or `http_address` (host, port)."""

    def __init__(self, sock: socket.socket, grpc_address: Tuple[str, int], http_address: Tuple[str, int]) -> None:
        self.sock = sock
        self.grpc_address, self.http_address = grpc_address, http_address
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._open: List[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept, name="portshare", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            for conn in self._open:
                try:
                    conn.close()
                except OSError:
                    pass
            self._open.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="portshare-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = b""
        try:
            # Enough bytes to tell the HTTP/2 preface from an HTTP/1 request line (or a short one).
            while len(head) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(head):
                data = conn.recv(len(HTTP2_PREFACE) - len(head))
                if not data:
                    break
                head += data
            target = self.grpc_address if head.startswith(HTTP2_PREFACE) else self.http_address
            backend = socket.create_connection(target)
            backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            backend.sendall(head)
        except OSError:
            conn.close()
            return
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                backend.close()
                return
            self._open.extend((conn, backend))
        back = threading.Thread(target=_pipe, args=(backend, conn), name="portshare-back", daemon=True)
        back.start()
        _pipe(conn, backend)
        back.join()
        with self._lock:
            for sock in (conn, backend):
                if sock in self._open:
                    self._open.remove(sock)
                sock.close()
