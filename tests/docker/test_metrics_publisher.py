"""docker/metrics_publisher.py against loopback fakes of vLLM's /metrics, AzureML's identity
endpoint and Azure Monitor's ingestion endpoint (tests/support/fake_monitor.py)."""

from __future__ import annotations

import importlib.util
import io
import math
import socket
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from lib import autoscale_rules
from tests.support import fake_monitor
from tests.support.fake_monitor import FAKE_SECRET, FAKE_TOKEN

ROOT = Path(__file__).resolve().parents[2]
RESOURCE = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/w/onlineEndpoints/e/deployments/blue"
)


def _load() -> ModuleType:
    # Not importable as a package (it lives in the build context); no bytecode is written there.
    spec = importlib.util.spec_from_file_location(
        "metrics_publisher", ROOT / "docker" / "metrics_publisher.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


publisher = _load()


def _config(monitor_fakes: dict[str, fake_monitor.LoopbackServer], **extra: str):
    environ = {
        "AZURE_METRICS_RESOURCE_ID": RESOURCE,
        "AZURE_METRICS_REGION": "eastus2",
        "MSI_ENDPOINT": monitor_fakes["identity"].url + "/msi/token",
        "MSI_SECRET": FAKE_SECRET,
        "AZURE_METRICS_SOURCE_URL": monitor_fakes["metrics"].url + "/metrics",
        "AZURE_METRICS_INGESTION_URL": monitor_fakes["ingestion"].url,
        **extra,
    }
    return publisher.config_from_environment(environ)


def _publisher(monitor_fakes, **extra: str):
    log = io.StringIO()
    return publisher.Publisher(_config(monitor_fakes, **extra), publisher.RateLimitedLog(log)), log


# --- What it sends -------------------------------------------------------------------------------


def test_names_match_what_the_rules_read() -> None:
    assert autoscale_rules.CUSTOM_NAMESPACE == publisher.NAMESPACE
    assert autoscale_rules.WAITING_METRIC in publisher.PUBLISHED
    assert autoscale_rules.RUNNING_METRIC in publisher.PUBLISHED
    # The image carries the publisher alone, so it spells the names itself; the dashboard reads
    # lib/autoscale_rules.py's copy.
    assert autoscale_rules.PUBLISHED_METRICS == publisher.PUBLISHED


def test_a_round_posts_each_metric_to_the_resource_with_a_monitoring_token(monitor_fakes) -> None:
    worker, _ = _publisher(monitor_fakes)
    assert worker.round(1000.0)
    (token_request,) = monitor_fakes["identity"].seen
    assert token_request.headers["secret"] == FAKE_SECRET
    assert token_request.query["api-version"] == ["2017-09-01"]
    assert token_request.query["resource"] == ["https://monitoring.azure.com/"]
    posts = monitor_fakes["ingestion"].seen
    # First round: the gauges only (rates and TTFT need a previous reading).
    assert [p.body["data"]["baseData"]["metric"] for p in posts] == [
        "requests_waiting",
        "requests_running",
        "kv_cache_usage_percent",
    ]
    for post in posts:
        assert post.method == "POST"
        assert post.path == RESOURCE + "/metrics"
        assert post.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
        base = post.body["data"]["baseData"]
        assert base["namespace"] == "vllm"
        assert base["dimNames"] == ["instance"]
        (series,) = base["series"]
        assert series["count"] == 1 and series["min"] == series["max"] == series["sum"]
        assert series["dimValues"] == [worker.config.instance]
        assert post.body["time"].endswith("Z")
    values = {
        p.body["data"]["baseData"]["metric"]: p.body["data"]["baseData"]["series"][0]["sum"]
        for p in posts
    }
    assert values == {"requests_waiting": 1, "requests_running": 3, "kv_cache_usage_percent": 25}


def test_second_round_adds_rates_success_and_ttft_from_deltas(monitor_fakes) -> None:
    worker, _ = _publisher(monitor_fakes)
    worker.round(1000.0)
    monitor_fakes["metrics"].payload = fake_monitor.vllm_text(
        prompt_tokens=7000, generation_tokens=17000, succeeded=16, ttft_counts=(0, 4, 19, 20, 20)
    ).encode()
    monitor_fakes["ingestion"].seen.clear()
    assert worker.round(1060.0)
    values = {
        p.body["data"]["baseData"]["metric"]: p.body["data"]["baseData"]["series"][0]["sum"]
        for p in monitor_fakes["ingestion"].seen
    }
    assert values["prompt_tokens_per_second"] == pytest.approx(100.0)
    assert values["generation_tokens_per_second"] == pytest.approx(200.0)
    assert values["requests_succeeded"] == 6
    # The ten new observations all fell in (0.5, 1.0]: p50 and p90 interpolate inside it.
    assert values["ttft_p50_seconds"] == pytest.approx(0.75)
    assert values["ttft_p90_seconds"] == pytest.approx(0.95)
    # The token was cached: one identity call for both rounds.
    assert len(monitor_fakes["identity"].seen) == 1


# --- Prometheus text edge cases ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('vllm:num_requests_running{model_name="a",engine="0"} 4', 4.0),
        ("vllm:num_requests_running 4", 4.0),
        ('vllm:num_requests_running{model_name="a \\"quoted\\" , {brace}"} 2', 2.0),
        ('vllm:num_requests_running{model_name="a"} 1.5e1 1700000000000', 15.0),
        ('vllm:num_requests_running{model_name="a"} NaN', None),
        ('vllm:num_requests_running{model_name="a"} +Inf', None),
        ('vllm:num_requests_running{model_name="a"}', None),
        ('vllm:num_requests_running{model_name="a} 3', None),
        ("vllm:num_requests_running{model_name=a} 3", None),
        ("# vllm:num_requests_running 3", None),
        ("vllm:num_requests_running four", None),
    ],
)
def test_prometheus_lines(line: str, expected: float | None) -> None:
    samples = publisher.parse(line + "\n", ("vllm:num_requests_running",))
    found = [value for _, value in samples.get("vllm:num_requests_running", [])]
    assert found == ([] if expected is None else [expected])


