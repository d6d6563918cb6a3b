"""Fixtures for the container's scripts: loopback stand-ins for what the metrics publisher talks to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import fake_monitor


@pytest.fixture
def monitor_fakes() -> Iterator[dict[str, fake_monitor.LoopbackServer]]:
    """vLLM's /metrics, AzureML's managed-identity endpoint and Azure Monitor's ingestion, each a
    loopback server, stopped after the test."""
    servers = {
        "metrics": fake_monitor.vllm_metrics(fake_monitor.vllm_text()),
        "identity": fake_monitor.identity(),
        "ingestion": fake_monitor.ingestion(),
    }
    yield servers
    for server in servers.values():
        server.stop()
