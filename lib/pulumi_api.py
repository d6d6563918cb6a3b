"""Every private Pulumi SDK API the project uses, behind one module.

The public SDK has no way to read the whole configuration map, run a program under mocks and wait
for it, or reset the runtime between runs, so settings, the offline harness (tools/offline.py), the
test harness and runtime detection use these internals (and the policy test the analyzer's gRPC
messages). Importing them here, and only here, means a
Pulumi SDK bump that moves one of them breaks in one known place; tests/lib/test_pulumi_api.py
imports this module, so the suite fails at once.

Checked against pulumi 3.272.0 (requirements.txt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pulumi.runtime
from pulumi.runtime import rpc
from pulumi.runtime.config import CONFIG
from pulumi.runtime.mocks import MockMonitor

# The policy analyzer's gRPC messages, for the test that talks to the policy pack as the engine does.
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi.runtime.settings import ROOT, SETTINGS, get_monitor, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")

# The placeholder Pulumi hands dynamic providers for values not known during a preview.
UNKNOWN = rpc.UNKNOWN

__all__ = [
    "UNKNOWN",
    "MockMonitor",
    "analyzer_pb2",
    "analyzer_pb2_grpc",
    "clear_pending_outputs",
    "config_entries",
    "deserialize_properties",
    "get_root_resource",
    "is_mock_monitor",
    "reset_root_stack",
    "run_program_function",
    "sync_await",
]


def config_entries() -> tuple[dict[str, str], set[str]]:
    """The running program's whole configuration (full key -> string value), and which of those
    keys are secret.

    ``pulumi.Config`` reads one known key at a time, so a typo in a stack file would pass
    unnoticed; the whole map comes from the same place pulumi.Config reads: the environment the
    CLI sets and the runtime's CONFIG (where mocks and ``set_all_config`` put it).
    """
    entries = {**pulumi.runtime.get_config_env(), **CONFIG.get()}
    secret_keys = {name for name in entries if pulumi.runtime.is_config_secret(name)} | set(
        pulumi.runtime.get_config_secret_keys_env()
    )
    return entries, secret_keys


def is_mock_monitor() -> bool:
    """Whether the engine is Pulumi's mock monitor (tests and the offline preview)."""
    return isinstance(get_monitor(), MockMonitor)


def sync_await(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the runtime's event loop (outside a running loop)."""
    return _sync_await(awaitable)


def run_program_function(program: Callable[[], Any]) -> None:
    """Run ``program`` as the Pulumi program and wait until every resource it declared is
    registered."""
    _sync_await(run_pulumi_func(program))


def reset_root_stack() -> None:
    """Forget the root stack resource: set_mocks makes a new one only when none is set, so without
    this a second run in one process would export onto the first run's stack."""
    ROOT.set(None)


def clear_pending_outputs() -> None:
    """Drop the outputs the runtime still tracks, so that one test's leftovers do not reach the
    next test's event loop."""
    # The SDK declares SETTINGS through a decorator pyright cannot follow; it is a Settings object.
    cast(Any, SETTINGS).outputs.clear()


def deserialize_properties(struct: Any, keep_internal: bool = False) -> Any:
    """A gRPC property struct as Python values (secrets as their wire signature objects)."""
    return rpc.deserialize_properties(struct, keep_internal=keep_internal)