def test_engines_are_summed_and_kv_cache_averaged() -> None:
    text = "\n".join(
        [
            'vllm:num_requests_running{engine="0"} 3',
            'vllm:num_requests_running{engine="1"} 5',
            'vllm:kv_cache_usage_perc{engine="0"} 0.2',
            'vllm:kv_cache_usage_perc{engine="1"} 0.6',
        ]
    )
    gauges = publisher.read(text, 0.0).gauges
    assert gauges["requests_running"] == 8
    assert gauges["kv_cache_usage_percent"] == pytest.approx(40.0)


def test_renamed_kv_cache_metric_of_older_vllm_is_read_and_the_new_name_wins() -> None:
    old = fake_monitor.vllm_text(kv=0.5, kv_name="vllm:gpu_cache_usage_perc")
    assert publisher.read(old, 0.0).gauges["kv_cache_usage_percent"] == pytest.approx(50.0)
    both = old + 'vllm:kv_cache_usage_perc{engine="0"} 0.1\n'
    assert publisher.read(both, 0.0).gauges["kv_cache_usage_percent"] == pytest.approx(10.0)


def test_missing_metrics_publish_what_is_there() -> None:
    reading = publisher.read('vllm:num_requests_waiting{engine="0"} 2\n', 0.0)
    assert publisher.values(None, reading) == {"requests_waiting": 2}
    assert publisher.values(None, publisher.read("", 0.0)) == {}


def test_counter_reset_after_a_vllm_restart_publishes_no_rate() -> None:
    before = publisher.read(fake_monitor.vllm_text(prompt_tokens=9000, succeeded=50), 0.0)
    after = publisher.read(
        fake_monitor.vllm_text(prompt_tokens=10, succeeded=1, ttft_counts=(0, 0, 1, 1, 1)), 60.0
    )
    out = publisher.values(before, after)
    assert "prompt_tokens_per_second" not in out and "requests_succeeded" not in out
    assert "ttft_p50_seconds" not in out  # bucket counts went down too


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        ({0.1: 0, 0.5: 10, math.inf: 10}, 0.5, 0.3),
        ({0.1: 0, 0.5: 10, math.inf: 20}, 0.9, 0.5),  # rank in +Inf: the highest finite bound
        ({0.1: 0, math.inf: 0}, 0.5, None),
        ({}, 0.5, None),
        ({1.0: 4, math.inf: 4}, 0.5, 0.5),
    ],
)
def test_quantile(buckets: dict[float, float], q: float, expected: float | None) -> None:
    result = publisher.quantile(buckets, q)
    assert result == (None if expected is None else pytest.approx(expected))


