"""Hostile servers and hostile credentials against chat and smoke (issue 12, "Client tools").

Every case runs against a loopback server that misbehaves byte for byte, and asserts the four
things the issue asks for: a clear error (exit status and a phrase), no traceback, no credential
anywhere in stdout or stderr, and a bounded run: wall time under a few seconds and, where the
server sends without end, Python's peak allocation under a bound.
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients import chat, smoke
from tests.support.fake_vllm import FakeCredential, FakeVllm, install_fake_pulumi, stack_outputs
from tests.support.hostile_http import Connection, HostileRequest, HostileServer, gzip_bomb

pytestmark = pytest.mark.usefixtures("isolated_environment")

KEY = "sk-hostile-0123456789abcdef"
MEMORY_BOUND = 96 * 1024 * 1024
SSE = {
    "Content-Type": "text/event-stream",
    "Transfer-Encoding": "chunked",
    "x-request-id": "req-77",
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_bytes: int

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(tool: Callable[..., int], *argv: str, credential: Any = None, **kwargs: Any) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    tracemalloc.start()
    started = time.monotonic()
    try:
        code = tool(list(argv), stdout=stdout, stderr=stderr, credential=credential, **kwargs)
    finally:
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return Run(code, stdout.getvalue(), stderr.getvalue(), seconds, peak)


# The --timeout of most cases here: room for an answer on a loaded machine.
TIMEOUT = "1.5"
# The --timeout of the cases that must end on it (endless, trickled, silent servers): short, so each
# proves the deadline holds without the suite waiting 1.5 s on every one; the cases bounded by size
# keep TIMEOUT, so that the size bound, not the deadline, is what ends them.
DEADLINE = "0.3"


def ask(server: HostileServer, *extra: str, key: str = KEY, timeout: str = TIMEOUT) -> Run:
    argv = ["--base-url", server.base_url, "--api-key", key, "--timeout", timeout, *extra, "q"]
    return run(chat.main, *argv, stdin=io.StringIO(""))


def assert_clean(result: Run, code: int, *phrases: str, secrets: tuple[str, ...] = (KEY,)) -> None:
    assert result.code == code, result.output
    for phrase in phrases:
        assert phrase in result.output, result.output
    assert "Traceback" not in result.output
    for secret in secrets:
        assert secret not in result.output
        assert secret.strip() not in result.output
    assert result.seconds < 6, result.seconds


def chunk_event(**fields: Any) -> bytes:
    event = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    event.update(fields)
    return f"data: {json.dumps(event)}\n\n".encode()


def stream_of(*events: bytes, done: bool = True) -> Callable[[HostileRequest, Connection], None]:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.head(200, SSE)
        for event in events:
            connection.chunk(event)
        if done:
            connection.chunk(b"data: [DONE]\n\n")
        connection.chunk(b"")

    return behaviour


# --- endless, trickled and oversized answers: the deadline and the size bounds -------------------


def _endless_keepalive(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, SSE)
    connection.forever(b": keep-alive\n\n", pause=0.01)


def _endless_content(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, SSE)
    connection.forever(chunk_event(), pause=0.001)


def _endless_line(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, SSE)
    connection.chunk(b"data: ")
    connection.forever(b"x" * 65536)


def _trickled_body(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, {"Content-Type": "application/json", "Content-Length": "100000"})
    connection.forever(b" ", pause=0.05, chunked=False)


def _trickled_head(_: HostileRequest, connection: Connection) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10000:
        if not connection.send(bytes([byte])):
            return
        time.sleep(0.05)


def _silent(_: HostileRequest, connection: Connection) -> None:
    connection.stopping.wait(10)


def _gzip_bomb_stream(_: HostileRequest, connection: Connection) -> None:
    bomb = gzip_bomb(128)
    connection.answer(
        200, bomb, {**SSE, "Content-Encoding": "gzip", "Transfer-Encoding": "identity"}
    )


def _gzip_bomb_json(_: HostileRequest, connection: Connection) -> None:
    connection.answer(
        200, gzip_bomb(128), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


def _huge_json(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, {"Content-Type": "application/json", "Content-Length": str(10**9)})
    connection.forever(b" " * 65536, chunked=False)


BOUNDED = [
    pytest.param(
        _endless_keepalive, f"within {DEADLINE} s", (), DEADLINE, id="endless-sse-keepalive"
    ),
    pytest.param(_endless_content, f"within {DEADLINE} s", (), DEADLINE, id="endless-sse-content"),
    pytest.param(_endless_line, "stream line longer than", (), TIMEOUT, id="endless-line"),
    pytest.param(
        _trickled_body, f"within {DEADLINE} s", ("--no-stream",), DEADLINE, id="trickled-body"
    ),
    pytest.param(_trickled_head, f"within {DEADLINE} s", (), DEADLINE, id="trickled-headers"),
    pytest.param(_silent, f"within {DEADLINE} s", (), DEADLINE, id="silent-server"),
    pytest.param(_gzip_bomb_stream, "stream line longer than", (), TIMEOUT, id="gzip-bomb-stream"),
    pytest.param(_gzip_bomb_json, "too large", ("--no-stream",), TIMEOUT, id="gzip-bomb-json"),
    pytest.param(_huge_json, "too large", ("--no-stream",), TIMEOUT, id="endless-json-body"),
]


@pytest.mark.parametrize(("behaviour", "phrase", "extra", "timeout"), BOUNDED)
def test_time_and_memory_are_bounded(behaviour, phrase, extra, timeout) -> None:
    gzip_bomb(128)  # built (once) before the clock starts: the server only sends it
    with HostileServer(behaviour) as server:
        result = ask(server, *extra, timeout=timeout)
    assert_clean(result, 1, phrase)
    assert result.peak_bytes < MEMORY_BOUND, result.peak_bytes


def test_a_gzip_answer_within_the_limits_is_read(fake: FakeVllm | None = None) -> None:
    import gzip

    body = gzip.compress(json.dumps({"object": "list", "data": [{"id": "m"}]}).encode())

    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.answer(
            200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    with HostileServer(behaviour) as server:
        result = run(smoke.main, "--base-url", server.base_url, "--api-key", KEY, "--timeout", "2")
    assert "GET /v1/models lists m" in result.stdout


# --- JSON of the wrong shape: "unexpected response" with the request id -----------------------

WRONG_SHAPES = [
    pytest.param(chunk_event(choices="abc"), id="choices-str"),
    pytest.param(chunk_event(choices=[{"delta": "x"}]), id="delta-str"),
    pytest.param(chunk_event(choices=[{"delta": {"content": 5}}]), id="content-int"),
    pytest.param(chunk_event(choices=[{"delta": {"reasoning": ["x"]}}]), id="reasoning-list"),
    pytest.param(chunk_event(usage="x"), id="usage-str"),
    pytest.param(chunk_event(id=5), id="id-int"),
    pytest.param(chunk_event(model=7), id="model-int"),
    pytest.param(chunk_event(choices=[{"finish_reason": 3}]), id="finish-int"),
    pytest.param(chunk_event(choices=["x"]), id="choice-str"),
    pytest.param(b"data: [1, 2]\n\n", id="event-list"),
    pytest.param(b"data: {not json\n\n", id="event-not-json"),
]


@pytest.mark.parametrize("event", WRONG_SHAPES)
def test_wrong_shaped_stream_is_an_unexpected_response(event: bytes) -> None:
    with HostileServer(stream_of(event)) as server:
        result = ask(server)
    assert_clean(result, 1, "unexpected response", "req-77")


WHOLE_SHAPES = [
    pytest.param({"choices": "abc"}, id="choices-str"),
    pytest.param({"choices": []}, id="choices-empty"),
    pytest.param({"choices": [{"message": "x"}]}, id="message-str"),
    pytest.param({"choices": [{"message": {"content": 5}}]}, id="content-int"),
    pytest.param({"choices": [{"message": {"content": "a"}}], "usage": "x"}, id="usage-str"),
    pytest.param({"id": 5, "choices": [{"message": {"content": "a"}}]}, id="id-int"),
    pytest.param([1, 2], id="list"),
    pytest.param("just a string", id="string"),
]


@pytest.mark.parametrize("payload", WHOLE_SHAPES)
def test_wrong_shaped_completion_is_an_unexpected_response(payload: Any) -> None:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.json(200, payload, {"x-request-id": "req-77"})

    with HostileServer(behaviour) as server:
        result = ask(server, "--no-stream")
    assert_clean(result, 1, "unexpected response", "req-77")


@pytest.mark.parametrize(
    "payload",
    [{"data": "x"}, {"data": [{"id": 5}]}, {"data": ["m"]}, [], "html"],
    ids=["data-str", "id-int", "item-str", "list", "string"],
)
def test_wrong_shaped_model_list_is_an_unexpected_response(payload: Any) -> None:
    def behaviour(request: HostileRequest, connection: Connection) -> None:
        connection.json(200, payload, {"x-request-id": "req-77"})

    with HostileServer(behaviour) as server:
        result = run(smoke.main, "--base-url", server.base_url, "--api-key", KEY, "--timeout", "2")
    assert_clean(result, 1, "unexpected response to GET /v1/models", "req-77")


# --- credentials never printed ------------------------------------------------------------------


def _echo_key_everywhere(request: HostileRequest, connection: Connection) -> None:
    key = request.headers.get("authorization", "")
    body = json.dumps({"error": {"message": f"bad credential {key} / {key[7:]!r}"}}).encode()
    connection.answer(401, body, {"x-request-id": key[7:], "Content-Type": "application/json"})


def _echo_key_in_the_answer(request: HostileRequest, connection: Connection) -> None:
    key = request.headers.get("authorization", "")[7:]
    halves = (key[: len(key) // 2], key[len(key) // 2 :])
    events = [chunk_event(choices=[{"delta": {"content": half}}]) for half in halves]
    stream_of(*events)(request, connection)


def test_a_server_that_echoes_the_key_in_body_and_headers_gets_it_masked() -> None:
    with HostileServer(_echo_key_everywhere) as server:
        result = ask(server)
    assert_clean(result, 1, "HTTP 401", "[redacted]")


def test_a_key_echoed_across_two_stream_deltas_is_masked() -> None:
    with HostileServer(_echo_key_in_the_answer) as server:
        result = ask(server)
    assert_clean(result, 0, "[redacted]")


@pytest.mark.parametrize(
    "key",
    [KEY + "\n", KEY + "\r\n", "\r\n" + KEY + "\r"],
    ids=["lf", "crlf", "cr-around"],
)
def test_a_key_with_a_line_break_around_it_is_trimmed_and_never_printed(key: str) -> None:
    with HostileServer(_echo_key_everywhere) as server:
        result = ask(server, key=key)
        (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert_clean(result, 1, "HTTP 401", secrets=(key, KEY))


@pytest.mark.parametrize(
    ("key", "phrase"),
    [
        ("sk-part-one\r\nX-Injected: yes", "a line break at position 12"),
        ("sk-part-one\nsk-part-two", "a line break at position 12"),
        ("sk-ключ-секрет-1234", "outside ASCII at position 4"),
        ("sk-emoji-\U0001f511-key", "outside ASCII at position 10"),
        ("sk with spaces inside", "a space or a character outside ASCII"),
    ],
    ids=["crlf-inside", "lf-inside", "cyrillic", "emoji", "spaces"],
)
def test_a_key_that_cannot_be_a_header_is_refused_without_echo(key: str, phrase: str) -> None:
    with HostileServer(_echo_key_everywhere) as server:
        result = ask(server, key=key)
        assert server.requests == []
    assert_clean(result, 1, phrase, "copy the key again", secrets=(key, *key.split()))


def test_user_info_in_the_base_url_is_refused_and_not_printed() -> None:
    url = "https://admin:hunter2-secret@e.eastus2.inference.ml.azure.com/v1"
    result = run(chat.main, "--base-url", url, "--api-key", KEY, "q", stdin=io.StringIO(""))
    assert_clean(result, 2, "user info", secrets=(KEY, "hunter2-secret", "admin:"))


def test_user_info_in_a_redirect_target_is_not_printed() -> None:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.answer(307, b"", {"Location": "https://u:pw-0123456789@evil.example/v1/x"})

    with HostileServer(behaviour) as server:
        result = ask(server)
    assert_clean(result, 1, "redirect to evil.example", secrets=(KEY, "pw-0123456789"))


def test_pulumi_failing_with_empty_stderr_never_prints_its_stdout(
    isolated_environment: Path,
) -> None:
    with FakeVllm() as fake:
        install_fake_pulumi(isolated_environment, stack_outputs(fake, primaryKey=KEY), exit_code=1)
        result = run(chat.main, "--stack", "prod", "q", stdin=io.StringIO(""))
    assert_clean(result, 2, "`pulumi stack output` failed", "no message on stderr")
    assert "primaryKey" not in result.output


def test_a_credential_error_that_quotes_a_secret_is_masked(monkeypatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "client-secret-value-42")
    failing = FakeCredential(error=RuntimeError("token request with client-secret-value-42 failed"))
    with HostileServer(_silent) as server:
        result = run(
            chat.main,
            "--base-url",
            server.base_url,
            "--aad",
            "q",
            credential=failing,
            stdin=io.StringIO(""),
        )
    assert_clean(result, 1, "could not get an Entra ID token", secrets=("client-secret-value-42",))


def test_an_unforeseen_exception_is_a_message_with_secrets_masked() -> None:
    class Exploding:
        def get_token(self, *scopes: str, **_: Any) -> Any:
            return type("T", (), {"token": KEY})()

    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.json(200, {"choices": [{"message": {"content": "ok"}}]})

    with HostileServer(behaviour) as server:
        # A printer that breaks mid-answer: the escape hatch in clients.cli turns it into a message.
        class Broken(io.StringIO):
            def write(self, text: str) -> int:
                raise OSError(f"disk full while writing {KEY}")

        stderr = io.StringIO()
        code = chat.main(
            ["--base-url", server.base_url, "--aad", "--no-stream", "q"],
            stdout=Broken(),
            stderr=stderr,
            stdin=io.StringIO(""),
            credential=Exploding(),
        )
    assert code == 1
    assert "unexpected failure (OSError)" in stderr.getvalue()
    assert KEY not in stderr.getvalue()
    assert "Traceback" not in stderr.getvalue()


# --- where the key and the prompt may go ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://e.eastus2.inference.ml.azure.com/v1", "http://10.0.0.4/v1", "http://[2001:db8::1]/v1"],
    ids=["azure-host", "private-ip", "ipv6"],
)
def test_a_key_over_plain_http_off_loopback_is_refused(url: str) -> None:
    result = run(chat.main, "--base-url", url, "--api-key", KEY, "q", stdin=io.StringIO(""))
    assert_clean(result, 1, "refusing to send the endpoint's credential over plain http")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_prompt_never_re_sent(status: int) -> None:
    with HostileServer(stream_of(chunk_event())) as elsewhere:

        def behaviour(_: HostileRequest, connection: Connection) -> None:
            connection.answer(status, b"", {"Location": elsewhere.base_url + "/chat/completions"})

        with HostileServer(behaviour) as server:
            result = ask(server)
        assert elsewhere.requests == []
    assert_clean(result, 1, f"HTTP {status}", "not followed")


def test_a_redirect_of_the_model_list_is_not_followed() -> None:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.answer(302, b"", {"Location": "https://elsewhere.example/v1/models"})

    with HostileServer(behaviour) as server:
        result = run(smoke.main, "--base-url", server.base_url, "--api-key", KEY, "--timeout", "2")
        assert {r.method for r in server.requests} <= {"GET", "POST"}
    assert_clean(result, 1, "redirect to elsewhere.example", "not followed")


def test_a_connection_closed_before_any_answer_is_explained() -> None:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        return None

    with HostileServer(behaviour) as server:
        result = ask(server)
    assert_clean(result, 1, "request to", "failed")


def test_an_unsupported_content_encoding_is_explained() -> None:
    def behaviour(_: HostileRequest, connection: Connection) -> None:
        connection.answer(
            200, b"\x00\x01", {**SSE, "Content-Encoding": "br", "Transfer-Encoding": "identity"}
        )

    with HostileServer(behaviour) as server:
        result = ask(server)
    assert_clean(result, 1, "unsupported encoding 'br'")
