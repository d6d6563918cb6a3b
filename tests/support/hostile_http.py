"""A loopback HTTP server that misbehaves on purpose, byte for byte, for the fault tests.

Each test gives it a ``behaviour(request, connection)`` that writes whatever it likes to the raw
socket: a trickle, an endless stream, a gzip bomb, a redirect, a body that echoes the key. The
server reads each request's head and body (bounded), records it, and stops every connection when
the test ends, so no behaviour can outlive its test. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import SERVE_POLL_SECONDS


@dataclass
class HostileRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[HostileRequest, "Connection"], None]


class Connection:
    """The accepted socket, with helpers; every write stops once the server is closing."""

    def __init__(self, sock: socket.socket, stopping: threading.Event):
        self.sock = sock
        self.stopping = stopping

    def send(self, data: bytes) -> bool:
        if self.stopping.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def head(self, status: int, headers: dict[str, str] | None = None) -> bool:
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.head(status, {"Content-Length": str(len(body)), **(headers or {})})
        self.send(body)

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.answer(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def chunk(self, data: bytes) -> bool:
        return self.send(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def forever(self, piece: bytes, pause: float = 0.0, chunked: bool = True) -> None:
        """Write ``piece`` again and again until the client goes or the test ends."""
        while not self.stopping.is_set():
            if not (self.chunk(piece) if chunked else self.send(piece)):
                return
            if pause:
                time.sleep(pause)


@functools.lru_cache(maxsize=4)
def gzip_bomb(inflated_megabytes: int) -> bytes:
    """A gzip body of zeros that inflates to ``inflated_megabytes`` MiB (made once per session)."""
    block = b"\0" * (1024 * 1024)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as archive:
        for _ in range(inflated_megabytes):
            archive.write(block)
    return buffer.getvalue()


@dataclass
class HostileServer:
    behaviour: Behaviour
    requests: list[HostileRequest] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(SERVE_POLL_SECONDS)
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for sock in self._connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._connections.append(sock)
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        try:
            request = _read_request(sock)
            if request is None:
                return
            self.requests.append(request)
            self.behaviour(request, Connection(sock, self.stopping))
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _read_request(sock: socket.socket) -> HostileRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece or len(data) > 1024 * 1024:
            return None
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return HostileRequest(method, path, headers, body)
