"""Faulty and hostile ARM answers against the ARM client and the dynamic providers (issue 12,
"ARM client"), over loopback HTTP.

Each case asserts a clear ArmError (code and a phrase), a bounded run (the sleeps the client asked
for, and wall time), and that the token never leaves for another origin nor shows in a message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError

from components.registry_import import RegistryImportProvider
from components.traffic import EndpointTrafficProvider
from lib import arm as arm_module
from lib.arm import ARM_ORIGINS, LOGIN_HELP, ArmClient, ArmError, retry_after
from tests.support.fake_arm import FakeArm, FakeArmServer, FakeCredential, Operation
from tests.support.hostile_http import Connection, HostileRequest, HostileServer, gzip_bomb

TOKEN = "fake-arm-token"
RESOURCE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e"
)
API = "2025-12-01"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArmServer(FakeArm(polls=2)) as arm:
        yield arm


def client_for(
    fake: FakeArm | HostileServer, sleeps: Sleeps | None = None, **kwargs: Any
) -> ArmClient:
    base = fake.base_url if isinstance(fake, FakeArm) else fake.origin
    return ArmClient(
        FakeCredential(TOKEN),
        base_url=base,
        sleep=sleeps if sleeps is not None else Sleeps(),
        **kwargs,
    )


def answer(
    fake: FakeArm,
    method: str,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
    times: int = 1_000,
):
    remaining = [times]

    def handler(_: FakeArm, request) -> Any:
        if (
            request.method == method
            and not request.path.startswith(("/operations", "/locations"))
            and remaining[0]
        ):
            remaining[0] -= 1
            return status, body, headers or {}
        return None

    fake.handlers.append(handler)


def assert_arm_error(caught: pytest.ExceptionInfo[ArmError], code: str, *phrases: str) -> None:
    assert caught.value.code == code, str(caught.value)
    for phrase in phrases:
        assert phrase in str(caught.value)
    assert TOKEN not in str(caught.value)


# --- Retry-After: capped, every form -------------------------------------------------------------

IN_A_DAY = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
AN_HOUR_AGO = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)

RETRY_AFTER = [
    pytest.param("86400", 60.0, id="a-day"),
    pytest.param("inf", 60.0, id="inf"),
    pytest.param("1e308", 60.0, id="huge"),
    pytest.param("-5", 10.0, id="negative"),
    pytest.param("nan", 10.0, id="nan"),
    pytest.param("soon", 10.0, id="garbage"),
    pytest.param("", 10.0, id="empty"),
    pytest.param(IN_A_DAY, 60.0, id="http-date-tomorrow"),
    pytest.param(AN_HOUR_AGO, 0.0, id="http-date-past"),
    pytest.param("Mon, 99 Foo 2026 99:99:99 GMT", 10.0, id="http-date-garbled"),
    pytest.param("7", 7.0, id="seconds"),
]


@pytest.mark.parametrize(("header", "expected"), RETRY_AFTER)
def test_retry_after_is_capped_in_every_form(
    fake: FakeArm, sleeps: Sleeps, header: str, expected: float
) -> None:
    answer(
        fake,
        "GET",
        503,
        {"error": {"code": "Busy", "message": "later"}},
        {"Retry-After": header},
        times=1,
    )
    assert client_for(fake, sleeps).get(RESOURCE, API) is None
    assert sleeps == [expected]


def test_retry_after_is_parsed_without_overflow() -> None:
    for value in ("inf", "-inf", "1e999", "9" * 400):
        assert 0 <= retry_after({"Retry-After": value}, 3.0) <= arm_module.MAX_RETRY_AFTER_SECONDS


def test_retry_after_zero_on_an_operation_polls_at_most_once_a_second(
    fake: FakeArm, sleeps: Sleeps
) -> None:
    # Without the fast_polls fixture: the production floor applies.
    fake.polls = 5
    client_for(fake, sleeps, poll_interval=0.0).put(RESOURCE, API, {"properties": {}})
    assert len(sleeps) == 5
    assert min(sleeps) >= 1.0


def test_waits_never_run_past_the_call_deadline(fake: FakeArm, sleeps: Sleeps) -> None:
    answer(fake, "GET", 503, {"error": {"code": "Busy", "message": "later"}}, {"Retry-After": "60"})
    with pytest.raises(ArmError) as caught:
        client_for(fake, sleeps, timeout=30).get(RESOURCE, API)
    assert caught.value.status == 503
    assert sum(sleeps) < 30


def test_an_operation_that_never_ends_times_out_within_the_call_deadline(monkeypatch) -> None:
    # Real sleeps: the deadline is wall time. The poll floor is a third of the production one (1 s,
    # which test_retry_after_zero_on_an_operation_polls_at_most_once_a_second checks), so that
    # the deadline cuts in after three polls in one second instead of two in 2.5 s.
    monkeypatch.setattr(ArmClient, "min_poll_seconds", 0.3)
    with FakeArmServer(FakeArm(polls=10**6)) as fake:
        client = ArmClient(FakeCredential(TOKEN), base_url=fake.base_url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(ArmError) as caught:
            client.put(RESOURCE, API, {})
    assert_arm_error(caught, "Timeout", "still running")
    assert time.monotonic() - started < 2.5


# --- the token goes to ARM only ------------------------------------------------------------------


def _operation_elsewhere(header: str, target: str, status: int = 201):
    def handler(_: FakeArm, request) -> Any:
        if request.method in ("PUT", "DELETE", "POST") and not request.path.startswith("/op"):
            return status, {}, {header: target}
        return None

    return handler


@pytest.mark.parametrize(
    ("header", "status"),
    [("Azure-AsyncOperation", 201), ("Location", 202)],
    ids=["async-operation", "location"],
)
def test_an_operation_url_on_another_origin_is_an_error_and_gets_no_token(
    fake: FakeArm, header: str, status: int
) -> None:
    with FakeArmServer(FakeArm()) as elsewhere:
        fake.handlers.append(
            _operation_elsewhere(header, f"{elsewhere.base_url}/operations/x", status)
        )
        with pytest.raises(ArmError) as caught:
            client_for(fake).put(RESOURCE, API, {})
        assert elsewhere.requests == []
    assert_arm_error(caught, "UntrustedHost", "127.0.0.1", "the call stops")


@pytest.mark.parametrize(
    "target",
    [
        "https://management.azure.com.evil.example/operations/x",
        "https://evil.example/operations/x",
        "http://management.azure.com/operations/x",
        "https://management.azure.com:8443/operations/x",
        "https://user:pw@management.azure.com@evil.example/x",
        "//evil.example/x",
    ],
    ids=["suffix-host", "other-host", "plain-http", "other-port", "userinfo-trick", "no-scheme"],
)
def test_the_production_origin_accepts_no_lookalike(target: str) -> None:
    client = ArmClient(FakeCredential(TOKEN))
    with pytest.raises(ArmError) as caught:
        client._send("GET", target)
    assert_arm_error(caught, "UntrustedHost")


def test_a_next_link_to_another_origin_is_an_error(fake: FakeArm) -> None:
    answer(fake, "GET", 200, {"value": [1], "nextLink": "https://evil.example/page2"})
    with pytest.raises(ArmError) as caught:
        client_for(fake).list(RESOURCE + "/deployments", API)
    assert_arm_error(caught, "UntrustedHost", "evil.example")


@pytest.mark.parametrize(
    "base_url",
    ["http://management.azure.com", "http://10.1.2.3:8080", "ftp://management.azure.com"],
)
def test_an_insecure_arm_url_is_refused(base_url: str) -> None:
    with pytest.raises(ArmError) as caught:
        ArmClient(FakeCredential(TOKEN), base_url=base_url)
    assert_arm_error(caught, "InsecureArmUrl", "https")


@pytest.mark.parametrize("cloud", sorted(ARM_ORIGINS))
def test_the_cloud_picks_the_arm_origin_and_the_token_scope(cloud: str, monkeypatch) -> None:
    monkeypatch.setenv("ARM_ENVIRONMENT", cloud)
    client = ArmClient(FakeCredential(TOKEN))
    assert client.base_url == ARM_ORIGINS[cloud]
    assert client.scope == ARM_ORIGINS[cloud] + "/.default"


def test_an_unknown_cloud_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("ARM_ENVIRONMENT", "azurestack")
    with pytest.raises(ArmError) as caught:
        ArmClient(FakeCredential(TOKEN))
    assert_arm_error(caught, "UnknownCloud", "public, usgovernment, china")


def test_a_token_echoed_in_an_error_body_is_masked(fake: FakeArm) -> None:
    answer(fake, "GET", 400, {"error": {"code": TOKEN, "message": f"bad token {TOKEN}"}})
    with pytest.raises(ArmError) as caught:
        client_for(fake).get(RESOURCE, API)
    assert_arm_error(caught, "[redacted]", "[redacted]")


# --- an empty or garbled 200 is an error, never "missing" ----------------------------------------

GARBLED = [
    pytest.param(b"", "an empty body", id="empty"),
    pytest.param(b"   \n", "an empty body", id="whitespace"),
    pytest.param(b"<html>gateway</html>", "not a JSON object", id="html"),
    pytest.param(b'{"properties": ', "not a JSON object", id="truncated"),
    pytest.param(b"[1, 2]", "not a JSON object", id="array"),
    pytest.param(b'"text"', "not a JSON object", id="string"),
    pytest.param(b"null", "not a JSON object", id="null"),
]


@pytest.mark.parametrize(("body", "phrase"), GARBLED)
def test_a_garbled_200_is_an_error_not_missing(fake: FakeArm, body: bytes, phrase: str) -> None:
    answer(fake, "GET", 200, body)
    with pytest.raises(ArmError) as caught:
        client_for(fake).get(RESOURCE, API)
    assert_arm_error(caught, "InvalidResponse", phrase)


@pytest.mark.parametrize(("body", "phrase"), GARBLED[:3])
def test_a_garbled_operation_status_is_an_error(fake: FakeArm, body: bytes, phrase: str) -> None:
    def handler(_: FakeArm, request) -> Any:
        if request.method == "PUT":
            return 201, {}, {"Azure-AsyncOperation": f"{fake.base_url}/garbled/op"}
        if request.path == "/garbled/op":
            return 200, body, {}
        return None

    fake.handlers.append(handler)
    with pytest.raises(ArmError) as caught:
        client_for(fake).put(RESOURCE, API, {})
    assert_arm_error(caught, "InvalidResponse", phrase)


@pytest.mark.parametrize("status_body", [{}, {"status": ""}, {"status": 5}, {"status": None}])
def test_an_operation_status_without_a_state_fails_after_bounded_polls(
    fake: FakeArm, sleeps: Sleeps, status_body
) -> None:
    def handler(_: FakeArm, request) -> Any:
        if request.method == "PUT":
            return 201, {}, {"Azure-AsyncOperation": f"{fake.base_url}/stateless/op"}
        if request.path == "/stateless/op":
            return 200, status_body, {}
        return None

    fake.handlers.append(handler)
    with pytest.raises(ArmError) as caught:
        client_for(fake, sleeps).put(RESOURCE, API, {})
    assert_arm_error(caught, "OperationStatusMissing", "no `status`")
    assert len(sleeps) == arm_module.MAX_POLLS_WITHOUT_STATUS


def test_a_failed_operation_with_a_malformed_error_is_still_clear(fake: FakeArm) -> None:
    def handler(_: FakeArm, request) -> Any:
        if request.method == "PUT":
            url = fake.new_operation(Operation(1, outcome="Failed", error="boom"))  # type: ignore[arg-type]
            return 201, {}, {"Azure-AsyncOperation": url}
        return None

    fake.handlers.append(handler)
    with pytest.raises(ArmError) as caught:
        client_for(fake).put(RESOURCE, API, {})
    assert_arm_error(caught, "Failed", "asynchronous operation failed")


def test_an_error_body_of_the_wrong_shape_is_still_clear(fake: FakeArm) -> None:
    answer(fake, "GET", 400, {"error": {"code": 5, "message": ["a", "b"]}})
    with pytest.raises(ArmError) as caught:
        client_for(fake).get(RESOURCE, API)
    assert caught.value.status == 400
    assert "['a', 'b']" in str(caught.value)


# --- the dynamic providers read an error as an error ---------------------------------------------


def traffic_provider(fake: FakeArm) -> EndpointTrafficProvider:
    return EndpointTrafficProvider(client_factory=lambda: client_for(fake))


PROPS = {
    "endpoint_id": RESOURCE,
    "api_version": API,
    "traffic": {"blue": 100},
    "mirror_traffic": {},
}


@pytest.mark.parametrize("body", [b"", b"<html>"], ids=["empty", "garbled"])
def test_refresh_keeps_endpoint_traffic_when_the_endpoint_read_is_garbled(
    fake: FakeArm, body: bytes
) -> None:
    answer(fake, "GET", 200, body)
    with pytest.raises(ArmError) as caught:
        traffic_provider(fake).read(RESOURCE + "/traffic", dict(PROPS))
    assert_arm_error(caught, "InvalidResponse")


@pytest.mark.parametrize("body", [b"", b"<html>"], ids=["empty", "garbled"])
def test_destroy_does_not_skip_clearing_traffic_when_the_read_is_garbled(
    fake: FakeArm, body: bytes
) -> None:
    fake.resources[RESOURCE.lower()] = {"properties": {"traffic": {"blue": 100}}}
    answer(fake, "GET", 200, body)
    with pytest.raises(ArmError) as caught:
        traffic_provider(fake).delete(RESOURCE + "/traffic", dict(PROPS))
    assert_arm_error(caught, "InvalidResponse")
    assert fake.writes() == []


def test_an_update_on_a_garbled_read_says_so_not_404(fake: FakeArm) -> None:
    answer(fake, "GET", 200, b"")
    with pytest.raises(ArmError) as caught:
        traffic_provider(fake).update(RESOURCE + "/traffic", dict(PROPS), dict(PROPS))
    assert_arm_error(caught, "InvalidResponse")
    assert caught.value.status == 200


def test_refresh_of_a_gone_endpoint_still_drops_the_resource(fake: FakeArm) -> None:
    result = traffic_provider(fake).read(RESOURCE + "/traffic", dict(PROPS))
    assert result.id == ""


@pytest.mark.usefixtures("fast_polls")  # the poll floor is not what this checks; it waited 1 s
def test_an_import_whose_final_answer_is_garbled_fails(fake: FakeArm) -> None:
    def handler(_: FakeArm, request) -> Any:
        if request.method == "POST":
            return 202, None, {"Location": f"{fake.base_url}/garbled/loc"}
        if request.path == "/garbled/loc":
            return 200, b"<html>", {}
        return None

    fake.handlers.append(handler)
    provider = RegistryImportProvider(
        FakeCredential(TOKEN), base_url=fake.base_url, poll_interval=0
    )
    props = {
        "registry_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
        "source_registry": "docker.io",
        "source_image": "vllm/vllm-openai@sha256:" + "0" * 64,
        "target_tag": "vllm:sha256-0",
        "target_reference": "r.azurecr.io/vllm@sha256:" + "0" * 64,
    }
    with pytest.raises(ArmError) as caught:
        provider.create(props)
    assert_arm_error(caught, "InvalidResponse")


# --- credentials: every failure wrapped with what to do ------------------------------------------


class Failing:
    def __init__(self, error: BaseException | None = None, token: Any = "x"):  # noqa: S107
        self.error, self.token = error, token

    def get_token(self, *scopes: str, **_: Any) -> Any:
        if self.error is not None:
            raise self.error
        return type("AccessToken", (), {"token": self.token})()


@pytest.mark.parametrize(
    "credential",
    [
        Failing(ClientAuthenticationError("DefaultAzureCredential failed")),
        Failing(CredentialUnavailableError("Please run 'az login'")),
        Failing(RuntimeError("the Azure CLI crashed")),
        Failing(OSError("az: not found")),
        Failing(ValueError("")),
        Failing(token=None),
        Failing(token=""),
    ],
    ids=[
        "client-auth",
        "unavailable",
        "runtime",
        "os",
        "empty-message",
        "none-token",
        "empty-token",
    ],
)
def test_every_credential_failure_is_wrapped_with_what_to_do(
    fake: FakeArm, credential: Failing
) -> None:
    client = ArmClient(credential, base_url=fake.base_url)
    with pytest.raises(ArmError) as caught:
        client.get(RESOURCE, API)
    assert_arm_error(caught, "NotLoggedIn", LOGIN_HELP)
    assert fake.requests == []


# --- bodies: a deadline, not only a per-read timeout; a size bound --------------------------------


def _trickle(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, {"Content-Type": "application/json", "Content-Length": "5000"})
    for _ in range(5000):
        if not connection.send(b" "):
            return
        time.sleep(0.05)


def _trickled_head(_: HostileRequest, connection: Connection) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX: " + b"a" * 5000:
        if not connection.send(bytes([byte])):
            return
        time.sleep(0.05)


def _bomb(_: HostileRequest, connection: Connection) -> None:
    connection.answer(
        200, gzip_bomb(128), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )


def _endless(_: HostileRequest, connection: Connection) -> None:
    connection.head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    connection.forever(b" " * 65536)


@pytest.mark.parametrize(
    ("behaviour", "code", "deadline"),
    [
        # The trickles must end on the deadline: a short one proves it without a long wait.
        (_trickle, "Timeout", 0.3),
        (_trickled_head, "Timeout", 0.3),
        # These must end on the size bound, well before a deadline a loaded machine cannot hit.
        (_bomb, "ResponseTooLarge", 1.5),
        (_endless, "ResponseTooLarge", 1.5),
    ],
    ids=["trickled-body", "trickled-headers", "gzip-bomb", "endless-body"],
)
def test_a_body_has_a_deadline_and_a_size_bound(
    monkeypatch, behaviour, code: str, deadline: float
) -> None:
    import tracemalloc

    gzip_bomb(128)
    monkeypatch.setattr(arm_module, "REQUEST_DEADLINE_SECONDS", deadline)
    monkeypatch.setattr(arm_module, "MAX_BODY_BYTES", 8 * 1024 * 1024)
    with HostileServer(behaviour) as server:
        tracemalloc.start()
        started = time.monotonic()
        with pytest.raises(ArmError) as caught:
            client_for(server).get(RESOURCE, API)
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert_arm_error(caught, code)
    assert seconds < 5
    assert peak < 64 * 1024 * 1024
