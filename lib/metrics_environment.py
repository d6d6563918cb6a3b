"""The deployment environment variables that switch on and aim the in-container metrics
publisher (docker/metrics_publisher.py, started by docker/entrypoint.sh when the first is set).

Kept in one place so that the program, the entrypoint and the publisher agree on the names
(tests/docker/test_metrics_publisher.py reads them back from both files)."""

from __future__ import annotations

import pulumi

RESOURCE_ID = "AZURE_METRICS_RESOURCE_ID"
REGION = "AZURE_METRICS_REGION"
INTERVAL_SECONDS = "AZURE_METRICS_INTERVAL_SECONDS"


def publisher_environment(
    resource_id: pulumi.Input[str], region: str, interval_seconds: int
) -> dict[str, pulumi.Input[str]]:
    """Publish to ``resource_id`` (the deployment's ARM id, docs/adr/0025) through the ingestion
    endpoint of ``region`` (the resource's own region, as the API requires) every
    ``interval_seconds``."""
    return {
        RESOURCE_ID: resource_id,
        REGION: region,
        INTERVAL_SECONDS: str(interval_seconds),
    }
