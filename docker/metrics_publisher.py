#!/usr/bin/env python3
"""Publishes vLLM's load to Azure Monitor as custom metrics, from inside the deployment's container.

docker/entrypoint.sh starts it in the background just before it execs vLLM, when the deployment's
environment names a target (AZURE_METRICS_RESOURCE_ID); the stack setting
``deployments[].autoscale.publishMetrics: false`` leaves that variable out. Every
AZURE_METRICS_INTERVAL_SECONDS (60) it reads vLLM's Prometheus text at
http://127.0.0.1:8000/metrics and POSTs one point per metric, for this instance, to
``https://<AZURE_METRICS_REGION>.monitoring.azure.com/<AZURE_METRICS_RESOURCE_ID>/metrics``
(Azure Monitor custom metrics REST API, metrics-store-custom-rest-api.md), namespace ``vllm``,
dimension ``instance`` (the host name). The token (audience https://monitoring.azure.com/) comes
from the managed-identity source AzureML gives the container, read as azure-identity's
ManagedIdentityCredential reads it: IDENTITY_ENDPOINT with header ``X-IDENTITY-HEADER:
$IDENTITY_HEADER`` (api-version 2019-08-01) when both are set, else MSI_ENDPOINT with header
``secret: $MSI_SECRET`` (api-version 2017-09-01, its AzureMLCredential). That source is plain
http on a platform-internal address, not loopback. docs/adr/0025 explains the choices.

Standard library only, so the image keeps one thin layer without pip. It must never hurt vLLM: it
runs niced, reads at most a few MiB, gives up any request after a few seconds, backs off (bounded)
when Azure refuses, exits when vLLM exits, logs at most once per LOG_EVERY_SECONDS per kind of
trouble and never logs a token, a header or anything a request carried.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPResponse

NAMESPACE = "vllm"
INSTANCE_DIMENSION = "instance"
# What the publisher sends (namespace `vllm`), and what lib/autoscale_rules.py reads.
WAITING = "requests_waiting"
RUNNING = "requests_running"
KV_CACHE = "kv_cache_usage_percent"
TTFT_P50 = "ttft_p50_seconds"
TTFT_P90 = "ttft_p90_seconds"
PROMPT_RATE = "prompt_tokens_per_second"
GENERATION_RATE = "generation_tokens_per_second"
SUCCEEDED = "requests_succeeded"
PUBLISHED = (
    WAITING,
    RUNNING,
    KV_CACHE,
    TTFT_P50,
    TTFT_P90,
    PROMPT_RATE,
    GENERATION_RATE,
    SUCCEEDED,
)

# vLLM's metric names (vllm/v1/metrics/loggers.py). kv_cache_usage_perc replaced
# gpu_cache_usage_perc (deprecated in 0.9, removed later); both are read, newest first. Counters
# appear with the `_total` suffix prometheus_client adds.
SOURCE_WAITING = ("vllm:num_requests_waiting",)
SOURCE_RUNNING = ("vllm:num_requests_running",)
SOURCE_KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
SOURCE_TTFT = "vllm:time_to_first_token_seconds"
SOURCE_PROMPT = ("vllm:prompt_tokens_total", "vllm:prompt_tokens")
SOURCE_GENERATION = ("vllm:generation_tokens_total", "vllm:generation_tokens")
SOURCE_SUCCESS = ("vllm:request_success_total", "vllm:request_success")

AUDIENCE = "https://monitoring.azure.com/"
MSI_API_VERSION = "2017-09-01"
IDENTITY_API_VERSION = "2019-08-01"
MAX_SCRAPE_BYTES = 8 * 1024 * 1024  # vLLM's text is tens of KiB; anything this big is cut off
HTTP_TIMEOUT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0  # within the 20 minutes Azure Monitor accepts timestamps for
LOG_EVERY_SECONDS = 300.0
TOKEN_REFRESH_MARGIN_SECONDS = 300.0


class PublishError(Exception):
    """One round could not publish; ``kind`` keys the rate-limited log."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# --- Prometheus text -----------------------------------------------------------------------------


