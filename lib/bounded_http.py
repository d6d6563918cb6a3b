"""HTTP with an overall deadline and bounded sizes, for the client tools and the ARM client.

``requests`` times out per socket read, so a server that trickles a byte every few seconds, or
streams server-sent events forever, keeps a call alive without end; it also inflates gzip bodies
without a bound. This module speaks HTTP/1.1 through :mod:`http.client`, where every piece is in
our hands:

* one deadline per call: connect, send, headers and body all finish by it. A watchdog shuts the
  socket down when it passes, which wakes a read blocked on a trickle; every socket read also
  times out at the time left;
* bodies are read in bounded pieces and refused past ``max_bytes`` (after decompression);
* ``Accept-Encoding: identity`` is asked for; a gzip or deflate body sent anyway is inflated with a
  bounded ``zlib`` output (a gzip bomb stops at the limit, not at the memory);
* redirects are never followed (the caller decides, and the callers here refuse them);
* ``HTTPS_PROXY``/``NO_PROXY`` are honoured for https (a CONNECT tunnel), loopback never proxied.

http.client itself bounds a header line to 64 KiB and a response to 100 headers.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass

READ_SIZE = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0


class HttpError(Exception):
    """A call that got no usable HTTP answer. ``kind`` is one of: ``deadline``, ``too_large``,
    ``connect``, ``tls``, ``protocol``, ``encoding``, ``refused``."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: traffic that never leaves the machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Deadline:
    """An absolute time by which a call must be over."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


def _tls_context() -> ssl.SSLContext:
    # The CA bundle requests would use (REQUESTS_CA_BUNDLE, else certifi's), so a corporate CA set
    # up for the Azure CLI and requests works here too.
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if not bundle:
        try:
            import certifi

            bundle = certifi.where()
        except ImportError:
            bundle = None
    return ssl.create_default_context(cafile=bundle)


class Response:
    """Status and headers of an answer; the body is read through :meth:`chunks` or :meth:`read`."""

    def __init__(
        self,
        connection: http.client.HTTPConnection,
        raw: http.client.HTTPResponse,
        url: str,
        deadline: Deadline,
        watchdog: threading.Timer,
    ):
        self._connection = connection
        self._raw = raw
        self._deadline = deadline
        self._watchdog = watchdog
        self.url = url
        self.status: int = raw.status
        self.reason: str = raw.reason
        self.headers: Message = raw.headers

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name)
        return default if value is None else str(value)

    def chunks(self, max_bytes: int) -> Iterator[bytes]:
        """The body as it arrives, decoded, at most ``max_bytes`` in all (else ``too_large``)."""
        encoding = self.header("Content-Encoding").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise HttpError("encoding", f"the body is in an unsupported encoding {encoding!r}")
        # wbits 47 = 32 + 15: zlib detects gzip or zlib framing itself.
        inflater = zlib.decompressobj(47) if encoding not in ("", "identity") else None
        total = 0
        while True:
            piece = self._read1()
            if not piece:
                # The watchdog's shutdown reads as a clean end of file: tell the two apart.
                if self._deadline.expired():
                    raise _expired(self._deadline)
                if self._raw.length:
                    raise HttpError("protocol", "the answer ended before its Content-Length")
                return
            outputs = [piece] if inflater is None else self._inflate(inflater, piece, max_bytes)
            for output in outputs:
                total += len(output)
                if total > max_bytes:
                    raise HttpError("too_large", f"the body is larger than {max_bytes} bytes")
                yield output

    @staticmethod
    def _inflate(inflater: zlib._Decompress, data: bytes, max_bytes: int) -> Iterator[bytes]:
        # Inflate in bounded steps: one compressed megabyte can hold a gigabyte of zeros.
        try:
            while data:
                output = inflater.decompress(data, READ_SIZE)
                data = inflater.unconsumed_tail
                if output:
                    yield output
                if inflater.eof:
                    return
        except zlib.error as error:
            raise HttpError("encoding", f"the compressed body is corrupt ({error})") from None

    def read(self, max_bytes: int) -> bytes:
        """The whole body, decoded, refused past ``max_bytes``."""
        return b"".join(self.chunks(max_bytes))

    def _read1(self) -> bytes:
        timeout = self._deadline.remaining()
        if timeout <= 0:
            raise _expired(self._deadline)
        sock = self._connection.sock
        if sock is not None:
            sock.settimeout(min(timeout, 60.0))
        try:
            return self._raw.read1(READ_SIZE)
        except (OSError, http.client.HTTPException) as error:
            if self._deadline.expired():
                raise _expired(self._deadline) from None
            raise HttpError("protocol", f"the answer broke off: {type(error).__name__}") from None

    def close(self) -> None:
        self._watchdog.cancel()
        self._connection.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _expired(deadline: Deadline) -> HttpError:
    return HttpError("deadline", f"no complete answer within {deadline.seconds:g} s")


def _proxy_for(scheme: str, host: str) -> str | None:
    if is_loopback(host) or proxy_bypass(host):
        return None
    return getproxies_environment().get(scheme)


def _connection(scheme: str, host: str, port: int | None, timeout: float):
    proxy = _proxy_for(scheme, host) if scheme == "https" else None
    if scheme == "https":
        context = _tls_context()
        if proxy:
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            connection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port or 8080, timeout=timeout, context=context
            )
            connection.set_tunnel(host, port or 443)
            return connection
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def _shutdown(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None = None,
    deadline: Deadline | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Response:
    """Send one request and return once the status and headers are in, within ``deadline``.

    The caller reads the body from the returned :class:`Response` and closes it. Header values must
    already be visible ASCII (callers check credentials before they get here)."""
    deadline = deadline or Deadline(60.0)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError("refused", "only http and https URLs are called")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection = _connection(
        parts.scheme, parts.hostname, parts.port, min(connect_timeout, deadline.remaining())
    )
    watchdog = threading.Timer(max(deadline.remaining(), 0.0), _shutdown, args=(connection,))
    watchdog.daemon = True
    phase = "connect"
    try:
        if deadline.expired():
            raise _expired(deadline)
        # Started before connect: a TLS handshake trickled byte by byte is cut off too.
        watchdog.start()
        connection.connect()
        phase = "protocol"
        if connection.sock is not None:
            connection.sock.settimeout(min(max(deadline.remaining(), 0.001), 60.0))
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {"Accept-Encoding": "identity", **headers}.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        raw = connection.getresponse()
    except HttpError:
        watchdog.cancel()
        connection.close()
        raise
    except ssl.SSLError as error:
        watchdog.cancel()
        connection.close()
        raise HttpError("tls", f"TLS with {parts.hostname} failed: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:
        watchdog.cancel()
        connection.close()
        if deadline.expired():
            raise _expired(deadline) from None
        kind = phase
        reason = str(error)[:200] or type(error).__name__
        raise HttpError(kind, f"{reason} (talking to {parts.hostname})") from None
    return Response(connection, raw, url, deadline, watchdog)