def test_huge_histogram_is_summed_and_a_cut_off_scrape_still_yields_the_gauges(
    monitor_fakes,
) -> None:
    # 150,000 bucket lines (~10 MiB): more than the publisher reads; the gauges come first.
    gauges = 'vllm:num_requests_running{engine="0"} 7\nvllm:num_requests_waiting{engine="0"} 0\n'
    buckets = "".join(
        f'vllm:time_to_first_token_seconds_bucket{{engine="{i % 50}",le="{(i // 50) / 100}"}} {i}\n'
        for i in range(150_000)
    )
    monitor_fakes["metrics"].payload = (gauges + buckets).encode()
    assert len(monitor_fakes["metrics"].payload) > publisher.MAX_SCRAPE_BYTES
    worker, _ = _publisher(monitor_fakes)
    reading = worker.scrape(0.0)
    assert reading.gauges["requests_running"] == 7
    assert 0 < len(reading.ttft) < 4000


# --- Failure handling ----------------------------------------------------------------------------


def test_vllm_down_publishes_nothing_and_retries_next_interval(monitor_fakes) -> None:
    monitor_fakes["metrics"].stop()
    worker, log = _publisher(monitor_fakes)
    assert not worker.round(100.0)
    assert worker.next_round == 160.0
    assert not monitor_fakes["ingestion"].seen and not monitor_fakes["identity"].seen
    for second in range(160, 400, 60):
        worker.round(float(second))
    # Five failed reads in four minutes, one line: the log is rate-limited.
    assert log.getvalue().count("metrics-publisher:") == 1


def test_a_trickled_answer_is_given_up_at_the_request_deadline(
    monitor_fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A byte every 0.1 s keeps each socket read inside its timeout; only an overall deadline on
    # the body ends it (a server could otherwise hold the publisher for ever).
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def trickle() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                connection.sendall(b"#")
            except OSError:
                break
            stop.wait(0.1)
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    monkeypatch.setattr(publisher, "HTTP_TIMEOUT_SECONDS", 0.5)
    port = server.getsockname()[1]
    worker, _ = _publisher(
        monitor_fakes, AZURE_METRICS_SOURCE_URL=f"http://127.0.0.1:{port}/metrics"
    )
    started = time.monotonic()
    try:
        with pytest.raises(publisher.PublishError, match="failed"):
            worker.scrape(0.0)
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_ingestion_errors_back_off_up_to_the_bound_and_recover(monitor_fakes) -> None:
    monitor_fakes["ingestion"].default_status = 503
    worker, log = _publisher(monitor_fakes)
    now, delays = 0.0, []
    for _ in range(8):
        assert not worker.round(now)
        delays.append(worker.next_round - now)
        now = worker.next_round
    assert delays[:4] == [120.0, 240.0, 480.0, 600.0]
    assert max(delays) == publisher.MAX_BACKOFF_SECONDS
    monitor_fakes["ingestion"].default_status = 200
    assert worker.round(now)
    assert worker.next_round == now + 60
    assert "publishing again" in log.getvalue()


def test_unauthorized_drops_the_token_and_fetches_a_new_one(monitor_fakes) -> None:
    monitor_fakes["ingestion"].statuses = [401]
    worker, _ = _publisher(monitor_fakes)
    assert not worker.round(0.0)
    assert worker.round(worker.next_round)
    assert len(monitor_fakes["identity"].seen) == 2


def test_identity_failure_is_reported_without_the_secret(monitor_fakes) -> None:
    monitor_fakes["identity"].default_status = 500
    worker, log = _publisher(monitor_fakes)
    assert not worker.round(0.0)
    assert not monitor_fakes["ingestion"].seen
    assert "HTTP 500" in log.getvalue()


def test_logs_never_carry_the_token_or_the_secret(monitor_fakes) -> None:
    monitor_fakes["ingestion"].statuses = [401, 500, 403]
    worker, log = _publisher(monitor_fakes)
    log_every = publisher.RateLimitedLog(log, every=0)
    worker.log = log_every
    for second in range(0, 3000, 60):
        worker.round(float(second))
    text = log.getvalue() + repr(worker.config)
    assert text  # something was logged
    assert FAKE_TOKEN not in text and FAKE_SECRET not in text


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"AZURE_METRICS_INGESTION_URL": "http://example.com"}, "non-https"),
        ({"AZURE_METRICS_SOURCE_URL": "http://10.0.0.1:8000/metrics"}, "non-https"),
        ({"AZURE_METRICS_RESOURCE_ID": "not-an-id"}, "ARM id"),
        ({"AZURE_METRICS_REGION": "east us 2; rm"}, "region"),
        ({"MSI_SECRET": ""}, "MSI_ENDPOINT"),
    ],
)
def test_bad_configuration_is_refused(monitor_fakes, extra: dict[str, str], fragment: str) -> None:
    with pytest.raises(publisher.PublishError, match=fragment):
        _config(monitor_fakes, **extra)