def _labels(text: str) -> dict[str, str] | None:
    """`a="x",b="y\\"z"` -> dict; None when malformed."""
    labels: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0 or eq + 1 >= n or text[eq + 1] != '"':
            return None
        name = text[i:eq].strip()
        i, value = eq + 2, []
        while i < n and text[i] != '"':
            if text[i] == "\\" and i + 1 < n:
                value.append({"n": "\n", "\\": "\\", '"': '"'}.get(text[i + 1], text[i + 1]))
                i += 2
            else:
                value.append(text[i])
                i += 1
        if i >= n:
            return None
        labels[name] = "".join(value)
        i += 1
    return labels


def parse(text: str, wanted: tuple[str, ...]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of the metrics whose names start with one of ``wanted``: name -> [(labels, value)].
    Malformed lines, NaN and infinite values are skipped, never fatal."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or not line.startswith(wanted):
            continue
        brace = line.find("{")
        if brace >= 0:
            close = line.rfind("}")
            if close < brace:
                continue
            name, labels = line[:brace], _labels(line[brace + 1 : close])
            rest = line[close + 1 :].split()
        else:
            parts = line.split()
            name, labels, rest = parts[0], {}, parts[1:]
        if labels is None or not rest:
            continue
        try:
            value = float(rest[0])
        except ValueError:
            continue
        if math.isfinite(value):
            out.setdefault(name, []).append((labels, value))
    return out


def _first(samples: dict, names: tuple[str, ...]) -> list[tuple[dict[str, str], float]] | None:
    for name in names:
        if name in samples:
            return samples[name]
    return None


def histogram(samples: dict, name: str) -> dict[float, float]:
    """Cumulative bucket counts by upper bound, summed over every label set (engines, models)."""
    buckets: dict[float, float] = {}
    for labels, value in samples.get(f"{name}_bucket", []):
        try:
            bound = float(labels.get("le", ""))
        except ValueError:
            continue
        if not math.isnan(bound):
            buckets[bound] = buckets.get(bound, 0.0) + value
    return buckets


def quantile(buckets: dict[float, float], q: float) -> float | None:
    """histogram_quantile over cumulative buckets: linear inside the bucket; the highest finite
    bound when the rank falls in +Inf; None with no observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                finite = [b for b in bounds if not math.isinf(b)]
                return finite[-1] if finite else None
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return None


@dataclass
class Reading:
    at: float
    gauges: dict[str, float]
    counters: dict[str, float]
    ttft: dict[float, float]


WANTED = (
    *SOURCE_WAITING,
    *SOURCE_RUNNING,
    *SOURCE_KV_CACHE,
    SOURCE_TTFT,
    *SOURCE_PROMPT,
    *SOURCE_GENERATION,
    *SOURCE_SUCCESS,
)


def read(text: str, at: float) -> Reading:
    samples = parse(text, WANTED)
    gauges: dict[str, float] = {}
    for published, names, combine in (
        (WAITING, SOURCE_WAITING, sum),
        (RUNNING, SOURCE_RUNNING, sum),
        # One value per engine: their mean is the instance's usage, as a percentage.
        (KV_CACHE, SOURCE_KV_CACHE, lambda values: 100 * sum(values) / len(values)),
    ):
        found = _first(samples, names)
        if found:
            gauges[published] = float(combine([value for _, value in found]))
    counters: dict[str, float] = {}
    for published, names in (
        (PROMPT_RATE, SOURCE_PROMPT),
        (GENERATION_RATE, SOURCE_GENERATION),
        (SUCCEEDED, SOURCE_SUCCESS),
    ):
        found = _first(samples, names)
        if found:
            counters[published] = sum(value for _, value in found)
    return Reading(at, gauges, counters, histogram(samples, SOURCE_TTFT))


def values(previous: Reading | None, current: Reading) -> dict[str, float]:
    """What to publish for one interval: the gauges now; rates, counts and TTFT percentiles from
    the change since the previous reading (nothing for them on the first reading or after vLLM
    restarted and its counters went back)."""
    out = dict(current.gauges)
    if previous is None:
        return out
    elapsed = current.at - previous.at
    for name, value in current.counters.items():
        before = previous.counters.get(name)
        if before is None or value < before or elapsed <= 0:
            continue
        out[name] = (value - before) if name == SUCCEEDED else (value - before) / elapsed
    delta = {b: c - previous.ttft.get(b, 0.0) for b, c in current.ttft.items()}
    if delta and all(c >= 0 for c in delta.values()):
        for name, q in ((TTFT_P50, 0.5), (TTFT_P90, 0.9)):
            result = quantile(delta, q)
            if result is not None:
                out[name] = result
    return out


# --- Azure ---------------------------------------------------------------------------------------


def _is_allowed_url(url: str) -> bool:
    """Azure endpoints over https; plain http only to this machine (vLLM, tests' fakes)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _is_allowed_identity_url(url: str) -> bool:
    """The identity source the platform set: https anywhere, or plain http to an address that
    cannot leave the host's network (loopback, link-local, private). AzureML's managed online
    deployments serve it over http from a sidecar on a private address (for example
    http://10.0.0.4:8911/v1/token/msi/xds in a deployment's azure-identity debug log, quoted in
    ADR 0025), so loopback alone would refuse the one source that exists. A public http host is
    refused: the identity secret would cross the internet in the clear."""
    if _is_allowed_url(url):
        return True
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return False  # a name could resolve anywhere
    return address.is_private or address.is_link_local  # is_private covers loopback


@dataclass(frozen=True)
class IdentitySource:
    """Where the token comes from and how to ask: the URL, the header carrying the platform's
    secret, the api-version and the name of the user-assigned client id parameter."""

    url: str
    header: str
    secret: str = field(repr=False)
    api_version: str
    client_id_parameter: str


def identity_from_environment(environ: dict[str, str]) -> IdentitySource | None:
    """The identity source in azure-identity's order: IDENTITY_ENDPOINT + IDENTITY_HEADER
    (api-version 2019-08-01, ``client_id``), then MSI_ENDPOINT + MSI_SECRET (AzureMLCredential:
    api-version 2017-09-01, header ``secret``, ``clientid``)."""
    endpoint, header = environ.get("IDENTITY_ENDPOINT", ""), environ.get("IDENTITY_HEADER", "")
    if endpoint and header:
        return IdentitySource(
            endpoint, "X-IDENTITY-HEADER", header, IDENTITY_API_VERSION, "client_id"
        )
    endpoint, secret = environ.get("MSI_ENDPOINT", ""), environ.get("MSI_SECRET", "")
    if endpoint and secret:
        return IdentitySource(endpoint, "secret", secret, MSI_API_VERSION, "clientid")
    return None


@dataclass
class Config:
    resource_id: str
    region: str
    identity: IdentitySource
    client_id: str = ""
    interval: float = 60.0
    source_url: str = "http://127.0.0.1:8000/metrics"
    ingestion_base: str = ""
    watch_pid: int = 0
    instance: str = ""

    @property
    def ingestion_url(self) -> str:
        base = self.ingestion_base or f"https://{self.region}.monitoring.azure.com"
        return base.rstrip("/") + "/" + self.resource_id.strip("/") + "/metrics"


def config_from_environment(environ: dict[str, str]) -> Config:
    """Read the configuration; a PublishError names what is missing or refused."""
    resource = environ.get("AZURE_METRICS_RESOURCE_ID", "").strip()
    region = environ.get("AZURE_METRICS_REGION", "").strip().lower().replace(" ", "")
    if not resource.startswith("/subscriptions/") or not region.isalnum():
        raise PublishError(
            "config",
            "AZURE_METRICS_RESOURCE_ID must be an ARM id and AZURE_METRICS_REGION a region",
        )
    identity = identity_from_environment(environ)
    if identity is None:
        raise PublishError(
            "config",
            "no IDENTITY_ENDPOINT/IDENTITY_HEADER or MSI_ENDPOINT/MSI_SECRET: not inside an "
            "AzureML deployment",
        )
    try:
        interval = float(environ.get("AZURE_METRICS_INTERVAL_SECONDS", "60"))
    except ValueError:
        interval = 60.0
    config = Config(
        resource_id=resource,
        region=region,
        identity=identity,
        client_id=environ.get("UAI_CLIENT_ID", ""),
        # At least 10 s (vLLM updates its gauges about every second) and at most 10 minutes.
        interval=min(600.0, max(10.0, interval if math.isfinite(interval) else 60.0)),
        source_url=environ.get("AZURE_METRICS_SOURCE_URL", "http://127.0.0.1:8000/metrics"),
        ingestion_base=environ.get("AZURE_METRICS_INGESTION_URL", ""),
        watch_pid=int(environ.get("AZURE_METRICS_WATCH_PID", "0") or 0),
        instance=socket.gethostname()[:256],
    )
    for url in (config.source_url, config.ingestion_url):
        if not _is_allowed_url(url):
            raise PublishError("config", "refusing a non-https URL outside this machine")
    if not _is_allowed_identity_url(identity.url):
        host = urllib.parse.urlsplit(identity.url).hostname or "?"
        raise PublishError(
            "config", f"refusing the identity source at {host[:64]}: http only to a private address"
        )
    return config


def _http(request: urllib.request.Request, limit: int) -> tuple[int, bytes]:
    # The socket timeout bounds each read, not the whole answer: a server sending a byte every
    # few seconds would hold the publisher for ever. So the body also has an overall deadline.
    deadline = time.monotonic() + HTTP_TIMEOUT_SECONDS
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked in Config
            return response.status, _read_by(response, limit, deadline)
    except urllib.error.HTTPError as error:
        return error.code, b""
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise PublishError(
            "network", f"{request.get_method()} failed: {type(error).__name__}"
        ) from None


def _read_by(response: HTTPResponse, limit: int, deadline: float) -> bytes:
    """At most ``limit`` bytes of the body, in chunks, giving up at ``deadline``."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        if time.monotonic() > deadline:
            raise OSError("the answer took longer than the request deadline")
        chunk = response.read1(min(64 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class TokenSource:
    """AzureML's managed-identity endpoint, cached until five minutes before expiry."""

    def __init__(self, config: Config):
        self.config = config
        self._token = ""
        self._expires = 0.0

    def clear(self) -> None:
        self._token, self._expires = "", 0.0

    def get(self, now: float) -> str:
        if self._token and now < self._expires - TOKEN_REFRESH_MARGIN_SECONDS:
            return self._token
        identity = self.config.identity
        query = {"api-version": identity.api_version, "resource": AUDIENCE}
        if self.config.client_id:
            query[identity.client_id_parameter] = self.config.client_id
        url = identity.url + "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers={identity.header: identity.secret})  # noqa: S310
        status, body = _http(request, 64 * 1024)
        if status != 200:
            raise PublishError("identity", f"identity endpoint answered HTTP {status}")
        try:
            answer = json.loads(body)
            token = str(answer["access_token"])
        except (ValueError, KeyError, TypeError):
            raise PublishError("identity", "identity endpoint sent no access_token") from None
        self._token, self._expires = token, _expiry(answer, now)
        return token


def _expiry(answer: dict, now: float) -> float:
    """expires_on is epoch seconds (as a number or a string) in most answers; some give only
    expires_in. Without either, assume the shortest lifetime Entra issues (one hour)."""
    for key, relative in (("expires_on", False), ("expires_in", True)):
        try:
            value = float(answer[key])
        except (KeyError, TypeError, ValueError):
            continue
        return now + value if relative else value
    return now + 3600


def body(name: str, value: float, instance: str, stamp: float) -> bytes:
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
    point = {"dimValues": [instance], "min": value, "max": value, "sum": value, "count": 1}
    return json.dumps(
        {
            "time": moment,
            "data": {
                "baseData": {
                    "metric": name,
                    "namespace": NAMESPACE,
                    "dimNames": [INSTANCE_DIMENSION],
                    "series": [point],
                }
            },
        }
    ).encode()


class RateLimitedLog:
    """At most one line per kind every LOG_EVERY_SECONDS, with how many were held back."""

    def __init__(self, stream=sys.stderr, every: float = LOG_EVERY_SECONDS):
        self.stream, self.every = stream, every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, kind: str, message: str, now: float) -> None:
        if now - self._last.get(kind, -math.inf) < self.every:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        suffix = f" ({held} more like this since the last message)" if held else ""
        self.stream.write(f"metrics-publisher: {message}{suffix}\n")
        self.stream.flush()
        self._last[kind] = now


class Publisher:
    """One scrape-and-publish round at a time; :meth:`run` loops until vLLM exits."""

    def __init__(self, config: Config, log: RateLimitedLog | None = None):
        self.config = config
        self.log = log or RateLimitedLog()
        self.tokens = TokenSource(config)
        self.previous: Reading | None = None
        self.failures = 0
        self.next_round = 0.0
        self.published = 0

    def scrape(self, now: float) -> Reading:
        request = urllib.request.Request(self.config.source_url)  # noqa: S310
        status, text = _http(request, MAX_SCRAPE_BYTES)
        if status != 200:
            raise PublishError("scrape", f"vLLM /metrics answered HTTP {status}")
        # A cut-off last line is skipped by the parser like any malformed line.
        return read(text.decode("utf-8", "replace"), now)

    def send(self, points: dict[str, float], now: float) -> None:
        token = self.tokens.get(now)
        for name in PUBLISHED:
            if name not in points:
                continue
            request = urllib.request.Request(  # noqa: S310
                self.config.ingestion_url,
                data=body(name, points[name], self.config.instance, now),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="POST",
            )
            status, _ = _http(request, 4096)
            if status == 401:
                self.tokens.clear()  # expired or revoked: fetch a new one next round
            if status >= 300:
                raise PublishError("ingest", f"Azure Monitor answered HTTP {status} for {name}")
            self.published += 1

    def round(self, now: float) -> bool:
        """Scrape and publish once; False when this round failed (and the next is delayed)."""
        try:
            current = self.scrape(now)
        except PublishError as error:
            # vLLM is still loading, restarting or gone: nothing to publish, no backoff needed.
            self.previous = None
            self.log(error.kind, f"{error}; will read again", now)
            self.next_round = now + self.config.interval
            return False
        points = values(self.previous, current)
        self.previous = current
        try:
            self.send(points, now)
        except PublishError as error:
            self.failures += 1
            backoff = min(MAX_BACKOFF_SECONDS, self.config.interval * 2 ** min(self.failures, 10))
            self.log(error.kind, f"{error}; next try in {backoff:.0f} s", now)
            self.next_round = now + backoff
            return False
        if self.failures:
            self.log("recovered", "publishing again", now)
        self.failures = 0
        self.next_round = now + self.config.interval
        return True

    def parent_alive(self) -> bool:
        # Started by the entrypoint, which then execs vLLM in the same process: while vLLM runs
        # it is this process's parent. Once vLLM exits the publisher is re-parented.
        return not self.config.watch_pid or os.getppid() == self.config.watch_pid

    def run(self, clock=time.time, sleep=time.sleep) -> int:
        while self.parent_alive():
            now = clock()
            if now >= self.next_round:
                self.round(now)
            sleep(min(1.0, max(0.0, self.next_round - clock())))
        return 0


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(OSError):
        os.nice(10)  # vLLM's API server shares the CPU: it comes first
    log = RateLimitedLog()
    try:
        config = config_from_environment(dict(os.environ))
    except PublishError as error:
        log(error.kind, f"not publishing: {error}", time.time())
        return 0
    log("start", f"publishing every {config.interval:.0f} s to {config.region}", time.time())
    return Publisher(config, log).run()


if __name__ == "__main__":
    sys.exit(main())