def test_identity_endpoint_and_header_are_preferred_as_azure_identity_does(monitor_fakes) -> None:
    # Where the platform sets both pairs, IDENTITY_ENDPOINT/IDENTITY_HEADER win (azure-identity's
    # ManagedIdentityCredential order), with their own header, api-version and client id name.
    worker, _ = _publisher(
        monitor_fakes,
        IDENTITY_ENDPOINT=monitor_fakes["identity"].url + "/identity/token",
        IDENTITY_HEADER="identity-header-secret-987",
        UAI_CLIENT_ID="11111111-2222-3333-4444-555555555555",
    )
    assert worker.round(1000.0)
    (token_request,) = monitor_fakes["identity"].seen
    assert token_request.path == "/identity/token"
    assert token_request.headers["x-identity-header"] == "identity-header-secret-987"
    assert "secret" not in token_request.headers
    assert token_request.query["api-version"] == ["2019-08-01"]
    assert token_request.query["client_id"] == ["11111111-2222-3333-4444-555555555555"]
    assert "identity-header-secret-987" not in repr(worker.config)


def test_the_msi_pair_names_a_user_assigned_identity_as_clientid(monitor_fakes) -> None:
    worker, _ = _publisher(monitor_fakes, UAI_CLIENT_ID="11111111-2222-3333-4444-555555555555")
    assert worker.round(1000.0)
    (token_request,) = monitor_fakes["identity"].seen
    assert token_request.query["clientid"] == ["11111111-2222-3333-4444-555555555555"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        # AzureML's sidecar: plain http on a private address (ADR 0025).
        ("http://10.0.0.4:8911/v1/token/msi/xds", True),
        ("http://169.254.169.254/metadata/identity/oauth2/token", True),
        ("http://127.0.0.1:8911/token", True),
        ("https://identity.example.net/token", True),
        # The secret in the clear across the internet, or to a name that could resolve anywhere.
        ("http://20.42.0.1/token", False),
        ("http://identity.example.net/token", False),
        ("ftp://10.0.0.4/token", False),
    ],
)
def test_the_identity_source_may_be_private_http_but_never_public_http(
    monitor_fakes, url: str, allowed: bool
) -> None:
    if allowed:
        assert _config(monitor_fakes, MSI_ENDPOINT=url).identity.url == url
    else:
        with pytest.raises(publisher.PublishError, match="refusing the identity source") as error:
            _config(monitor_fakes, MSI_ENDPOINT=url)
        assert FAKE_SECRET not in str(error.value)


def test_interval_is_bounded() -> None:
    base = {
        "AZURE_METRICS_RESOURCE_ID": RESOURCE,
        "AZURE_METRICS_REGION": "eastus2",
        "MSI_ENDPOINT": "http://127.0.0.1:1/msi",
        "MSI_SECRET": "x",
    }
    for given, expected in (
        ("1", 10.0),
        ("nan", 60.0),
        ("99999", 600.0),
        ("junk", 60.0),
        ("60", 60.0),
    ):
        config = publisher.config_from_environment(
            {**base, "AZURE_METRICS_INTERVAL_SECONDS": given}
        )
        assert config.interval == expected
    assert config.ingestion_url == f"https://eastus2.monitoring.azure.com{RESOURCE}/metrics"


def test_run_stops_when_the_watched_parent_is_gone(monitor_fakes) -> None:
    worker, _ = _publisher(monitor_fakes, AZURE_METRICS_WATCH_PID="1")  # never this test's parent
    assert worker.run(clock=lambda: 0.0, sleep=lambda _: pytest.fail("must not loop")) == 0


def test_the_program_the_entrypoint_and_the_publisher_agree_on_the_variables() -> None:
    from lib import metrics_environment

    source = (ROOT / "docker" / "metrics_publisher.py").read_text()
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for name in (
        metrics_environment.RESOURCE_ID,
        metrics_environment.REGION,
        metrics_environment.INTERVAL_SECONDS,
    ):
        assert f'"{name}"' in source
    assert "${" + metrics_environment.RESOURCE_ID + ":-}" in entrypoint
